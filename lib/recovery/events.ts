import { EventEmitter } from 'node:events';
import type TypedEmitterModule from 'typed-emitter';
import type { BreakerState } from '../native/breaker-counters.js';

/** Fields every recovery event carries. */
export interface RecoveryEventBase {
  /** Backend the event is about. */
  backend: string;
  /** 1-based attempt number within one executeRoute call (0 for breaker transitions outside a request). */
  attempt: number;
  /** Short machine-readable reason, e.g. `http_503`, `timeout_first_token`, `cut`. */
  reason: string;
}

export interface RetryEvent extends RecoveryEventBase {
  /** How long the retry waits before the next attempt on the same backend. */
  delayMs: number;
}
export interface FallbackEvent extends RecoveryEventBase {
  /** Backend tried next. */
  to: string;
}
export interface BreakerEvent extends RecoveryEventBase {
  from: BreakerState;
  to: BreakerState;
  /** For `breaker:open`: how long the breaker stays open before admitting probes. */
  openMs?: number;
}
export interface MidStreamFailoverEvent extends RecoveryEventBase {
  to: string;
  /** Characters already delivered to the caller when the stream broke. */
  deliveredChars: number;
  /** How the next target continues: `prefill`, `regenerate` or `none` (stream ended with an error). */
  mode: 'prefill' | 'regenerate' | 'none';
}
export interface ResumeEvent extends RecoveryEventBase {
  /** Stream session id being resumed. */
  streamId: string;
  /** Client's last seen seq (-1 = from the start). */
  afterSeq: number;
}

export type RecoveryEvents = {
  retry: (event: RetryEvent) => void;
  fallback: (event: FallbackEvent) => void;
  'breaker:open': (event: BreakerEvent) => void;
  'breaker:half-open': (event: BreakerEvent) => void;
  'breaker:close': (event: BreakerEvent) => void;
  'failover:mid-stream': (event: MidStreamFailoverEvent) => void;
  resume: (event: ResumeEvent) => void;
};

// typed-emitter is a CommonJS declaration: under NodeNext its default export sits on `.default`.
export type RecoveryEmitter = TypedEmitterModule.default<RecoveryEvents>;

/** A typed emitter for recovery events (metrics and logs subscribe to it). */
export function createRecoveryEmitter(): RecoveryEmitter {
  return new EventEmitter() as RecoveryEmitter;
}

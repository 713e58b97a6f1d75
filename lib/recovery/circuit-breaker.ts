import type { BreakerCounters, BreakerSnapshot, BreakerState } from '../native/breaker-counters.js';
import type { RecoveryEmitter } from './events.js';
import { requireInteger, requireNumber } from './validate.js';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker (default 5). */
  consecutiveFailures?: number;
  /** Failure share (failures + timeouts over all outcomes) within `windowMs` that opens it (default 0.5). */
  errorRate?: number;
  /** Length of the error-rate window in ms (default 10000); the native counters are created with this window. */
  windowMs?: number;
  /** Outcomes needed in the window before `errorRate` is judged (default 20). */
  minRequests?: number;
  /** How long the first opening lasts before probes are admitted, in ms (default 30000). */
  openMs?: number;
  /** Each further opening without a close in between multiplies the open time by this (default 2). */
  openGrowth?: number;
  /** Upper bound of the open time, in ms (default 300000). */
  maxOpenMs?: number;
  /** Probes admitted concurrently while half-open (default 1). */
  halfOpenProbes?: number;
}

export type Admission =
  | { admitted: true; probe: boolean }
  /** `retryInMs`: time until this breaker admits a probe. */
  | { admitted: false; retryInMs: number };

/** Serializable state for /health. */
export interface BreakerHealth {
  state: BreakerState;
  openings: number;
  consecutiveFailures: number;
  window: { success: number; failure: number; timeout: number };
  probesInFlight: number;
  /** ms until probes are admitted (open state only). */
  retryInMs?: number;
}

/**
 * Breaker policy for one backend over one slot of the shared native counters. Every state change is
 * a compare-and-swap on the counters, so many workers (threads or processes) agree on one state and
 * exactly one of them reports each transition.
 */
export class CircuitBreaker {
  readonly consecutiveFailures: number;
  readonly errorRate: number;
  readonly windowMs: number;
  readonly minRequests: number;
  readonly openMs: number;
  readonly openGrowth: number;
  readonly maxOpenMs: number;
  readonly halfOpenProbes: number;

  constructor(
    readonly backend: string,
    private readonly counters: BreakerCounters,
    private readonly slot: number,
    opts: CircuitBreakerOptions = {},
    private readonly events?: RecoveryEmitter,
    private readonly now: () => number = Date.now,
  ) {
    const o = 'CircuitBreaker';
    this.consecutiveFailures = requireInteger(o, 'consecutiveFailures', opts.consecutiveFailures ?? 5, 1);
    this.errorRate = requireNumber(o, 'errorRate', opts.errorRate ?? 0.5, 0.01, 1);
    this.windowMs = requireInteger(o, 'windowMs', opts.windowMs ?? 10_000, 10);
    this.minRequests = requireInteger(o, 'minRequests', opts.minRequests ?? 20, 1);
    this.openMs = requireInteger(o, 'openMs', opts.openMs ?? 30_000, 1);
    this.openGrowth = requireNumber(o, 'openGrowth', opts.openGrowth ?? 2, 1, 100);
    this.maxOpenMs = requireInteger(o, 'maxOpenMs', opts.maxOpenMs ?? Math.max(300_000, this.openMs), this.openMs);
    this.halfOpenProbes = requireInteger(o, 'halfOpenProbes', opts.halfOpenProbes ?? 1, 1, 1000);
  }

  /** Open time for the n-th opening in a row (1-based), growing geometrically up to maxOpenMs. */
  openDurationMs(openings: number): number {
    return Math.min(this.maxOpenMs, this.openMs * this.openGrowth ** Math.max(0, Math.min(openings - 1, 64)));
  }

  /** When an open breaker admits its next probe (ms, this breaker's clock). */
  private probeAt(snap: BreakerSnapshot): number {
    return snap.openedAtMs + this.openDurationMs(snap.openings);
  }

  /** Asks to send a request. A probe admission must be followed by onSuccess/onFailure with probe = true. */
  admit(): Admission {
    const now = this.now();
    const snap = this.counters.snapshot(this.slot, now);
    if (snap.state === 'closed') return { admitted: true, probe: false };
    if (snap.state === 'open') {
      const probeAt = this.probeAt(snap);
      if (now < probeAt) return { admitted: false, retryInMs: probeAt - now };
      if (this.counters.transition(this.slot, 'open', 'half-open', now)) {
        this.emit('breaker:half-open', 'open', 'half-open', 'open_elapsed');
      }
    }
    if (this.counters.tryAcquireProbe(this.slot, this.halfOpenProbes)) return { admitted: true, probe: true };
    // A probe is out and its answer decides; until then the soonest useful retry is a short while away.
    const again = this.counters.snapshot(this.slot, now);
    if (again.state === 'closed') return { admitted: true, probe: false };
    if (again.state === 'open') {
      return { admitted: false, retryInMs: Math.max(1, this.probeAt(again) - now) };
    }
    return { admitted: false, retryInMs: 1000 };
  }

  onSuccess(probe: boolean): void {
    const now = this.now();
    this.counters.record(this.slot, 'success', now);
    if (!probe) return;
    this.counters.releaseProbe(this.slot);
    if (this.counters.transition(this.slot, 'half-open', 'closed', now)) {
      this.emit('breaker:close', 'half-open', 'closed', 'probe_succeeded');
    }
  }

  /**
   * @param outcome `timeout` for a provider that did not answer in time, `failure` otherwise
   * @param reason short reason for the event (e.g. `http_503`)
   */
  onFailure(probe: boolean, outcome: 'failure' | 'timeout', reason: string): void {
    const now = this.now();
    this.counters.record(this.slot, outcome, now);
    if (probe) {
      this.counters.releaseProbe(this.slot);
      if (this.counters.transition(this.slot, 'half-open', 'open', now)) {
        this.emitOpen('half-open', `probe_failed:${reason}`);
      }
      return;
    }
    const snap = this.counters.snapshot(this.slot, now);
    if (snap.state !== 'closed') return;
    const total = snap.window.success + snap.window.failure + snap.window.timeout;
    const failed = snap.window.failure + snap.window.timeout;
    let why: string | undefined;
    if (snap.consecutiveFailures >= this.consecutiveFailures) why = `consecutive_failures:${reason}`;
    else if (total >= this.minRequests && failed / total >= this.errorRate) why = `error_rate:${reason}`;
    if (why && this.counters.transition(this.slot, 'closed', 'open', now)) this.emitOpen('closed', why);
  }

  /** A request that was admitted as a probe but never reached the backend (e.g. the caller aborted). */
  releaseUnused(probe: boolean): void {
    if (probe) this.counters.releaseProbe(this.slot);
  }

  health(): BreakerHealth {
    const now = this.now();
    const s = this.counters.snapshot(this.slot, now);
    const h: BreakerHealth = {
      state: s.state,
      openings: s.openings,
      consecutiveFailures: s.consecutiveFailures,
      window: { ...s.window },
      probesInFlight: s.probesInFlight,
    };
    if (s.state === 'open') h.retryInMs = Math.max(0, this.probeAt(s) - now);
    return h;
  }

  private emitOpen(from: BreakerState, reason: string): void {
    const snap = this.counters.snapshot(this.slot, this.now());
    this.events?.emit('breaker:open', {
      backend: this.backend,
      attempt: 0,
      reason,
      from,
      to: 'open',
      openMs: this.openDurationMs(snap.openings),
    });
  }

  private emit(name: 'breaker:half-open' | 'breaker:close', from: BreakerState, to: BreakerState, reason: string): void {
    this.events?.emit(name, { backend: this.backend, attempt: 0, reason, from, to });
  }
}

/**
 * `recovery`: retries, circuit breakers, mid-stream failover and stream sessions (docs/recovery.md).
 * Owned by the recovery module; every key has a default so an absent section is valid.
 */
import type { ConfigReader } from '../reader.js';
import type { ConfigSection } from '../registry.js';

export interface RecoveryRetryConfig {
  /** Attempts per target including the first. Default 3. */
  maxAttempts: number;
  /** Backoff base: the first retry waits up to this long. Default 200. */
  baseDelayMs: number;
  /** Longest single backoff wait. Default 5000. */
  maxDelayMs: number;
  /** Longest Retry-After the gateway honours; a longer one fails over at once. Default 10000. */
  maxRetryAfterMs: number;
  /** `full` or `decorrelated` jitter. Default `full`. */
  jitter: 'full' | 'decorrelated';
  /** Budget for one request across every attempt and wait before the first token. Default 60000. */
  deadlineMs: number;
}

export interface RecoveryBreakerConfig {
  /** Consecutive failures that open a backend's breaker. Default 5. */
  consecutiveFailures: number;
  /** Failure share within windowMs that opens it (once minRequests is reached). Default 0.5. */
  errorRate: number;
  /** Error-rate window. Default 10000. */
  windowMs: number;
  /** Outcomes needed in the window before errorRate is judged. Default 20. */
  minRequests: number;
  /** First open period before probes are admitted. Default 30000. */
  openMs: number;
  /** Each repeated opening multiplies the open period by this. Default 2. */
  openGrowth: number;
  /** Cap on the open period. Default 300000. */
  maxOpenMs: number;
  /** Probes admitted at once while half-open. Default 1. */
  halfOpenProbes: number;
}

export interface RecoverySessionConfig {
  /** Session store: `memory` (per process). Default `memory`. */
  store: 'memory';
  /** How long a finished stream stays resumable. Default 300000. */
  ttlMs: number;
  /** How long generation continues after the last client disconnected. Default 30000. */
  detachedGraceMs: number;
  /** Most stream sessions held at once. Default 10000. */
  maxSessions: number;
  /** Replay buffer per stream: most bytes of events kept for resume; memory grows with the stream up to this. Default 131072. */
  ringBytes: number;
}

export interface RecoveryMidStreamConfig {
  /**
   * What a `continuation: false` target does after a stream broke mid-way: `regenerate` (generate again
   * and verify the already-sent text matches before streaming the rest) or `error` (skip it; the stream
   * ends with an error event naming the original failure). Default `regenerate`.
   */
  nonContinuation: 'regenerate' | 'error';
}

export interface RecoveryConfig {
  retry: RecoveryRetryConfig;
  breaker: RecoveryBreakerConfig;
  session: RecoverySessionConfig;
  midStream: RecoveryMidStreamConfig;
}

declare module '../types.js' {
  interface AbiConfig {
    recovery: RecoveryConfig;
  }
}

const MS_MAX = 24 * 3600 * 1000;

function readRetry(r: ConfigReader): RecoveryRetryConfig {
  const baseDelayMs = r.int('baseDelayMs', 200, { min: 1, max: MS_MAX });
  const out: RecoveryRetryConfig = {
    maxAttempts: r.int('maxAttempts', 3, { min: 1, max: 100 }),
    baseDelayMs,
    maxDelayMs: r.int('maxDelayMs', 5000, { min: baseDelayMs, max: MS_MAX }),
    maxRetryAfterMs: r.int('maxRetryAfterMs', 10_000, { min: 0, max: MS_MAX }),
    jitter: r.oneOf('jitter', ['full', 'decorrelated'] as const, 'full'),
    deadlineMs: r.int('deadlineMs', 60_000, { min: 1, max: MS_MAX }),
  };
  r.done();
  return out;
}

function readBreaker(r: ConfigReader): RecoveryBreakerConfig {
  const openMs = r.int('openMs', 30_000, { min: 1, max: MS_MAX });
  const out: RecoveryBreakerConfig = {
    consecutiveFailures: r.int('consecutiveFailures', 5, { min: 1, max: 1_000_000 }),
    errorRate: r.number('errorRate', 0.5, { min: 0.01, max: 1 }),
    // The native counters keep 10 buckets; a window under 10 ms would make buckets of 0 ms.
    windowMs: r.int('windowMs', 10_000, { min: 10, max: MS_MAX }),
    minRequests: r.int('minRequests', 20, { min: 1, max: 1_000_000 }),
    openMs,
    openGrowth: r.number('openGrowth', 2, { min: 1, max: 100 }),
    maxOpenMs: r.int('maxOpenMs', Math.max(300_000, openMs), { min: openMs, max: MS_MAX }),
    halfOpenProbes: r.int('halfOpenProbes', 1, { min: 1, max: 1000 }),
  };
  r.done();
  return out;
}

function readSession(r: ConfigReader): RecoverySessionConfig {
  const out: RecoverySessionConfig = {
    store: r.oneOf('store', ['memory'] as const, 'memory'),
    ttlMs: r.int('ttlMs', 300_000, { min: 1, max: MS_MAX }),
    detachedGraceMs: r.int('detachedGraceMs', 30_000, { min: 0, max: MS_MAX }),
    maxSessions: r.int('maxSessions', 10_000, { min: 1, max: 10_000_000 }),
    ringBytes: r.int('ringBytes', 131_072, { min: 256, max: 2 ** 30 }),
  };
  r.done();
  return out;
}

function readMidStream(r: ConfigReader): RecoveryMidStreamConfig {
  const out: RecoveryMidStreamConfig = { nonContinuation: r.oneOf('nonContinuation', ['regenerate', 'error'] as const, 'regenerate') };
  r.done();
  return out;
}

export const recoverySection: ConfigSection<RecoveryConfig> = {
  key: 'recovery',
  parse(input) {
    const r = input.object();
    const out: RecoveryConfig = {
      retry: readRetry(r.section('retry')),
      breaker: readBreaker(r.section('breaker')),
      session: readSession(r.section('session')),
      midStream: readMidStream(r.section('midStream')),
    };
    r.done();
    return out;
  },
};

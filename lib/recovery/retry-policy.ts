import { ExponentialBackoff, type BackoffSequence } from './backoff.js';
import { requireInteger, requireNumber } from './validate.js';

export interface RetryPolicyOptions {
  /** Attempts per target including the first (default 3). */
  maxAttempts?: number;
  /** Backoff between attempts on the same target. */
  backoff?: ExponentialBackoff;
  /** Longest Retry-After the gateway waits for; a longer one fails over at once (default 10000). */
  maxRetryAfterMs?: number;
  /** Overall budget for one request across all attempts and waits, in ms (default 60000). */
  deadlineMs?: number;
}

/** Why a retry decision was taken, for events and logs. */
export type RetryDecision =
  | { action: 'retry'; delayMs: number; reason: 'backoff' | 'retry-after' }
  | { action: 'failover'; reason: 'not-retryable' | 'attempts-exhausted' | 'retry-after-too-long' | 'deadline' | 'timeout' };

export interface FailureFacts {
  retryable: boolean;
  kind: string;
  retryAfterMs?: number;
}

/**
 * Decides, after a failed attempt, whether to wait and retry the same target or to move on.
 * Timeouts always move on: a provider that never answers costs one timeout, not one per retry.
 */
export class RetryPolicy {
  readonly maxAttempts: number;
  readonly backoff: ExponentialBackoff;
  readonly maxRetryAfterMs: number;
  readonly deadlineMs: number;

  constructor(opts: RetryPolicyOptions = {}) {
    this.maxAttempts = requireInteger('RetryPolicy', 'maxAttempts', opts.maxAttempts ?? 3, 1, 100);
    this.backoff = opts.backoff ?? new ExponentialBackoff();
    this.maxRetryAfterMs = requireNumber('RetryPolicy', 'maxRetryAfterMs', opts.maxRetryAfterMs ?? 10_000, 0);
    this.deadlineMs = requireNumber('RetryPolicy', 'deadlineMs', opts.deadlineMs ?? 60_000, 1);
  }

  /**
   * @param attempt 1-based number of the attempt that just failed on this target
   * @param sequence this request's backoff sequence for this target
   * @param remainingMs time left before the request's deadline
   */
  decide(failure: FailureFacts, attempt: number, sequence: BackoffSequence, remainingMs: number): RetryDecision {
    if (!failure.retryable) return { action: 'failover', reason: 'not-retryable' };
    if (failure.kind === 'timeout') return { action: 'failover', reason: 'timeout' };
    if (attempt >= this.maxAttempts) return { action: 'failover', reason: 'attempts-exhausted' };
    let delayMs: number;
    let reason: 'backoff' | 'retry-after';
    if (failure.retryAfterMs !== undefined) {
      if (failure.retryAfterMs > this.maxRetryAfterMs) return { action: 'failover', reason: 'retry-after-too-long' };
      // The provider's own number wins, but a "Retry-After: 0" still gets the backoff floor.
      delayMs = Math.max(failure.retryAfterMs, sequence.next());
      reason = 'retry-after';
    } else {
      delayMs = sequence.next();
      reason = 'backoff';
    }
    if (delayMs >= remainingMs) return { action: 'failover', reason: 'deadline' };
    return { action: 'retry', delayMs, reason };
  }
}

import { requireNumber, requireOneOf } from './validate.js';

export type Jitter = 'full' | 'decorrelated';

export interface ExponentialBackoffOptions {
  /** First delay's upper bound in ms (default 200). */
  baseDelayMs?: number;
  /** Upper bound of any single delay in ms (default 5000). */
  maxDelayMs?: number;
  /**
   * `full`: uniform in [0, min(max, base·2^n)] (AWS "full jitter").
   * `decorrelated`: uniform in [base, min(max, 3·previous)] (AWS "decorrelated jitter"). Default `full`.
   */
  jitter?: Jitter;
  /** Source of randomness in [0, 1); injectable so tests are deterministic. Default Math.random. */
  random?: () => number;
}

/**
 * Exponential backoff with jitter. Stateless apart from the decorrelated variant's previous delay,
 * which lives in the per-request iterator returned by `start()`, so one instance serves all requests.
 */
export class ExponentialBackoff {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly jitter: Jitter;
  private readonly random: () => number;

  constructor(opts: ExponentialBackoffOptions = {}) {
    this.baseDelayMs = requireNumber('ExponentialBackoff', 'baseDelayMs', opts.baseDelayMs ?? 200, 1);
    this.maxDelayMs = requireNumber('ExponentialBackoff', 'maxDelayMs', opts.maxDelayMs ?? 5000, this.baseDelayMs);
    this.jitter = requireOneOf('ExponentialBackoff', 'jitter', opts.jitter ?? 'full', ['full', 'decorrelated']);
    this.random = opts.random ?? Math.random;
  }

  /** A fresh delay sequence for one request. */
  start(): BackoffSequence {
    let previous = this.baseDelayMs;
    let retry = 0;
    return {
      next: () => {
        let delay: number;
        if (this.jitter === 'full') {
          // Cap the exponent so 2^retry never overflows into Infinity on absurd attempt counts.
          const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(retry, 52));
          // Never zero: a retry that fires at once is hammering, whatever the dice say.
          delay = Math.max(1, this.random() * ceiling);
        } else {
          const upper = Math.min(this.maxDelayMs, previous * 3);
          delay = this.baseDelayMs + this.random() * Math.max(0, upper - this.baseDelayMs);
          previous = delay;
        }
        retry++;
        return Math.round(delay);
      },
    };
  }
}

export interface BackoffSequence {
  /** Delay before the next retry, in ms. */
  next(): number;
}


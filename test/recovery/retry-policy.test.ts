import { describe, expect, it } from 'vitest';
import { ExponentialBackoff } from '../../lib/recovery/backoff.js';
import { RetryPolicy } from '../../lib/recovery/retry-policy.js';

const fixed = (ms: number) => new ExponentialBackoff({ baseDelayMs: ms, maxDelayMs: ms, random: () => 0.999999 });

describe('RetryPolicy', () => {
  const policy = new RetryPolicy({ maxAttempts: 3, backoff: fixed(100), maxRetryAfterMs: 2000, deadlineMs: 10_000 });

  it('retries retryable failures with backoff until attempts run out', () => {
    const seq = policy.backoff.start();
    const f = { retryable: true, kind: 'http' };
    expect(policy.decide(f, 1, seq, 10_000)).toEqual({ action: 'retry', delayMs: 100, reason: 'backoff' });
    expect(policy.decide(f, 2, seq, 10_000)).toEqual({ action: 'retry', delayMs: 100, reason: 'backoff' });
    expect(policy.decide(f, 3, seq, 10_000)).toEqual({ action: 'failover', reason: 'attempts-exhausted' });
  });

  it('honours Retry-After within the cap and fails over beyond it', () => {
    const seq = policy.backoff.start();
    expect(policy.decide({ retryable: true, kind: 'http', retryAfterMs: 1500 }, 1, seq, 10_000)).toEqual({
      action: 'retry',
      delayMs: 1500,
      reason: 'retry-after',
    });
    expect(policy.decide({ retryable: true, kind: 'http', retryAfterMs: 2001 }, 1, seq, 10_000)).toEqual({
      action: 'failover',
      reason: 'retry-after-too-long',
    });
  });

  it('never retries at once: Retry-After 0 still waits the backoff', () => {
    const d = policy.decide({ retryable: true, kind: 'http', retryAfterMs: 0 }, 1, policy.backoff.start(), 10_000);
    expect(d).toEqual({ action: 'retry', delayMs: 100, reason: 'retry-after' });
  });

  it('moves on after a timeout and on non-retryable failures', () => {
    const seq = policy.backoff.start();
    expect(policy.decide({ retryable: true, kind: 'timeout' }, 1, seq, 10_000).action).toBe('failover');
    expect(policy.decide({ retryable: false, kind: 'http' }, 1, seq, 10_000)).toEqual({ action: 'failover', reason: 'not-retryable' });
  });

  it('does not start a wait that would pass the deadline', () => {
    expect(policy.decide({ retryable: true, kind: 'http' }, 1, policy.backoff.start(), 50)).toEqual({ action: 'failover', reason: 'deadline' });
  });

  it('validates options', () => {
    expect(() => new RetryPolicy({ maxAttempts: 0 })).toThrow(/maxAttempts/);
    expect(() => new RetryPolicy({ maxAttempts: 1.5 })).toThrow(/maxAttempts/);
    expect(() => new RetryPolicy({ maxRetryAfterMs: -1 })).toThrow(/maxRetryAfterMs/);
    expect(() => new RetryPolicy({ deadlineMs: 0 })).toThrow(/deadlineMs/);
  });
});

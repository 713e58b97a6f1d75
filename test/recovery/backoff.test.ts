import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ExponentialBackoff } from '../../lib/recovery/backoff.js';

describe('ExponentialBackoff', () => {
  it('full jitter stays within [1, min(max, base*2^n)]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1000, max: 20000 }), fc.array(fc.double({ min: 0, max: 0.9999, noNaN: true }), { minLength: 1, maxLength: 20 }), (base, max, dice) => {
        let i = 0;
        const b = new ExponentialBackoff({ baseDelayMs: base, maxDelayMs: max, random: () => dice[i++ % dice.length]! });
        const seq = b.start();
        for (let n = 0; n < dice.length; n++) {
          const d = seq.next();
          expect(d).toBeGreaterThanOrEqual(1);
          expect(d).toBeLessThanOrEqual(Math.round(Math.min(max, base * 2 ** n)));
        }
      }),
    );
  });

  it('full jitter ceiling doubles per retry until capped', () => {
    const seq = new ExponentialBackoff({ baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.999999 }).start();
    expect([seq.next(), seq.next(), seq.next(), seq.next(), seq.next()]).toEqual([100, 200, 400, 800, 1000]);
  });

  it('decorrelated jitter stays within [base, min(max, 3*previous)]', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 0.9999, noNaN: true }), { minLength: 1, maxLength: 30 }), (dice) => {
        let i = 0;
        const seq = new ExponentialBackoff({ baseDelayMs: 50, maxDelayMs: 3000, jitter: 'decorrelated', random: () => dice[i++]! }).start();
        let prev = 50;
        for (let n = 0; n < dice.length; n++) {
          const d = seq.next();
          expect(d).toBeGreaterThanOrEqual(50);
          expect(d).toBeLessThanOrEqual(Math.min(3000, prev * 3) + 1);
          prev = d;
        }
      }),
    );
  });

  it('sequences are independent per request', () => {
    const b = new ExponentialBackoff({ baseDelayMs: 10, maxDelayMs: 1000, random: () => 0.999999 });
    const s1 = b.start();
    s1.next();
    s1.next();
    expect(b.start().next()).toBe(10);
  });

  it('rejects invalid options at construction', () => {
    expect(() => new ExponentialBackoff({ baseDelayMs: 0 })).toThrow(/baseDelayMs/);
    expect(() => new ExponentialBackoff({ baseDelayMs: 100, maxDelayMs: 50 })).toThrow(/maxDelayMs/);
    expect(() => new ExponentialBackoff({ jitter: 'none' as never })).toThrow(/jitter/);
    expect(() => new ExponentialBackoff({ baseDelayMs: Number.NaN })).toThrow(/ABI|baseDelayMs/);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeliveredText } from '../../lib/recovery/delivered-text.js';

describe('DeliveredText', () => {
  it('holds exactly the appended text, across flushes and joins (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.array(fc.string({ maxLength: 900 }), { maxLength: 40 }), fc.nat(), fc.nat(), (initial, tokens, a, b) => {
        const d = new DeliveredText(initial);
        let expected = initial;
        for (const t of tokens) {
          d.append(t);
          expected += t;
          expect(d.length).toBe(expected.length);
        }
        const start = a % (expected.length + 1);
        const end = start + (b % (expected.length - start + 1));
        expect(d.slice(start, end)).toBe(expected.slice(start, end));
        expect(d.toString()).toBe(expected);
        d.append('tail');
        expect(d.toString()).toBe(`${expected}tail`);
      }),
      { numRuns: 200 },
    );
  });
});

import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TokenHistogram } from '../../lib/observability/token-histogram.js';

const BUCKETS = [0.0005, 0.001, 0.01, 0.1, 1, 10];

describe('TokenHistogram', () => {
  it('renders exactly what a prom-client Histogram renders for the same observations (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c"d'), fc.double({ min: 0, max: 20, noNaN: true })), { maxLength: 200 }),
        async (observations) => {
          const ours = new Registry();
          const theirs = new Registry();
          const h = new TokenHistogram('x_seconds', 'help text', 'backend', BUCKETS, [ours]);
          const reference = new Histogram({ name: 'x_seconds', help: 'help text', labelNames: ['backend'], buckets: BUCKETS, registers: [theirs] });
          for (const [label, v] of observations) {
            h.observe(label, v);
            reference.observe({ backend: label }, v);
          }
          expect(await ours.metrics()).toBe(await theirs.metrics());
          h.reset();
          reference.reset();
          expect(await ours.metrics()).toBe(await theirs.metrics());
        },
      ),
      { numRuns: 100 },
    );
  });
});

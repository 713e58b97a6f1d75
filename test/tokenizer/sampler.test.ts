/** The sampler chain (native/engine/sampler) on hand-made logits. */
import { describe, expect, it } from 'vitest';
import { loadBinding } from '../../lib/native/binding.js';

interface SamplerParams {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  penaltyLastN?: number;
  seed?: number;
  nLogprobs?: number;
}
interface Sampler {
  sample(logits: Float32Array): { id: number; logprob: number; top: Array<{ id: number; logprob: number }> };
  accept(id: number): void;
  reset(): void;
}
const { Sampler } = loadBinding().sampler as { Sampler: new (p: SamplerParams, nVocab: number) => Sampler };

const OFF = { topK: 0, topP: 1, minP: 0 };
const logitsOf = (probs: number[]): Float32Array => Float32Array.from(probs, (p) => Math.log(p));

function histogram(s: Sampler, logits: Float32Array, n: number): number[] {
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < n; i++) counts[s.sample(logits).id]! += 1;
  return counts.map((c) => c / n);
}

describe('sampler', () => {
  it('temperature 0 is greedy: the argmax, lowest id on ties', () => {
    const s = new Sampler({ temperature: 0 }, 5);
    expect(s.sample(Float32Array.from([0.1, 3, -1, 2.9, 0])).id).toBe(1);
    expect(s.sample(Float32Array.from([1, 4, 4, 2, 0])).id).toBe(1);
  });

  it('same seed and logits give the same tokens; another seed gives another sequence', () => {
    const logits = logitsOf([0.2, 0.2, 0.2, 0.2, 0.2]);
    const run = (seed: number): number[] => {
      const s = new Sampler({ temperature: 1, ...OFF, seed }, 5);
      return Array.from({ length: 64 }, () => s.sample(logits).id);
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
    const s = new Sampler({ temperature: 1, ...OFF, seed: 7 }, 5);
    const first = Array.from({ length: 16 }, () => s.sample(logits).id);
    s.reset();
    expect(Array.from({ length: 16 }, () => s.sample(logits).id)).toEqual(first);
  });

  it('at temperature 1 with no truncation it samples the softmax distribution', () => {
    const freq = histogram(new Sampler({ temperature: 1, ...OFF, seed: 1 }, 3), logitsOf([0.5, 0.3, 0.2]), 20000);
    expect(freq[0]).toBeCloseTo(0.5, 1);
    expect(freq[1]).toBeCloseTo(0.3, 1);
    expect(freq[2]).toBeCloseTo(0.2, 1);
  });

  it('temperature sharpens and flattens', () => {
    const logits = logitsOf([0.6, 0.4]);
    const cold = histogram(new Sampler({ temperature: 0.25, ...OFF, seed: 3 }, 2), logits, 10000);
    const hot = histogram(new Sampler({ temperature: 4, ...OFF, seed: 3 }, 2), logits, 10000);
    // p0 at T: 0.6^(1/T) / (0.6^(1/T) + 0.4^(1/T)) → 0.835 at T=0.25, 0.525 at T=4
    expect(cold[0]).toBeCloseTo(0.835, 1);
    expect(hot[0]).toBeCloseTo(0.525, 1);
  });

  it('top-k keeps only the k most likely tokens', () => {
    const freq = histogram(new Sampler({ temperature: 1, topK: 2, topP: 1, minP: 0, seed: 5 }, 4), logitsOf([0.1, 0.4, 0.3, 0.2]), 5000);
    expect(freq[0]).toBe(0);
    expect(freq[3]).toBe(0);
    expect(freq[1]! + freq[2]!).toBe(1);
  });

  it('top-p keeps the smallest set reaching p', () => {
    const freq = histogram(new Sampler({ temperature: 1, topK: 0, topP: 0.75, minP: 0, seed: 5 }, 4), logitsOf([0.5, 0.3, 0.15, 0.05]), 5000);
    expect(freq[2]).toBe(0);
    expect(freq[3]).toBe(0);
    expect(freq[0]).toBeCloseTo(0.5 / 0.8, 1);
  });

  it('top-p over a large vocabulary keeps exactly the most likely prefix reaching p', () => {
    const n = 5000;
    let x = 12345;
    const logits = Float32Array.from({ length: n }, () => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return (x / 2147483648) * 6;
    });
    const order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b);
    const total = order.reduce((acc, i) => acc + Math.exp(logits[i]!), 0);
    const allowed = new Set<number>();
    let cum = 0;
    for (const i of order) {
      allowed.add(i);
      cum += Math.exp(logits[i]!) / total;
      if (cum >= 0.5) break;
    }
    expect(allowed.size).toBeGreaterThan(100); // a flat distribution: the prefix is long
    const s = new Sampler({ temperature: 1, topK: 0, topP: 0.5, minP: 0, seed: 11 }, n);
    const seen = new Set<number>();
    for (let i = 0; i < 4000; i++) seen.add(s.sample(logits).id);
    for (const id of seen) expect(allowed.has(id)).toBe(true);
    expect(seen.size).toBeGreaterThan(allowed.size * 0.8);
  });

  it('min-p drops tokens below min_p times the top probability', () => {
    const freq = histogram(new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0.35, seed: 5 }, 4), logitsOf([0.5, 0.3, 0.15, 0.05]), 5000);
    expect(freq[0]! + freq[1]!).toBe(1);
  });

  it('repetition penalty divides positive and multiplies negative logits of recent tokens', () => {
    const s = new Sampler({ temperature: 0, repeatPenalty: 1.5 }, 3);
    const logits = Float32Array.from([2, 1.9, -5]);
    expect(s.sample(logits).id).toBe(0);
    s.accept(0);
    expect(s.sample(logits).id).toBe(1); // 2 / 1.5 = 1.33 < 1.9
    const neg = new Sampler({ temperature: 0, repeatPenalty: 2 }, 2);
    neg.accept(0);
    expect(neg.sample(Float32Array.from([-1, -1.5])).id).toBe(1); // -1 * 2 = -2 < -1.5
  });

  it('frequency and presence penalties subtract per occurrence and once', () => {
    const freq = new Sampler({ temperature: 0, frequencyPenalty: 0.4 }, 2);
    const logits = Float32Array.from([1, 0.3]);
    freq.accept(0);
    expect(freq.sample(logits).id).toBe(0); // 1 - 0.4 = 0.6 > 0.3
    freq.accept(0);
    expect(freq.sample(logits).id).toBe(1); // 1 - 0.8 = 0.2 < 0.3
    const pres = new Sampler({ temperature: 0, presencePenalty: 0.5 }, 2);
    pres.accept(0);
    pres.accept(0);
    pres.accept(0);
    expect(pres.sample(Float32Array.from([1, 0.45])).id).toBe(0); // 1 - 0.5 = 0.5 > 0.45, not 3 × 0.5
    expect(pres.sample(Float32Array.from([1, 0.55])).id).toBe(1);
  });

  it('penalties only look at the last penaltyLastN tokens', () => {
    const s = new Sampler({ temperature: 0, repeatPenalty: 4, penaltyLastN: 2 }, 3);
    const logits = Float32Array.from([2, 1, 0]);
    s.accept(0);
    expect(s.sample(logits).id).toBe(1);
    s.accept(2);
    s.accept(2); // token 0 has left the window
    expect(s.sample(logits).id).toBe(0);
  });

  it('reports log-softmax logprobs of the raw logits, most likely first', () => {
    const logits = Float32Array.from([1, 3, 2, -1]);
    const s = new Sampler({ temperature: 0, nLogprobs: 3, repeatPenalty: 10 }, 4);
    s.accept(1);
    const r = s.sample(logits);
    const lse = Math.log(Array.from(logits).reduce((a, x) => a + Math.exp(x), 0));
    expect(r.id).toBe(2); // the penalty moved the choice...
    expect(r.top.map((t) => t.id)).toEqual([1, 2, 0]); // ...but logprobs describe the model's distribution
    for (const t of r.top) expect(t.logprob).toBeCloseTo(logits[t.id]! - lse, 5);
    expect(r.logprob).toBeCloseTo(logits[2]! - lse, 5);
  });

  it('rejects logits of the wrong length with a clear error', () => {
    const s = new Sampler({ temperature: 0 }, 4);
    expect(() => s.sample(new Float32Array(3))).toThrow(expect.objectContaining({ code: 'ABI_ERR_INVALID_ARG' }));
    expect(() => new Sampler({}, 0)).toThrow(expect.objectContaining({ code: 'ABI_ERR_INVALID_ARG' }));
  });
});

/**
 * quantize → dequantize error per type. Bound: RMS(dequant − x) / RMS(x) on N(0,1) data, stated
 * per type below (measured values on these seeds in parentheses; limits carry ~20% headroom so a
 * worse scale search or a packing slip fails). Ordering across types is checked too: more bits
 * must never be worse.
 */
import { describe, expect, it } from 'vitest';
import { gaussian, kernels, WEIGHT_TYPES, type WeightType } from './support/kernels.js';

const k = kernels();
const T = k.types;

const RELATIVE_RMS_LIMIT: Record<WeightType, number> = {
  F32: 0,
  F16: 2.6e-4, // (2.1e-4) 11-bit mantissa
  BF16: 2.0e-3, // (1.6e-3) 8-bit mantissa
  Q8_0: 6.5e-3, // (5.4e-3)
  Q6_K: 2.2e-2, // (1.8e-2)
  Q5_K: 4.4e-2, // (3.6e-2)
  Q4_K: 8.6e-2, // (7.1e-2)
  Q4_0: 1.05e-1, // (8.7e-2)
};

function relativeRms(type: WeightType, x: Float32Array): number {
  const y = k.dequantize(T[type]!, k.quantize(T[type]!, x), x.length);
  let err = 0;
  let sig = 0;
  for (let i = 0; i < x.length; i++) {
    err += (y[i]! - x[i]!) ** 2;
    sig += x[i]! ** 2;
  }
  return Math.sqrt(err / sig);
}

describe('kernels: quantize → dequantize round trip', () => {
  it.each(WEIGHT_TYPES)('%s stays within its relative RMS limit', (type) => {
    for (const [n, seed] of [
      [256, 1],
      [4096, 2],
      [65536, 3],
    ] as const) {
      expect(relativeRms(type, gaussian(n, seed)), `n=${n}`).toBeLessThanOrEqual(RELATIVE_RMS_LIMIT[type]);
    }
  });

  it('more bits per weight never round-trips worse', () => {
    const x = gaussian(65536, 4);
    const order: WeightType[] = ['Q4_0', 'Q4_K', 'Q5_K', 'Q6_K', 'Q8_0', 'BF16', 'F16', 'F32'];
    const errors = order.map((t) => relativeRms(t, x));
    for (let i = 1; i < errors.length; i++) expect(errors[i], order[i]).toBeLessThan(errors[i - 1]!);
  });

  it('K-quant scale search beats the same format filled without a search', () => {
    // Baseline: each 32-element sub-block's scale and min from its plain min/max, both then stored
    // as 6-bit multiples of the super-block maxima (as Q4_K/Q5_K store them) and every element
    // requantized against the decoded pair. Only the weighted least-squares search differs
    // (observed: 8% lower RMS for Q4_K, 5% for Q5_K; the search minimises an |x|-weighted error).
    const x = gaussian(65536, 5);
    const noSearchRms = (nmax: number) => {
      let err = 0;
      let sig = 0;
      for (let sb = 0; sb < x.length; sb += 256) {
        const scales: number[] = [];
        const mins: number[] = [];
        for (let j = 0; j < 8; j++) {
          const block = x.subarray(sb + 32 * j, sb + 32 * j + 32);
          const lo = Math.min(0, ...block);
          scales.push((Math.max(...block) - lo) / nmax);
          mins.push(-lo);
        }
        const dScale = Math.max(...scales) / 63;
        const dMin = Math.max(...mins) / 63;
        for (let j = 0; j < 8; j++) {
          const sc = Math.round(scales[j]! / dScale) * dScale;
          const mn = Math.round(mins[j]! / dMin) * dMin;
          for (const v of x.subarray(sb + 32 * j, sb + 32 * j + 32)) {
            const q = Math.min(nmax, Math.max(0, Math.round((v + mn) / sc)));
            err += (q * sc - mn - v) ** 2;
            sig += v * v;
          }
        }
      }
      return Math.sqrt(err / sig);
    };
    expect(relativeRms('Q4_K', x)).toBeLessThan(0.94 * noSearchRms(15));
    expect(relativeRms('Q5_K', x)).toBeLessThan(0.97 * noSearchRms(31));
  });

  it('handles degenerate rows: zeros, constants, single outliers, tiny and huge magnitudes', () => {
    const n = 512;
    const rows: [string, Float32Array][] = [
      ['zeros', new Float32Array(n)],
      ['constant', new Float32Array(n).fill(0.75)],
      ['negative constant', new Float32Array(n).fill(-3)],
      ['outlier', Object.assign(new Float32Array(n), { 100: 1000 })],
      ['small', gaussian(n, 6, 1e-3)],
      ['large', gaussian(n, 7, 1e3)],
    ];
    for (const type of WEIGHT_TYPES) {
      for (const [name, x] of rows) {
        const y = k.dequantize(T[type]!, k.quantize(T[type]!, x), n);
        expect(y.every(Number.isFinite), `${type} ${name}`).toBe(true);
        if (name === 'zeros') expect(y.every((v) => v === 0), `${type} zeros`).toBe(true);
        const amax = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const maxErr = y.reduce((m, v, i) => Math.max(m, Math.abs(v - x[i]!)), 0);
        // no value may land further than a quarter of the row's range from its input
        expect(maxErr, `${type} ${name}`).toBeLessThanOrEqual(0.25 * amax + 1e-30);
      }
      // Scales are fp16 (Q8_K's is f32): rows far below fp16's range lose precision in ggml's
      // formats too, but must still decode to finite values.
      const subnormal = k.dequantize(T[type]!, k.quantize(T[type]!, gaussian(n, 8, 1e-9)), n);
      expect(subnormal.every(Number.isFinite), `${type} 1e-9`).toBe(true);
    }
  });
});

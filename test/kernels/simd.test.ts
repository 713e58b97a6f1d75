/**
 * Every AVX2 kernel against its scalar reference on random data.
 *
 * Error bound (all types): |avx2 − scalar| ≤ 1e-6 · Σ|w_i·x_i| (+1e-30), where w and x are the
 * dequantized weight row and activation. The integer parts of the quantized kernels are exact in
 * both; only the order of f32 scaling and accumulation differs, which is observed at ≈1e-8 of
 * Σ|w·x| on 256…4096-wide rows, so the bound leaves ~50× headroom while still catching any
 * wrong element, scale or sub-block (those move the result by ≳1e-3 of Σ|w·x|).
 * The same bound holds between the scalar kernel and an f64 dot of the dequantized operands,
 * which checks the reference kernels themselves against the dequantizers.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gaussian, kernels, rng, WEIGHT_TYPES, type WeightType } from './support/kernels.js';

const k = kernels();
const T = k.types;
const BOUND = 1e-6;

function blockOf(type: WeightType): number {
  return k.typeInfo(T[type]!).blockSize;
}

/** Random bytes as weights: every bit pattern of the quants, with finite, moderate fp16 scales. */
function randomBlocks(type: WeightType, n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const bytes = new Uint8Array(k.rowSize(T[type]!, n)).map(() => Math.floor(r() * 256));
  const size = k.typeInfo(T[type]!).typeSize;
  const scaleOffsets = type === 'Q6_K' ? [208] : type.endsWith('_K') ? [0, 2] : [0];
  for (let b = 0; b < bytes.length / size; b++) {
    for (const o of scaleOffsets) {
      bytes[b * size + o] = Math.floor(r() * 256);
      bytes[b * size + o + 1] = 0x20 + Math.floor(r() * 8); // |d| ≈ 2^-6…2^-5, positive
    }
  }
  return bytes;
}

function dotScale(type: WeightType, w: Uint8Array, xAct: Uint8Array, n: number): { abs: number; exact: number } {
  const dw = k.dequantize(T[type]!, w, n);
  const dx = k.dequantize(k.typeInfo(T[type]!).vecDotType, xAct, n);
  let abs = 0;
  let exact = 0;
  for (let i = 0; i < n; i++) {
    abs += Math.abs(dw[i]! * dx[i]!);
    exact += dw[i]! * dx[i]!;
  }
  return { abs, exact };
}

const cases = fc.record({
  type: fc.constantFrom(...WEIGHT_TYPES),
  blocks: fc.integer({ min: 1, max: 24 }),
  extra: fc.integer({ min: 0, max: 7 }), // tail elements for the 1-element-block types
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  weights: fc.constantFrom('gaussian', 'random-bytes', 'wide-range'),
});

describe.runIf(k.hasAvx2())('kernels: AVX2 vs scalar reference', () => {
  it(`vec_dot agrees within ${BOUND}·Σ|w·x| for every type, width and data kind`, () => {
    fc.assert(
      fc.property(cases, ({ type, blocks, extra, seed, weights }) => {
        const block = blockOf(type);
        // 1-element types get ragged tails; 32-element types odd block counts (the 2-block unroll's tail)
        const n = block === 1 ? blocks * 64 + extra : block === 32 ? (blocks * 8 - (seed % 8)) * 32 : blocks * 256;
        const x = gaussian(n, seed + 1);
        let w: Uint8Array;
        if (weights === 'random-bytes' && block > 1) w = randomBlocks(type, n, seed);
        else if (weights === 'wide-range') {
          const g = gaussian(n, seed);
          // per-block magnitudes spanning 2^-8 … 2^8 stress scale handling
          for (let i = 0; i < n; i++) g[i]! *= 2 ** ((Math.floor(i / 32) % 17) - 8);
          w = k.quantize(T[type]!, g);
        } else w = k.quantize(T[type]!, gaussian(n, seed));
        const xAct = k.quantizeActivation(T[type]!, x, { impl: 'scalar' });
        const simd = k.vecDotQuantized(T[type]!, w, xAct, n, { impl: 'avx2' });
        const ref = k.vecDotQuantized(T[type]!, w, xAct, n, { impl: 'scalar' });
        const { abs, exact } = dotScale(type, w, xAct, n);
        expect(Math.abs(simd - ref), `${type} n=${n} ${weights}`).toBeLessThanOrEqual(BOUND * abs + 1e-30);
        expect(Math.abs(ref - exact), `${type} n=${n} ${weights} ref vs dequant`).toBeLessThanOrEqual(BOUND * abs + 1e-30);
      }),
      { numRuns: 400, seed: 20261125 },
    );
  });

  it('matvec over a 67×4096 matrix agrees with scalar (NMSE < 1e-12) for every type', () => {
    const rows = 67; // not a multiple of the 4-row kernels' group
    const cols = 4096;
    const x = gaussian(cols, 99);
    for (const type of WEIGHT_TYPES) {
      const w = k.quantize(T[type]!, gaussian(rows * cols, 5));
      const simd = k.matvec(T[type]!, w, rows, cols, x, { impl: 'avx2' });
      const ref = k.matvec(T[type]!, w, rows, cols, x, { impl: 'scalar' });
      let err = 0;
      let sig = 0;
      for (let r = 0; r < rows; r++) {
        err += (simd[r]! - ref[r]!) ** 2;
        sig += ref[r]! ** 2;
      }
      expect(err / sig, type).toBeLessThan(1e-12);
      // every row equals the single-row kernel bit for bit, inside a 4-row group or in the tail,
      // so results never depend on how the engine splits rows across threads
      const rowBytes = k.rowSize(T[type]!, cols);
      for (const r of [0, 17, 66]) {
        expect(simd[r], `${type} row ${r}`).toBe(k.vecDot(T[type]!, w.subarray(r * rowBytes, (r + 1) * rowBytes), x, { impl: 'avx2' }));
      }
    }
  });

  it('the AVX2 Q8_0 activation quantizer matches the reference scale and is within one level per value', () => {
    const n = 4096;
    const x = gaussian(n, 3);
    x[5] = 0.5 * (x[0]! > 0 ? 1 : -1); // keep some exact ties around
    const a = k.quantizeActivation(T.Q8_0!, x, { impl: 'avx2' });
    const s = k.quantizeActivation(T.Q8_0!, x, { impl: 'scalar' });
    let differing = 0;
    for (let b = 0; b < n / 32; b++) {
      const o = b * 34;
      expect([a[o], a[o + 1]]).toEqual([s[o], s[o + 1]]); // fp16 d
      for (let j = 2; j < 34; j++) {
        const qa = (a[o + j]! << 24) >> 24;
        const qs = (s[o + j]! << 24) >> 24;
        expect(Math.abs(qa - qs)).toBeLessThanOrEqual(1);
        if (qa !== qs) differing++;
      }
    }
    expect(differing).toBeLessThan(n / 100); // ties and 1-ulp scale differences only
  });

  it('an all-zero activation gives exactly 0 in both implementations', () => {
    for (const type of WEIGHT_TYPES) {
      const n = 512;
      const w = k.quantize(T[type]!, gaussian(n, 1));
      expect(k.vecDot(T[type]!, w, new Float32Array(n), { impl: 'avx2' })).toBe(0);
      expect(k.vecDot(T[type]!, w, new Float32Array(n), { impl: 'scalar' })).toBe(0);
    }
  });
});

describe('kernels: scalar reference', () => {
  it('vec_dot of the scalar path tracks an f64 dot of the unquantized data (end to end, per type)', () => {
    // activation + weight quantization error together, relative to Σ|w·x|
    const limits: Record<WeightType, number> = {
      F32: 1e-6,
      F16: 1e-3,
      BF16: 6e-3,
      Q8_0: 1e-2,
      Q6_K: 2e-2,
      Q5_K: 3e-2,
      Q4_K: 6e-2,
      Q4_0: 6e-2,
    };
    const n = 4096;
    for (const type of WEIGHT_TYPES) {
      for (let seed = 0; seed < 5; seed++) {
        const w = gaussian(n, seed);
        const x = gaussian(n, seed + 50);
        let exact = 0;
        let abs = 0;
        for (let i = 0; i < n; i++) {
          exact += w[i]! * x[i]!;
          abs += Math.abs(w[i]! * x[i]!);
        }
        const got = k.vecDot(T[type]!, k.quantize(T[type]!, w), x, { impl: 'scalar' });
        expect(Math.abs(got - exact) / abs, `${type} seed ${seed}`).toBeLessThan(limits[type]);
      }
    }
  });
});

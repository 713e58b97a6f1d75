/**
 * Kernels that take llama.cpp's own f32 steps (docs/local-engine.md, "Numerics"): the interleaved
 * Q4_0/Q4_K dot products, SwiGLU with ggml's vector expf, and the attention's K·Q dot in
 * ggml_vec_dot_f16's order, each for both llama.cpp x86 builds (16-lane AVX-512, 8-lane AVX2). Their scalar references and AVX2 versions perform the same
 * f32 operations in the same order, so the two must agree bit for bit (not within a bound); each is
 * also held to the exact (f64) result within a stated bound, which checks the arithmetic itself.
 * That the order is llama.cpp's is checked end to end in test/engine/oracle.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { gaussian, kernels, rng } from './support/kernels.js';

const k = kernels();
const T = k.types;

/** Same bound as simd.test.ts: |result − exact| ≤ 1e-6·Σ|w·x|. */
const DOT_BOUND = 1e-6;

function exactDot(type: 'Q4_0' | 'Q4_K', w: Uint8Array, xAct: Uint8Array, n: number): { abs: number; exact: number } {
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

function f16Bits(v: number): number {
  // round-to-nearest-even f32 → f16 for values in the normal f16 range (test data stays there)
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  let mant = u & 0x7fffff;
  if (exp <= 0) return sign;
  const round = mant & 0x1fff;
  mant >>>= 13;
  let h = sign | (exp << 10) | mant;
  if (round > 0x1000 || (round === 0x1000 && (mant & 1) === 1)) h++;
  return h;
}

function f16Value(h: number): number {
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  const v = exp === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (exp - 15);
  return h & 0x8000 ? -v : v;
}

describe.runIf(k.hasAvx2())('kernels in llama.cpp order: AVX2 bit-identical to the scalar reference', () => {
  for (const type of ['Q4_0', 'Q4_K'] as const) {
    for (const order of ['gemv', 'gemm'] as const) {
      it(`${type} ${order}: bit-identical, and within ${DOT_BOUND}·Σ|w·x| of the exact dot`, () => {
        for (let seed = 1; seed <= 60; seed++) {
          const n = (type === 'Q4_0' ? 32 : 256) * (1 + (seed % 12));
          const g = gaussian(n, seed);
          // per-block magnitudes spanning 2^-6 … 2^6 stress the f32 steps between blocks
          for (let i = 0; i < n; i++) g[i]! *= 2 ** ((Math.floor(i / 32) % 13) - 6);
          const w = k.quantize(T[type]!, g);
          const xAct = k.quantizeActivation(T[type]!, gaussian(n, seed + 1000), { impl: 'scalar' });
          const simd = k.vecDotQuantized(T[type]!, w, xAct, n, { impl: 'avx2', order });
          const ref = k.vecDotQuantized(T[type]!, w, xAct, n, { impl: 'scalar', order });
          expect(Object.is(simd, ref), `${type} ${order} n=${n}: ${simd} vs ${ref}`).toBe(true);
          const { abs, exact } = exactDot(type, w, xAct, n);
          expect(Math.abs(ref - exact)).toBeLessThanOrEqual(DOT_BOUND * abs + 1e-30);
        }
      });
    }
  }

  it('matvec/matmul take the interleaved order exactly where llama.cpp repacks (Q4_0/Q4_K, rows % 8 == 0)', () => {
    const cols = 512;
    for (const type of ['Q4_0', 'Q4_K'] as const) {
      for (const rows of [16, 12]) {
        const w = k.quantize(T[type]!, gaussian(rows * cols, rows));
        const rowBytes = k.rowSize(T[type]!, cols);
        const xs = gaussian(5 * cols, 7);
        const acts = [0, 1, 2, 3, 4].map((v) => k.quantizeActivation(T[type]!, xs.subarray(v * cols, (v + 1) * cols)));
        const dot = (r: number, v: number, order: 'plain' | 'gemv' | 'gemm'): number =>
          k.vecDotQuantized(T[type]!, w.subarray(r * rowBytes, (r + 1) * rowBytes), acts[v]!, cols, { order });
        const one = k.matvec(T[type]!, w, rows, cols, xs.subarray(0, cols));
        const five = k.matmul(T[type]!, w, rows, cols, xs, 5);
        for (let r = 0; r < rows; r++) {
          const interleaved = rows % 8 === 0;
          expect(one[r], `${type} rows=${rows} r=${r} matvec`).toBe(dot(r, 0, interleaved ? 'gemv' : 'plain'));
          for (let v = 0; v < 5; v++) {
            // vectors 0-3 form llama.cpp's group of four (its gemm), vector 4 is left over (gemv)
            const order = !interleaved ? 'plain' : type === 'Q4_K' && v < 4 ? 'gemm' : 'gemv';
            expect(five[v * rows + r], `${type} rows=${rows} r=${r} v=${v} matmul`).toBe(dot(r, v, order));
          }
        }
      }
    }
  });

  it('packed Q4_0 (the engine\'s block_q4_0x8 copy) gives the row-major matvec/matmul bit for bit, any split', () => {
    const rows = 40;
    const cols = 1024;
    const w = k.quantize(T.Q4_0!, gaussian(rows * cols, 21));
    const p = k.packQ4_0x8(w, rows, cols);
    const xs = gaussian(3 * cols, 22);
    for (const impl of ['scalar', 'avx2'] as const) {
      const plain = k.matvec(T.Q4_0!, w, rows, cols, xs.subarray(0, cols), { impl });
      expect(Array.from(k.matvec(T.Q4_0!, p, rows, cols, xs.subarray(0, cols), { impl, packed: true }))).toEqual(Array.from(plain));
      const part = k.matvec(T.Q4_0!, p, rows, cols, xs.subarray(0, cols), { impl, packed: true, r0: 8, r1: 24 });
      for (let r = 0; r < rows; r++) expect(part[r], `row ${r}`).toBe(r >= 8 && r < 24 ? plain[r] : 0);
      expect(Array.from(k.matmul(T.Q4_0!, p, rows, cols, xs, 3, { impl, packed: true }))).toEqual(Array.from(k.matmul(T.Q4_0!, w, rows, cols, xs, 3, { impl })));
    }
  });

  for (const lanes of [16, 8] as const) {
    it(`swiglu (${lanes}-lane build): bit-identical on every length and on saturating, tiny and signed-zero inputs`, () => {
      const specials = [0, -0, 1e-30, -1e-30, 88.5, -88.5, 89, -89, 103.9, -104, 150, -150, 300, -300, 1e6, -1e6];
      for (const n of [1, 7, 8, 9, 15, 16, 17, 31, 48, 768, 1000]) {
        const gate = gaussian(n, n, 4);
        const up = gaussian(n, n + 1);
        for (let i = 0; i < n; i += 3) gate[i] = specials[i % specials.length]!;
        const simd = k.swiglu(gate, up, { impl: 'avx2', lanes });
        const ref = k.swiglu(gate, up, { impl: 'scalar', lanes });
        for (let i = 0; i < n; i++) expect(Object.is(simd[i], ref[i]), `n=${n} i=${i} gate=${gate[i]}: ${simd[i]} vs ${ref[i]}`).toBe(true);
      }
    });

    it(`swiglu (${lanes}-lane build): within 1e-6 relative of silu(gate)·up in f64 (ggml expf ≤ 1.5 ulp)`, () => {
      const n = 4096 + 5;
      const gate = gaussian(n, 11, 6);
      const up = gaussian(n, 12);
      const y = k.swiglu(gate, up, { lanes });
      let worst = 0;
      for (let i = 0; i < n; i++) {
        const g = gate[i]!;
        const exact = (g / (1 + Math.exp(-g))) * up[i]!;
        worst = Math.max(worst, Math.abs(y[i]! - exact) / Math.max(Math.abs(exact), 1e-30));
      }
      expect(worst).toBeLessThan(1e-6);
    });

    it(`dotF16Ggml (${lanes}-lane build): bit-identical for every length, within 1e-6·Σ|k·q|`, () => {
      const r = rng(5);
      for (const n of [1, 8, 16, 32, 40, 63, 64, 65, 72, 96, 128, 136, 200, 256]) {
        for (let rep = 0; rep < 5; rep++) {
          const kb = new Uint16Array(n).map(() => f16Bits((r() - 0.5) * 8));
          const q = new Float32Array(n).map(() => f16Value(f16Bits((r() - 0.5) * 8)));
          const simd = k.dotF16Ggml(kb, q, { impl: 'avx2', lanes });
          const ref = k.dotF16Ggml(kb, q, { impl: 'scalar', lanes });
          expect(Object.is(simd, ref), `n=${n}: ${simd} vs ${ref}`).toBe(true);
          let abs = 0;
          let exact = 0;
          for (let i = 0; i < n; i++) {
            abs += Math.abs(f16Value(kb[i]!) * q[i]!);
            exact += f16Value(kb[i]!) * q[i]!;
          }
          expect(Math.abs(ref - exact)).toBeLessThanOrEqual(1e-6 * abs + 1e-30);
        }
      }
    });
  }

  it('the two builds differ: the 8- and 16-lane orders are distinct computations', () => {
    // guards against one flavour silently running for both
    const r = rng(9);
    let dotDiffers = false;
    for (let rep = 0; rep < 50 && !dotDiffers; rep++) {
      const kb = new Uint16Array(64).map(() => f16Bits((r() - 0.5) * 8));
      const q = new Float32Array(64).map(() => f16Value(f16Bits((r() - 0.5) * 8)));
      dotDiffers = k.dotF16Ggml(kb, q, { lanes: 8 }) !== k.dotF16Ggml(kb, q, { lanes: 16 });
    }
    expect(dotDiffers).toBe(true);
    const gate = gaussian(4096, 3, 4);
    const up = gaussian(4096, 4);
    const a = k.swiglu(gate, up, { lanes: 8 });
    const b = k.swiglu(gate, up, { lanes: 16 });
    expect(a.some((v, i) => v !== b[i])).toBe(true);
  });
});

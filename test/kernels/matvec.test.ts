/**
 * The engine-facing entry points: matvec over a row range (how worker threads split a matrix) and
 * matmul over several activations (prefill). Results must equal the per-row, per-vector products
 * exactly, in both implementations, whatever the split. matmul takes the dot product llama.cpp's
 * batch kernels take: for F32 (ROWS × COLS here, COLS a multiple of the vector width) that is
 * llamafile's sgemm order, not the single-vector order (the Q4_0/Q4_K cases are in ggml-order.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { gaussian, kernels, WEIGHT_TYPES, type Impl } from './support/kernels.js';

const k = kernels();
const T = k.types;
const impls: Impl[] = k.hasAvx2() ? ['scalar', 'avx2'] : ['scalar'];
const ROWS = 45;
const COLS = 512;

describe('kernels: matvec row ranges and batched matmul', () => {
  for (const impl of impls) {
    it(`${impl}: any split of the rows gives the full matvec's values, untouched rows stay 0`, () => {
      const x = gaussian(COLS, 3);
      for (const type of WEIGHT_TYPES) {
        const w = k.quantize(T[type]!, gaussian(ROWS * COLS, 4));
        const full = k.matvec(T[type]!, w, ROWS, COLS, x, { impl });
        for (const [r0, r1] of [
          [0, 1],
          [1, 6],
          [3, 45],
          [13, 29],
          [44, 45],
          [20, 20],
        ] as const) {
          const part = k.matvec(T[type]!, w, ROWS, COLS, x, { impl, r0, r1 });
          const expected = full.map((v, r) => (r >= r0 && r < r1 ? v : 0));
          expect(Array.from(part), `${type} [${r0}, ${r1})`).toEqual(Array.from(expected));
        }
      }
    });

    it(`${impl}: matmul of n vectors equals n matvecs`, () => {
      const nVec = 5;
      const xs = gaussian(nVec * COLS, 8);
      for (const type of WEIGHT_TYPES) {
        const w = k.quantize(T[type]!, gaussian(ROWS * COLS, 9));
        const y = k.matmul(T[type]!, w, ROWS, COLS, xs, nVec, { impl });
        expect(y.length).toBe(nVec * ROWS);
        const rowBytes = k.rowSize(T[type]!, COLS);
        for (let v = 0; v < nVec; v++) {
          const x = xs.subarray(v * COLS, (v + 1) * COLS);
          const one =
            type === 'F32'
              ? Float32Array.from({ length: ROWS }, (_, r) =>
                  k.vecDotQuantized(T.F32!, w.subarray(r * rowBytes, (r + 1) * rowBytes), new Uint8Array(x.buffer, x.byteOffset, x.byteLength), COLS, { impl, order: 'gemm' }),
                )
              : k.matvec(T[type]!, w, ROWS, COLS, x, { impl });
          expect(Array.from(y.subarray(v * ROWS, (v + 1) * ROWS)), `${type} vector ${v}`).toEqual(Array.from(one));
        }
      }
    });
  }

  it('rejects row ranges outside the matrix', () => {
    const w = k.quantize(T.Q8_0!, new Float32Array(4 * 32));
    expect(() => k.matvec(T.Q8_0!, w, 4, 32, new Float32Array(32), { r0: 3, r1: 5 })).toThrow(/r1 must be an integer/);
    expect(() => k.matvec(T.Q8_0!, w, 4, 32, new Float32Array(32), { r0: -1 })).toThrow(/r0 must be an integer/);
  });

  it('rejects shapes whose byte counts would overflow instead of wrapping around', () => {
    const w = new Uint8Array(34);
    expect(() => k.matvec(T.Q8_0!, w, 2 ** 40, 2 ** 13, new Float32Array(2 ** 13))).toThrow(/too large/);
    expect(() => k.matmul(T.Q8_0!, w, 1, 32, new Float32Array(32), 2 ** 50)).toThrow(/too large/);
    expect(() => k.matmul(T.Q8_0!, w, 1, 32, new Float32Array(31), 1)).toThrow(
      expect.objectContaining({ code: 'ABI_ERR_INVALID_ARG' }),
    );
  });
});

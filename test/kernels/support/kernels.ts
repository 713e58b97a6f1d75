/**
 * Typed view of the native `exports.kernels` test binding (native/engine/quant/kernels_binding.cpp)
 * plus seeded data generators shared by the kernel tests and bench/kernels.bench.ts.
 */
import { loadBinding } from '../../../lib/native/binding.js';

/** Which CPU implementation a call uses: the scalar reference, AVX2/FMA, or the process default. */
export type Impl = 'scalar' | 'avx2' | 'best';

export interface TypeInfo {
  id: number;
  name: string;
  blockSize: number;
  typeSize: number;
  supported: boolean;
  vecDotType: number;
}

export interface KernelsBinding {
  types: Record<string, number>;
  quantize(type: number, values: Float32Array): Uint8Array;
  quantizeActivation(type: number, values: Float32Array, opts?: { impl?: Impl }): Uint8Array;
  dequantize(type: number, bytes: Uint8Array, n: number): Float32Array;
  vecDot(type: number, weightsRow: Uint8Array, x: Float32Array, opts?: { impl?: Impl }): number;
  /**
   * order: for Q4_0/Q4_K, ggml's interleaved-kernel order for one row ('gemv') or a group of four
   * ('gemm'); for F32, 'gemm' is llamafile's sgemm order (batches of two or more).
   */
  vecDotQuantized(
    type: number,
    weightsRow: Uint8Array,
    xAct: Uint8Array,
    n: number,
    opts?: { impl?: Impl; order?: 'plain' | 'gemv' | 'gemm' },
  ): number;
  /**
   * silu(gate)·up as the engine's feed-forward block computes it: ggml's vector expf of the llama.cpp
   * build with that vector width (lanes 16: AVX-512, 8: AVX2; default: the one for this CPU).
   */
  swiglu(gate: Float32Array, up: Float32Array, opts?: { impl?: Impl; lanes?: 8 | 16 }): Float32Array;
  /** The attention's K·Q dot product in ggml_vec_dot_f16's order for that build (k as f16 bits). */
  dotF16Ggml(k: Uint16Array, q: Float32Array, opts?: { impl?: Impl; lanes?: 8 | 16 }): number;
  /** Rows outside [r0, r1) (default: all rows) are left 0. */
  matvec(
    type: number,
    weights: Uint8Array,
    rows: number,
    cols: number,
    x: Float32Array,
    /** packed: the weights are packQ4_0x8's output; the results equal the row-major matrix's. */
    opts?: { impl?: Impl; r0?: number; r1?: number; packed?: boolean },
  ): Float32Array;
  /** nVec activations back to back in xs; the result is vector-major: y[v * rows + r]. */
  /** The engine's block_q4_0x8 copy of a Q4_0 matrix with rows % 8 == 0 (for `packed: true`). */
  packQ4_0x8(weights: Uint8Array, rows: number, cols: number): Uint8Array;
  /** packed: the weights are packQ4_0x8's output; the results equal the row-major matrix's. */
  matmul(type: number, weights: Uint8Array, rows: number, cols: number, xs: Float32Array, nVec: number, opts?: { impl?: Impl; packed?: boolean }): Float32Array;
  rowSize(type: number, n: number): number;
  typeInfo(type: number): TypeInfo;
  hasAvx2(): boolean;
  activeImpl(): 'scalar' | 'avx2';
}

export function kernels(): KernelsBinding {
  return loadBinding().kernels as KernelsBinding;
}

/** Weight types the CPU kernels support, with their ggml names. */
export const WEIGHT_TYPES = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_K', 'Q5_K', 'Q6_K'] as const;
export type WeightType = (typeof WEIGHT_TYPES)[number];

/** mulberry32: small, fast, seedable; good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n normally distributed floats (Box–Muller), scaled by `sigma`. */
export function gaussian(n: number, seed: number, sigma = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r() || Number.MIN_VALUE;
    out[i] = sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

/** Bytes of one fp16 value, little-endian (for hand-built blocks). */
export function f16Bytes(bits: number): [number, number] {
  return [bits & 0xff, bits >>> 8];
}

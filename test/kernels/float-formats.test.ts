import { describe, expect, it } from 'vitest';
import { halfToNumber } from './support/doc-dequant.js';
import { kernels, rng } from './support/kernels.js';

const k = kernels();
const F16 = k.types.F16!;
const BF16 = k.types.BF16!;

const toHalf = (x: Float32Array, impl: 'scalar' | 'avx2' = 'scalar') =>
  new Uint16Array(k.quantizeActivation(F16, x, { impl }).buffer.slice(0));
const halves = (bits: number[]) => {
  const h = new Uint16Array(bits);
  return k.dequantize(F16, new Uint8Array(h.buffer), h.length);
};

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** fp32 → binary16 bits by exact double arithmetic: nearest, ties to even (IEEE 754). */
function oracleHalf(v: number): number {
  if (Number.isNaN(v)) return -1; // any NaN encoding; checked separately
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | roundHalfEven(a / 2 ** -24);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  let m = roundHalfEven(a / 2 ** (e - 10));
  if (m === 2048) {
    m = 1024;
    e += 1;
  }
  return sign | ((e + 15) << 10) | (m - 1024);
}

function randomFloats(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) bits[i] = Math.floor(r() * 2 ** 32);
  // bias half of them into the f16 range so normal, subnormal and overflow paths all get hits
  for (let i = 0; i < n; i += 2) bits[i] = (bits[i]! & 0x807fffff) | ((100 + Math.floor(r() * 46)) << 23);
  return new Float32Array(bits.buffer);
}

describe('kernels: fp16 conversion', () => {
  it('widens all 65536 half values exactly', () => {
    const all = halves(Array.from({ length: 65536 }, (_, i) => i));
    const wrong: string[] = [];
    for (let h = 0; h < 65536; h++) {
      const want = halfToNumber(h);
      const ok = Number.isNaN(want) ? Number.isNaN(all[h]) : Object.is(all[h], want);
      if (!ok) wrong.push(`0x${h.toString(16)} → ${all[h]}, want ${want}`);
    }
    expect(wrong).toEqual([]);
  });

  it('narrowing round-trips every non-NaN half and keeps NaN a NaN', () => {
    const all = halves(Array.from({ length: 65536 }, (_, i) => i));
    const back = toHalf(all);
    const wrong: string[] = [];
    for (let h = 0; h < 65536; h++) {
      const b = back[h]!;
      const ok = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0 ? (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0 : b === h;
      if (!ok) wrong.push(`0x${h.toString(16)} → 0x${b.toString(16)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('rounds to nearest even at edges: ties, subnormals, overflow, signed zero', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [1 + 2 ** -11, 0x3c00], // tie → even mantissa 0
      [1 + 3 * 2 ** -11, 0x3c02], // tie → even mantissa 2
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [65504, 0x7bff], // largest half
      [65519.99, 0x7bff],
      [65520, 0x7c00], // tie between 65504 and 2^16 → even → inf
      [1e10, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie → even (0)
      [3 * 2 ** -25, 0x0002], // tie 1.5 → 2
      [2 ** -25 + 2 ** -40, 0x0001],
      [1023 * 2 ** -24, 0x03ff], // largest subnormal
      [2 ** -14 - 2 ** -26, 0x0400], // rounds up into the normals
      [-1e-30, 0x8000],
    ];
    const got = toHalf(new Float32Array(cases.map(([v]) => v)));
    cases.forEach(([v, bits], i) => expect(got[i], `${v}`).toBe(bits));
    const nan = toHalf(new Float32Array([NaN]))[0]!;
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
  });

  it('narrows 200k random floats exactly like an exact-arithmetic oracle', () => {
    const x = randomFloats(200_000, 11);
    const got = toHalf(x);
    const wrong: string[] = [];
    for (let i = 0; i < x.length; i++) {
      if (Number.isNaN(x[i]) || got[i] === oracleHalf(x[i]!)) continue;
      wrong.push(`${x[i]} → 0x${got[i]!.toString(16)}, want 0x${oracleHalf(x[i]!).toString(16)}`);
    }
    expect(wrong).toEqual([]);
  });

  it.runIf(k.hasAvx2())('F16C conversion (AVX2 activation path) is bit-identical to the scalar one', () => {
    const x = randomFloats(100_003, 12); // odd length exercises the scalar tail
    expect(Buffer.from(toHalf(x, 'avx2').buffer).equals(Buffer.from(toHalf(x, 'scalar').buffer))).toBe(true);
  });
});

describe('kernels: bf16 conversion', () => {
  const toBf16 = (x: Float32Array) => new Uint16Array(k.quantize(BF16, x).buffer.slice(0));
  const fromBf16 = (bits: number[]) => {
    const h = new Uint16Array(bits);
    return k.dequantize(BF16, new Uint8Array(h.buffer), h.length);
  };

  it('widens by shifting into the top half of an f32', () => {
    const bits = Array.from({ length: 65536 }, (_, i) => i);
    const got = fromBf16(bits);
    const view = new Uint32Array(got.buffer);
    expect(view.every((u, i) => u === (i << 16) >>> 0)).toBe(true);
  });

  it('rounds to nearest even and forces NaN quiet', () => {
    const f = (u: number) => new Float32Array(new Uint32Array([u]).buffer)[0]!;
    const cases: [number, number][] = [
      [0x3f808000, 0x3f80], // tie, even stays
      [0x3f818000, 0x3f82], // tie, odd rounds up
      [0x3f808001, 0x3f81], // above the tie
      [0x7f7fffff, 0x7f80], // max f32 rounds to inf
      [0xff800000, 0xff80], // -inf
      [0x7f800001, 0x7fc0], // signalling NaN → quiet
      [0x80000001, 0x8000], // tiny negative subnormal rounds to -0
      [0x00000000, 0x0000],
    ];
    const got = toBf16(new Float32Array(cases.map(([u]) => f(u))));
    cases.forEach(([u, bits], i) => expect(got[i], `0x${u.toString(16)}`).toBe(bits));
  });
});

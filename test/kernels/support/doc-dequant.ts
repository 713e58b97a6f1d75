/**
 * Dequantizers written straight from the formulas in shared/reference/gguf.md §8, in TypeScript,
 * as an oracle independent of the C++ code: a block layout mistake on either side shows up as a
 * mismatch. Slow and simple on purpose.
 */

/** IEEE binary16 bits → number (exact). */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const i8 = (v: number) => (v << 24) >> 24;

function scaleMinK4(j: number, s: Uint8Array, o: number): [number, number] {
  if (j < 4) return [s[o + j]! & 63, s[o + j + 4]! & 63];
  return [(s[o + j + 4]! & 0x0f) | ((s[o + j - 4]! >> 6) << 4), (s[o + j + 4]! >> 4) | ((s[o + j]! >> 6) << 4)];
}

/** Dequantizes `n` elements of a supported ggml type; f32 math rounded per element like the C++. */
export function docDequantize(type: string, b: Uint8Array, n: number): Float32Array {
  const y = new Float32Array(n);
  const f = Math.fround;
  switch (type) {
    case 'Q4_0':
      for (let blk = 0; blk < n / 32; blk++) {
        const o = blk * 18;
        const d = halfToNumber(u16(b, o));
        for (let j = 0; j < 16; j++) {
          y[blk * 32 + j] = f(((b[o + 2 + j]! & 0xf) - 8) * d);
          y[blk * 32 + j + 16] = f(((b[o + 2 + j]! >> 4) - 8) * d);
        }
      }
      return y;
    case 'Q8_0':
      for (let blk = 0; blk < n / 32; blk++) {
        const o = blk * 34;
        const d = halfToNumber(u16(b, o));
        for (let j = 0; j < 32; j++) y[blk * 32 + j] = f(i8(b[o + 2 + j]!) * d);
      }
      return y;
    case 'Q4_K':
    case 'Q5_K': {
      const q5 = type === 'Q5_K';
      const size = q5 ? 176 : 144;
      for (let blk = 0; blk < n / 256; blk++) {
        const o = blk * size;
        const d = halfToNumber(u16(b, o));
        const dmin = halfToNumber(u16(b, o + 2));
        const qh = o + 16;
        const qs = o + (q5 ? 48 : 16);
        for (let c = 0; c < 4; c++) {
          const [scA, mA] = scaleMinK4(2 * c, b, o + 4);
          const [scB, mB] = scaleMinK4(2 * c + 1, b, o + 4);
          for (let l = 0; l < 32; l++) {
            const byte = b[qs + 32 * c + l]!;
            const hiA = q5 && (b[qh + l]! >> (2 * c)) & 1 ? 16 : 0;
            const hiB = q5 && (b[qh + l]! >> (2 * c + 1)) & 1 ? 16 : 0;
            y[blk * 256 + 64 * c + l] = f(f(f(d * scA) * ((byte & 0xf) + hiA)) - f(dmin * mA));
            y[blk * 256 + 64 * c + 32 + l] = f(f(f(d * scB) * ((byte >> 4) + hiB)) - f(dmin * mB));
          }
        }
      }
      return y;
    }
    case 'Q6_K':
      for (let blk = 0; blk < n / 256; blk++) {
        const o = blk * 210;
        const d = halfToNumber(u16(b, o + 208));
        for (let h = 0; h < 2; h++) {
          const ql = o + 64 * h;
          const qh = o + 128 + 32 * h;
          const sc = o + 192 + 8 * h;
          for (let l = 0; l < 32; l++) {
            const is = Math.floor(l / 16);
            const q1 = ((b[ql + l]! & 0xf) | (((b[qh + l]! >> 0) & 3) << 4)) - 32;
            const q2 = ((b[ql + l + 32]! & 0xf) | (((b[qh + l]! >> 2) & 3) << 4)) - 32;
            const q3 = ((b[ql + l]! >> 4) | (((b[qh + l]! >> 4) & 3) << 4)) - 32;
            const q4 = ((b[ql + l + 32]! >> 4) | (((b[qh + l]! >> 6) & 3) << 4)) - 32;
            const base = blk * 256 + 128 * h;
            y[base + l] = f(d * i8(b[sc + is]!) * q1);
            y[base + 32 + l] = f(d * i8(b[sc + is + 2]!) * q2);
            y[base + 64 + l] = f(d * i8(b[sc + is + 4]!) * q3);
            y[base + 96 + l] = f(d * i8(b[sc + is + 6]!) * q4);
          }
        }
      }
      return y;
    default:
      throw new Error(`docDequantize: ${type} not covered`);
  }
}

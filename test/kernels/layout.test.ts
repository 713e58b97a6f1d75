import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { docDequantize } from './support/doc-dequant.js';
import { f16Bytes, gaussian, kernels, rng, WEIGHT_TYPES } from './support/kernels.js';

const k = kernels();
const T = k.types;

// ggml-common.h static_asserts / gguf.md §8 and §3.
const LAYOUT: Record<string, { id: number; block: number; bytes: number }> = {
  F32: { id: 0, block: 1, bytes: 4 },
  F16: { id: 1, block: 1, bytes: 2 },
  Q4_0: { id: 2, block: 32, bytes: 18 },
  Q8_0: { id: 8, block: 32, bytes: 34 },
  Q4_K: { id: 12, block: 256, bytes: 144 },
  Q5_K: { id: 13, block: 256, bytes: 176 },
  Q6_K: { id: 14, block: 256, bytes: 210 },
  Q8_K: { id: 15, block: 256, bytes: 292 },
  BF16: { id: 30, block: 1, bytes: 2 },
};

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
// +0 folds −0 into 0: decoders may differ in the sign of an exact zero, which no consumer sees.
const values = (a: Float32Array) => Array.from(a, (v) => v + 0);
const f32 = (s: string) => {
  const b = b64(s);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
};

describe('kernels: type ids and block layouts', () => {
  it('uses ggml ids, block sizes and bytes per block', () => {
    for (const [name, l] of Object.entries(LAYOUT)) {
      expect(T[name], name).toBe(l.id);
      const info = k.typeInfo(l.id);
      expect([info.blockSize, info.typeSize], name).toEqual([l.block, l.bytes]);
    }
    expect(T.Q4_1).toBe(3);
    expect(T.IQ4_XS).toBe(23);
    expect(k.typeInfo(T.Q4_1!).supported).toBe(false);
  });

  it('pairs each weight type with the activation type llama.cpp uses', () => {
    const pair = (w: string) => k.typeInfo(T[w]!).vecDotType;
    expect(pair('Q4_0')).toBe(T.Q8_0);
    expect(pair('Q8_0')).toBe(T.Q8_0);
    for (const w of ['Q4_K', 'Q5_K', 'Q6_K']) expect(pair(w)).toBe(T.Q8_K);
    expect(pair('F16')).toBe(T.F16);
    expect(pair('BF16')).toBe(T.BF16);
    expect(pair('F32')).toBe(T.F32);
  });

  it('quantized rows are exactly rowSize bytes, and rowSize is blocks × bytes per block', () => {
    for (const name of WEIGHT_TYPES) {
      const { id, block, bytes } = LAYOUT[name]!;
      for (const blocks of [1, 2, 7, 16]) {
        const n = blocks * Math.max(block, 256);
        expect(k.rowSize(id, n), name).toBe((n / block) * bytes);
        expect(k.quantize(id, gaussian(n, blocks)).length, name).toBe(k.rowSize(id, n));
      }
    }
    expect(k.rowSize(T.Q8_K!, 512)).toBe(584);
  });

  it('rejects lengths that are not whole blocks, unknown ids and unsupported types', () => {
    expect(() => k.quantize(T.Q4_K!, new Float32Array(255))).toThrow(expect.objectContaining({ code: 'ABI_ERR_INVALID_ARG' }));
    expect(() => k.rowSize(T.Q4_0!, 33)).toThrow(/whole number of q4_0 blocks/);
    expect(() => k.rowSize(4, 32)).toThrow(/unknown ggml type id/); // retired id
    expect(() => k.rowSize(43, 32)).toThrow(/unknown ggml type id/);
    expect(() => k.quantize(T.Q4_1!, new Float32Array(32))).toThrow(/not supported/);
    expect(() => k.dequantize(T.Q8_0!, new Uint8Array(33), 32)).toThrow(/34 bytes, got 33/);
    expect(() => k.vecDot(T.Q8_0!, new Uint8Array(34), new Float32Array(32), { impl: 'sse' as 'avx2' })).toThrow(
      /impl must be/,
    );
  });

  it('decodes a hand-built Q4_0 block as gguf.md §8 describes (low nibbles first half, high second)', () => {
    // d = 0.5 (fp16 0x3800); byte j holds j in the low nibble and 15 − j in the high nibble
    const block = new Uint8Array([...f16Bytes(0x3800), ...Array.from({ length: 16 }, (_, j) => j | ((15 - j) << 4))]);
    const y = k.dequantize(T.Q4_0!, block, 32);
    for (let j = 0; j < 16; j++) {
      expect(y[j]).toBe((j - 8) * 0.5);
      expect(y[j + 16]).toBe((15 - j - 8) * 0.5);
    }
  });

  it('decodes a hand-built Q6_K block with its fp16 scale stored last', () => {
    const block = new Uint8Array(210);
    block.fill(0x00, 0, 128); // low 4 bits 0
    block.fill(0xaa, 128, 192); // high 2 bits = 2 for every element → q = 32 − 32 = 0 ... then adjust one
    for (let s = 0; s < 16; s++) block[192 + s] = s + 1; // int8 scales 1..16
    block[208] = 0x00;
    block[209] = 0x40; // d = 2.0
    block[0] = 0x05; // element 0: q = (5 | 2<<4) − 32 = 5, sub-block 0 scale 1
    block[128 + 16] = 0xab; // element 16 (sub-block 1, scale 2): high bits 3 → q = 48 − 32 = 16
    const y = k.dequantize(T.Q6_K!, block, 256);
    expect(y[0]).toBe(2 * 1 * 5);
    expect(y[16]).toBe(2 * 2 * 16);
    expect(y[1]).toBe(0);
    expect(y.filter((v) => v !== 0).length).toBe(2);
  });

  it('dequantizes random blocks exactly as the formulas of gguf.md §8 (independent TS decoder)', () => {
    const r = rng(7);
    for (const name of ['Q4_0', 'Q8_0', 'Q4_K', 'Q5_K', 'Q6_K']) {
      const { id } = LAYOUT[name]!;
      const n = 1024;
      const bytes = new Uint8Array(k.rowSize(id, n)).map(() => Math.floor(r() * 256));
      // keep fp16 scales finite: clear the exponent's top bit (max |d| < 2)
      const { block, bytes: size } = LAYOUT[name]!;
      for (let b = 0; b < n / block; b++) {
        const scaleOffsets = name === 'Q6_K' ? [208] : name.endsWith('_K') ? [0, 2] : [0];
        for (const o of scaleOffsets) bytes[b * size + o + 1]! &= 0xbf;
      }
      expect(values(k.dequantize(id, bytes, n)), name).toEqual(values(docDequantize(name, bytes, n)));
    }
  });

  it("agrees byte for byte with gguf-py's decoders and quantizers (fixtures/gguf-py-vectors.json)", () => {
    const fx = JSON.parse(readFileSync(new URL('./fixtures/gguf-py-vectors.json', import.meta.url), 'utf8')) as {
      types: Record<string, { id: number; n: number; blocks?: string; dequant?: string; input?: string; quantized?: string }>;
    };
    expect(Object.keys(fx.types).sort()).toEqual(['BF16', 'Q4_0', 'Q4_K', 'Q5_K', 'Q6_K', 'Q8_0']);
    for (const [name, e] of Object.entries(fx.types)) {
      if (e.blocks && e.dequant) {
        expect(values(k.dequantize(e.id, b64(e.blocks), e.n)), `${name} dequant`).toEqual(values(f32(e.dequant)));
      }
      if (e.input && e.quantized) {
        expect(Buffer.from(k.quantize(e.id, f32(e.input))).toString('hex'), `${name} quantize`).toBe(
          Buffer.from(b64(e.quantized)).toString('hex'),
        );
      }
    }
  });
});

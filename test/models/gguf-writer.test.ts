/** GGUF writer: read back by the engine's reader and loaded and run by llama.cpp itself. */
import { mkdtempSync, openSync, readSync, closeSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { inspectGguf } from '../../lib/engine/inspect.js';
import { InvalidArgumentError } from '../../lib/errors.js';
import { f32ToBf16, f32ToF16, meta, tensorBytes, writeGguf, type GgmlTypeName } from '../../lib/models/gguf-writer.js';
import { seededRandom, writeSyntheticLlama } from '../../lib/models/synthetic-model.js';
import { bpeVocab } from '../../lib/models/synthetic-vocab.js';
import { loadBinding } from '../../lib/native/binding.js';
import { ensureOracle, runOracle } from './oracle.js';

// llama.cpp runs in a child process; the first use may install tools/oracle (npm ci, ~10-20 s).
vi.setConfig({ testTimeout: 120_000 });
beforeAll(() => ensureOracle(), 300_000);

const dir = mkdtempSync(join(tmpdir(), 'abi-gguf-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kernels = loadBinding().kernels as { dequantize(type: number, data: Uint8Array, n: number): Float32Array };
const TYPE_ID: Record<GgmlTypeName, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 8, q4_K: 12, q5_K: 13, q6_K: 14, bf16: 30 };

function readAt(path: string, offset: number, bytes: number): Uint8Array {
  const buf = Buffer.alloc(bytes);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buf, 0, bytes, offset);
  } finally {
    closeSync(fd);
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

describe('GGUF writer', () => {
  it('writes metadata of every type, including arrays, that the engine reader reads back', () => {
    const path = join(dir, 'meta.gguf');
    writeGguf(path, {
      metadata: [
        ['t.u8', meta.u8(200)],
        ['t.i8', meta.i8(-100)],
        ['t.u16', meta.u16(60000)],
        ['t.i16', meta.i16(-30000)],
        ['t.u32', meta.u32(4_000_000_000)],
        ['t.i32', meta.i32(-2_000_000_000)],
        ['t.f32', meta.f32(1.5)],
        ['t.bool', meta.bool(true)],
        ['t.str', meta.str('héllo ▁ 😀')],
        ['t.u64', meta.u64(2n ** 60n)],
        ['t.i64', meta.i64(-(2n ** 40n))],
        ['t.f64', meta.f64(Math.PI)],
        ['t.arr_str', meta.array('string', ['a', '', '▁b'])],
        ['t.arr_i32', meta.array('int32', [1, -2, 3])],
        ['t.arr_f32', meta.array('float32', [0.5, -0.25])],
        ['t.arr_bool', meta.array('bool', [true, false])],
        ['t.arr_empty', meta.array('uint32', [])],
      ],
      tensors: [{ name: 'x', shape: [4], type: 'f32', data: Float32Array.from([1, 2, 3, 4]) }],
    });
    const info = inspectGguf(path);
    const m = info.metadata;
    expect(info.version).toBe(3);
    expect([m['t.u8'], m['t.i8'], m['t.u16'], m['t.i16'], m['t.u32'], m['t.i32'], m['t.f32'], m['t.bool'], m['t.str']]).toEqual([
      200, -100, 60000, -30000, 4_000_000_000, -2_000_000_000, 1.5, true, 'héllo ▁ 😀',
    ]);
    expect(BigInt(m['t.u64'] as bigint)).toBe(2n ** 60n);
    expect(Number(m['t.i64'])).toBe(-(2 ** 40));
    expect(m['t.f64']).toBe(Math.PI);
    expect(m['t.arr_str']).toEqual(['a', '', '▁b']);
    expect(m['t.arr_i32']).toEqual([1, -2, 3]);
    expect(m['t.arr_f32']).toEqual([0.5, -0.25]);
    expect(m['t.arr_bool']).toEqual([true, false]);
    expect(m['t.arr_empty']).toEqual([]);
    expect(info.metadataTypes['t.u8']).toBe('uint8');
    expect(info.metadataTypes['t.arr_str']).toBe('array<string>');
    expect(info.metadataTypes['t.i64']).toBe('int64');
  });

  it('honours general.alignment for the data section and every tensor offset', () => {
    const path = join(dir, 'align.gguf');
    const tensors = [3, 5, 7].map((n, i) => ({ name: `t${i}`, shape: [n], type: 'f32' as const, data: new Float32Array(n).fill(i + 1) }));
    writeGguf(path, { metadata: [['general.architecture', meta.str('llama')]], tensors, alignment: 64 });
    const info = inspectGguf(path);
    expect(info.alignment).toBe(64);
    expect(info.metadata['general.alignment']).toBe(64);
    expect(info.dataOffset % 64).toBe(0);
    for (const t of info.tensors) expect((t.offset - info.dataOffset) % 64).toBe(0);
    const last = info.tensors.at(-1)!;
    expect(statSync(path).size).toBe(last.offset + last.bytes);
    expect(Array.from(new Float32Array(readAt(path, info.tensors[1]!.offset, 20).slice().buffer))).toEqual([2, 2, 2, 2, 2]);
  });

  // Bound on the normalised mean squared error of quantize → dequantize for Gaussian-like data.
  const NMSE: Record<GgmlTypeName, number> = { f32: 0, f16: 1e-6, bf16: 1e-4, q8_0: 1e-4, q6_K: 1e-3, q5_K: 4e-3, q4_K: 1e-2, q4_0: 2e-2 };
  for (const type of Object.keys(NMSE) as GgmlTypeName[]) {
    it(`stores ${type} tensors that dequantize back to the values (NMSE ≤ ${NMSE[type]})`, () => {
      const path = join(dir, `t-${type}.gguf`);
      const rand = seededRandom(7);
      const values = Float32Array.from({ length: 512 * 3 }, () => (rand() + rand() + rand() - 1.5) * 2);
      writeGguf(path, { metadata: [], tensors: [{ name: 'w', shape: [512, 3], type, data: values }] });
      const t = inspectGguf(path).tensors[0]!;
      expect(t.bytes).toBe(tensorBytes(type, [512, 3]));
      const back = kernels.dequantize(TYPE_ID[type], readAt(path, t.offset, t.bytes), values.length);
      let err = 0;
      let ref = 0;
      for (let i = 0; i < values.length; i++) {
        err += (back[i]! - values[i]!) ** 2;
        ref += values[i]! ** 2;
      }
      expect(err / ref).toBeLessThanOrEqual(NMSE[type]);
      if (type === 'f32') expect(Array.from(back)).toEqual(Array.from(values));
    });
  }

  it('converts to f16 and bf16 with round-to-nearest-even', () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(-2)).toBe(0xc000);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(1e6)).toBe(0x7c00);
    expect(f32ToF16(2 ** -24)).toBe(0x0001);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(f32ToF16(NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80);
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);
  });

  it('rejects rows that do not fit a block, duplicate keys and a bad alignment', () => {
    expect(() => writeGguf(join(dir, 'bad.gguf'), { metadata: [], tensors: [{ name: 'w', shape: [128, 2], type: 'q4_K', data: new Float32Array(256) }] })).toThrow(
      /multiple of 256/,
    );
    expect(() => writeGguf(join(dir, 'bad.gguf'), { metadata: [['a', meta.u8(1)], ['a', meta.u8(2)]], tensors: [] })).toThrow(InvalidArgumentError);
    expect(() => writeGguf(join(dir, 'bad.gguf'), { metadata: [], tensors: [], alignment: 48 })).toThrow(/power of two/);
    expect(() => writeGguf(join(dir, 'bad.gguf'), { metadata: [], tensors: [{ name: 'w', shape: [4], type: 'f32', data: new Float32Array(3) }] })).toThrow(
      /expected 16/,
    );
  });
});

describe('llama.cpp runs synthetic models written by our writer', () => {
  const types: GgmlTypeName[] = ['f16', 'q8_0', 'q4_0', 'q4_K', 'q5_K', 'q6_K'];
  it(`loads and greedy-decodes llama models stored as ${types.join(', ')} (n_embd 256, n_ff 768, GQA)`, () => {
    for (const type of types) {
      const path = join(dir, `llama-${type}.gguf`);
      writeSyntheticLlama(path, { nEmbd: 256, nFf: 768, nLayer: 2, nHead: 4, nHeadKv: 2, type, seed: 3 });
      const r = runOracle({ model: path, generate: { prompts: [{ text: 'Once upon a time' }], maxTokens: 24, topLogprobs: 2 } });
      const g = r.generate![0]!;
      expect(g.ids, type).toHaveLength(24);
      // Random weights still give a peaked, finite distribution: the model really ran.
      for (const s of g.steps!) expect(Number.isFinite(s.top[0]!.logprob), type).toBe(true);
    }
  });

  it('and a GPT-2 BPE vocabulary model', () => {
    const path = join(dir, 'llama-bpe.gguf');
    writeSyntheticLlama(path, { nEmbd: 256, nFf: 768, nLayer: 1, type: 'q8_0', vocab: bpeVocab({ merges: 300 }) });
    const g = runOracle({ model: path, generate: { prompts: [{ text: 'The sun was warm' }], maxTokens: 16 } }).generate![0]!;
    expect(g.promptIds.length).toBeGreaterThan(0);
    expect(g.ids).toHaveLength(16);
  });
});

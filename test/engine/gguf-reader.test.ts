import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GgufError } from '../../lib/errors.js';
import { type GgufInfo, inspectGguf } from '../../lib/engine/inspect.js';
import { rebuild } from './support/gguf-bytes.js';
import { storiesPath, storiesSkipReason } from './support/model-path.js';

const skip = storiesSkipReason();
if (skip) console.warn(`skipping GGUF reader tests on stories260K: ${skip}`);

describe.skipIf(skip)('GGUF reader on stories260K', () => {
  let dir: string;
  let original: Buffer;
  let info: GgufInfo;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'abi-gguf-'));
    original = readFileSync(storiesPath);
    info = inspectGguf(storiesPath);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, bytes: Uint8Array): string => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  it('reads the header facts documented for the file', () => {
    expect(info.version).toBe(3);
    expect(info.alignment).toBe(32);
    expect(info.dataOffset).toBe(14176);
    expect(info.fileSize).toBe(1_185_376);
    expect(Object.keys(info.metadata)).toHaveLength(19);
    expect(info.tensors).toHaveLength(48);
    expect(info.metadata['general.architecture']).toBe('llama');
    expect(info.metadata['llama.attention.head_count_kv']).toBe(4);
    expect(info.metadata['tokenizer.ggml.seperator_token_id']).toBe(4294967295);
    expect((info.metadata['tokenizer.ggml.tokens'] as string[])[259]).toBe('\u2581t');
    const ffnDown = info.tensors.find((t) => t.name === 'blk.0.ffn_down.weight');
    expect(ffnDown).toMatchObject({ type: 'f32', shape: [172, 64], offset: 14176 + 355840, bytes: 172 * 64 * 4 });
    const last = info.tensors[info.tensors.length - 1]!;
    expect(last.offset + last.bytes).toBe(info.fileSize);
  });

  it('accepts 64-bit metadata integers, v2, unknown keys and a larger alignment', () => {
    const wide = inspectGguf(write('wide.gguf', rebuild(info, original, { wide: true, version: 2, alignment: 64, extra: [{ key: 'x.unknown.key', type: 'string', value: 'ignored' }] })));
    expect(wide.version).toBe(2);
    expect(wide.alignment).toBe(64);
    expect(wide.metadataTypes['llama.embedding_length']).toBe('uint64');
    expect(wide.metadata['llama.embedding_length']).toBe(64);
    expect(wide.dataOffset % 64).toBe(0);
    expect(wide.tensors.map((t) => t.bytes)).toEqual(info.tensors.map((t) => t.bytes));
  });

  it('rejects a non-power-of-two alignment naming the key', () => {
    const p = write('align.gguf', rebuild(info, original, { alignment: 48 }));
    expect(() => inspectGguf(p)).toThrow(/general\.alignment.*not a power of two/);
  });

  it('rejects v1, future versions, big-endian and bad magic with clear messages', () => {
    const v = (version: number): string => {
      const copy = Buffer.from(original);
      copy.writeUInt32LE(version, 4);
      return write(`v${version}.gguf`, copy);
    };
    expect(() => inspectGguf(v(1))).toThrow(/v1 is no longer supported/);
    expect(() => inspectGguf(v(4))).toThrow(/unsupported GGUF version 4/);
    expect(() => inspectGguf(v(0x03000000))).toThrow(/big-endian/);
    const magic = Buffer.from(original);
    magic.write('GGML', 0, 'latin1');
    expect(() => inspectGguf(write('magic.gguf', magic))).toThrow(/not a GGUF file/);
  });

  it('names the tensor whose type or extent is wrong', () => {
    const firstInfo = original.indexOf(Buffer.from('token_embd.weight'));
    // name (17 bytes) + n_dims u32 + 2 × u64 dims, then the u32 type id.
    const typeAt = firstInfo + 17 + 4 + 16;
    const badType = Buffer.from(original);
    badType.writeUInt32LE(99, typeAt);
    expect(() => inspectGguf(write('type.gguf', badType))).toThrow(/tensor 'token_embd\.weight': unknown ggml type id 99/);
    const retired = Buffer.from(original);
    retired.writeUInt32LE(4, typeAt);
    expect(() => inspectGguf(write('retired.gguf', retired))).toThrow(/token_embd\.weight.*retired/);
    const blocky = Buffer.from(original);
    blocky.writeUInt32LE(12, typeAt); // q4_K needs rows that are multiples of 256
    expect(() => inspectGguf(write('blocky.gguf', blocky))).toThrow(/token_embd\.weight.*multiple of the q4_K block size 256/);
    const huge = Buffer.from(original);
    huge.writeBigUInt64LE(1n << 40n, firstInfo + 17 + 4 + 8);
    expect(() => inspectGguf(write('huge.gguf', huge))).toThrow(/token_embd\.weight/);
  });

  it('fails every truncation with an error naming the file, never a crash', () => {
    const cuts = new Set<number>([0, 3, 4, 7, 8, 23, 24, 25, 1000, 14151, 14152, 14175, 14176, 14177, 200_000, original.length - 1]);
    for (let i = 0; i < 60; i++) cuts.add(Math.floor((i / 60) * original.length));
    for (const cut of cuts) {
      const p = write(`cut-${cut}.gguf`, original.subarray(0, cut));
      let caught: unknown;
      try {
        inspectGguf(p);
      } catch (err) {
        caught = err;
      }
      expect(caught, `cut at ${cut}`).toBeInstanceOf(GgufError);
      expect((caught as Error).message).toContain(p);
      rmSync(p);
    }
  });

  it('survives random header mutations: parses or throws GgufError, never crashes', () => {
    const p = join(dir, 'fuzz.gguf');
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat({ max: info.dataOffset - 1 }), byte: fc.nat({ max: 255 }) }), { minLength: 1, maxLength: 8 }),
        (edits) => {
          const copy = Buffer.from(original);
          for (const e of edits) copy[e.at] = e.byte;
          writeFileSync(p, copy);
          try {
            const parsed = inspectGguf(p);
            for (const t of parsed.tensors) expect(t.offset + t.bytes).toBeLessThanOrEqual(parsed.fileSize);
          } catch (err) {
            expect(err).toBeInstanceOf(GgufError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('fuzzes the count fields with extreme values', () => {
    const p = join(dir, 'counts.gguf');
    fc.assert(
      fc.property(fc.constantFrom(8, 16), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (at, value) => {
        const copy = Buffer.from(original);
        copy.writeBigUInt64LE(value, at);
        writeFileSync(p, copy);
        try {
          inspectGguf(p);
        } catch (err) {
          expect(err).toBeInstanceOf(GgufError);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('GGUF reader without a model', () => {
  it('reports a missing file with the path', () => {
    expect(() => inspectGguf('/nonexistent/model.gguf')).toThrow(/\/nonexistent\/model\.gguf: cannot open/);
  });
});

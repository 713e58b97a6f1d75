/** Streaming detokenisation: never half a UTF-8 character, and the same text as a whole decode. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bpeVocab, spmVocab } from '../../lib/models/synthetic-vocab.js';
import { createDetokenizer, createTokenizer, tokenizerFromGguf, vocabFromMetadata, type NativeTokenizer } from '../../lib/models/vocab.js';
import { stories260K } from '../models/oracle.js';
import type { GgufValue } from '../../lib/engine/inspect.js';

function fromSynthetic(v: ReturnType<typeof spmVocab>): NativeTokenizer {
  const metadata: Record<string, GgufValue> = {};
  for (const [k, m] of v.metadata) metadata[k] = (m.type === 'array' ? Array.from(m.value) : m.value) as GgufValue;
  return createTokenizer(vocabFromMetadata(metadata));
}

const spm = fromSynthetic(spmVocab());
const bpe = fromSynthetic(bpeVocab({ merges: 300 }));
const byteToken = (b: number): number => 3 + b; // synthetic SPM: <unk> <s> </s> then <0x00>..<0xFF>

describe('detokenizer', () => {
  it('holds back an incomplete multi-byte character until its last byte arrives', () => {
    const d = createDetokenizer(spm);
    const bytes = [...Buffer.from('😀', 'utf8')];
    expect(bytes).toHaveLength(4);
    expect(d.push(byteToken(bytes[0]!))).toBe('');
    expect(d.pendingBytes).toBe(1);
    expect(d.push(byteToken(bytes[1]!))).toBe('');
    expect(d.push(byteToken(bytes[2]!))).toBe('');
    expect(d.pendingBytes).toBe(3);
    expect(d.push(byteToken(bytes[3]!))).toBe('😀');
    expect(d.pendingBytes).toBe(0);
    expect(d.flush()).toBe('');
  });

  it('replaces invalid bytes at once instead of holding them, and an unfinished tail at flush', () => {
    const d = createDetokenizer(spm);
    expect(d.push(byteToken(0xff))).toBe('\ufffd');
    expect(d.push(byteToken(0xe2))).toBe('');
    expect(d.push(byteToken(0x61))).toBe('\ufffda');
    expect(d.push(byteToken(0xe2))).toBe('');
    expect(d.push(byteToken(0x82))).toBe('');
    expect(d.flush()).toBe('\ufffd\ufffd');
  });

  it('strips the space-prefix of the first word only when asked', () => {
    const ids = Array.from(spm.encode('the sun', false, false));
    const plain = createDetokenizer(spm);
    const stripped = createDetokenizer(spm, { stripLeadingSpace: true });
    expect(ids.map((id) => plain.push(id)).join('') + plain.flush()).toBe(' the sun');
    expect(ids.map((id) => stripped.push(id)).join('') + stripped.flush()).toBe('the sun');
  });

  it('control tokens are silent unless special', () => {
    const quiet = createDetokenizer(spm);
    const loud = createDetokenizer(spm, { special: true });
    expect(quiet.push(2)).toBe('');
    expect(loud.push(2)).toBe('</s>');
  });

  for (const [label, tok] of [['SPM', spm], ['BPE', bpe]] as const) {
    it(`${label}: streaming any text token by token gives back exactly that text, each chunk valid UTF-8`, () => {
      fc.assert(
        fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (text) => {
          const ids = tok.encode(text, false, false);
          const d = createDetokenizer(tok, { stripLeadingSpace: true });
          const chunks: string[] = [];
          for (const id of ids) chunks.push(d.push(id));
          chunks.push(d.flush());
          for (const c of chunks) expect(c.includes('\ufffd')).toBe(false);
          expect(chunks.join('')).toBe(text);
        }),
        { numRuns: 300, seed: 42 },
      );
    });
  }

  it.skipIf(!stories260K())('stories260K: the streamed golden ids read as the documented sentence', () => {
    const tok = tokenizerFromGguf(stories260K()!);
    const ids = [403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338];
    const d = createDetokenizer(tok, { stripLeadingSpace: true });
    expect(ids.map((id) => d.push(id)).join('') + d.flush()).toBe('Once upon a time, there was a little girl named Lily. She');
  });
});

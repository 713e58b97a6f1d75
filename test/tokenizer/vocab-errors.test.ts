/** A malformed vocabulary is a clear ABI_ERR_TOKENIZER error naming the field, never a crash. */
import { describe, expect, it } from 'vitest';
import { VocabError } from '../../lib/errors.js';
import { createTokenizer, vocabFromMetadata } from '../../lib/models/vocab.js';

const tokens = ['<unk>', '<s>', '</s>', 'a', 'b'];

describe('vocabulary validation', () => {
  it('names the offending field', () => {
    expect(() => createTokenizer({ kind: 'llama', tokens: [] })).toThrow(/tokenizer.ggml.tokens is empty/);
    expect(() => createTokenizer({ kind: 'llama', tokens, scores: [0, 0] })).toThrow(/tokenizer.ggml.scores has 2 entries, expected 5/);
    expect(() => createTokenizer({ kind: 'llama', tokens, tokenTypes: [1] })).toThrow(/tokenizer.ggml.token_type has 1 entries/);
    expect(() => createTokenizer({ kind: 'gpt2', tokens, merges: ['a b'], pre: 'no-such-pre', bosId: 1, eosId: 2 })).toThrow(/tokenizer.ggml.pre = 'no-such-pre' is not a supported/);
    expect(() => createTokenizer({ kind: 'gpt2', tokens, bosId: 1, eosId: 2 })).toThrow(/tokenizer.ggml.merges is missing/);
    expect(() => createTokenizer({ kind: 'llama', tokens, bosId: -1, addBos: true })).toThrow(/add_bos_token is set but there is no BOS/);
    try {
      createTokenizer({ kind: 'llama', tokens: [] });
    } catch (err) {
      expect(err).toBeInstanceOf(VocabError);
      expect((err as VocabError).code).toBe('ABI_ERR_TOKENIZER');
    }
  });

  it('a special id outside the vocabulary falls back to the default with a warning, as in llama.cpp', () => {
    const tok = createTokenizer({ kind: 'llama', tokens, eosId: 9, padId: 70000 });
    expect(tok.info.eosId).toBe(2);
    expect(tok.info.warnings).toEqual([
      'tokenizer.ggml.eos_token_id = 9 is outside the vocabulary of 5 tokens; using 2',
      'tokenizer.ggml.padding_token_id = 70000 is outside the vocabulary of 5 tokens; using none',
    ]);
  });

  it('rejects unsupported tokenizer models and missing tokens in metadata', () => {
    expect(() => vocabFromMetadata({ 'tokenizer.ggml.model': 'bert', 'tokenizer.ggml.tokens': tokens }, 'x.gguf')).toThrow(
      /x.gguf: tokenizer.ggml.model is "bert"; supported: "llama", "gpt2"/,
    );
    expect(() => vocabFromMetadata({ 'tokenizer.ggml.model': 'llama' }, 'x.gguf')).toThrow(/tokenizer.ggml.tokens is missing/);
  });

  it('maps u32 0xFFFFFFFF ids to "none" and keeps absent keys at llama.cpp defaults', () => {
    const v = vocabFromMetadata({
      'tokenizer.ggml.model': 'llama',
      'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.padding_token_id': 0xffffffff,
      'tokenizer.ggml.add_bos_token': false,
    });
    expect(v.padId).toBe(-1);
    expect(v.bosId).toBeUndefined();
    const tok = createTokenizer(v);
    expect(tok.info).toMatchObject({ bosId: 1, eosId: 2, unkId: 0, addBos: false, addSpacePrefix: true });
    expect(tok.encode('ab', true, false)[0]).not.toBe(1); // add_bos_token false wins over the SPM default
  });

  it('a GPT-2 vocabulary without keys gets BPE defaults (bos = eos = 11, no BOS added)', () => {
    const bpeTokens = Array.from({ length: 12 }, (_, i) => String.fromCharCode(97 + i));
    const tok = createTokenizer({ kind: 'gpt2', tokens: bpeTokens, merges: ['a b'], pre: 'gpt-2' });
    expect(tok.info).toMatchObject({ bosId: 11, eosId: 11, unkId: -1, addBos: false, addSpacePrefix: false });
    expect(tok.isEog(11)).toBe(true);
  });
});

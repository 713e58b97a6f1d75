/**
 * Our tokenizer (native/engine/tokenizer) against llama.cpp's own tokenization (tools/oracle):
 * the same ids and the same decoded text for many strings, on the real stories260K SPM vocabulary
 * and on synthetic GPT-2 BPE / llama3-BPE / SPM vocabularies written with our GGUF writer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { seededRandom, writeSyntheticLlama } from '../../lib/models/synthetic-model.js';
import { bpeVocab, spmVocab } from '../../lib/models/synthetic-vocab.js';
import { tokenizerFromGguf } from '../../lib/models/vocab.js';
import { ensureOracle, runOracle, stories260K, type OracleResponse } from '../models/oracle.js';

// llama.cpp runs in a child process; the first use may install tools/oracle (npm ci, ~10-20 s).
vi.setConfig({ testTimeout: 120_000 });
beforeAll(() => ensureOracle(), 300_000);

const TEXTS = [
  'Once upon a time',
  'Hello world',
  ' leading space',
  'trailing space ',
  '  two leading spaces',
  'a  b   c    d',
  'tabs\tand\ttabs',
  'line\nbreaks\n\nand\r\nCRLF',
  '\n\n\n',
  '   ',
  ' ',
  "It's 2026 and I'm sure we'll see what they've done, don't you?",
  "IT'S LOUD AND WE'LL SHOUT",
  'numbers 1 12 123 1234 12345 3.14159 -42',
  'héllo wörld, café, naïve, Ångström',
  'emoji 😀 and family 👨‍👩‍👧 and flag 🇯🇵',
  '日本語のテキスト、中文文本。',
  'Ελληνικά και русский текст',
  'combining: e\u0301 a\u0300 and zero\u200bwidth',
  'symbols $%&#@!^*()[]{}<>~|\\/`',
  '"quoted" and (parenthesised) and — dashes – and … ellipsis',
  'The sun was warm and the sky was blue. "Can I have the ball?" she asked her mom.',
  '<s>hi</s> and <unk> as text',
  '<|endoftext|> in the middle <|endoftext|>',
  'x',
  '\u00a0non-breaking\u00a0space and\u3000ideographic',
  'mixed\t \n \t\nwhitespace  \n',
  'URL https://example.com/path?q=1&r=2#frag',
  'code: const x = (a, b) => a + b; // sum',
  'Ünïcödé ÛPPÉR and lower',
];

function expectParity(label: string, tok: ReturnType<typeof tokenizerFromGguf>, oracle: OracleResponse, special: boolean): void {
  expect(oracle.tokenize).toHaveLength(TEXTS.length);
  for (const row of oracle.tokenize!) {
    const ours = Array.from(tok.encode(row.text, false, special));
    expect(ours, `${label} ids for ${JSON.stringify(row.text)}`).toEqual(row.ids);
    const decoded = tok.detokenize(row.ids, false, special).toString('utf8');
    expect(decoded, `${label} detokenize for ${JSON.stringify(row.text)}`).toBe(row.detokenized);
  }
}

const stories = stories260K();

describe.skipIf(!stories)('tokenizer parity with llama.cpp on stories260K (SPM)', () => {
  it('matches llama_tokenize / llama_detokenize on every string, with and without special-token parsing', () => {
    const tok = tokenizerFromGguf(stories!);
    for (const special of [false, true]) {
      expectParity(`stories260K special=${special}`, tok, runOracle({ model: stories!, tokenize: { texts: TEXTS, special } }), special);
    }
  });

  it('adds BOS like llama.cpp when asked (add_special)', () => {
    const tok = tokenizerFromGguf(stories!);
    expect(Array.from(tok.encode('Once upon a time', true, false))).toEqual([1, 403, 407, 261, 378]);
    expect(Array.from(tok.encode('', true, false))).toEqual([1]);
    expect(Array.from(tok.encode('', false, false))).toEqual([]);
  });
});

describe('tokenizer parity with llama.cpp on synthetic vocabularies', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'abi-tok-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const cases: Array<[string, () => ReturnType<typeof bpeVocab>]> = [
    ['gpt2 BPE (pre gpt-2)', () => bpeVocab({ merges: 400, extraSpecial: ['<|im_start|>', '<|im_end|>'] })],
    ['llama3 BPE (pre llama-bpe)', () => bpeVocab({ merges: 400, pre: 'llama-bpe' })],
    ['BPE with the default pre-tokenizer', () => bpeVocab({ merges: 200, pre: 'default' })],
    ['qwen2 BPE', () => bpeVocab({ merges: 200, pre: 'qwen2' })],
    ['SPM with chat markers', () => spmVocab({ extraSpecial: ['<|im_start|>', '<|im_end|>'] })],
    ['SPM with user-defined tokens', () => spmVocab({ userDefined: ['<tool>', 'sun was', '▁warm'] })],
    ['gpt2 BPE with user-defined tokens', () => bpeVocab({ merges: 200, userDefined: ['<tool>', ' sky'] })],
  ];
  for (const [label, makeVocab] of cases) {
    it(`${label}: same ids and text as llama.cpp`, () => {
      const path = join(dir, `${label.replace(/\W+/g, '_')}.gguf`);
      writeSyntheticLlama(path, { nEmbd: 64, nLayer: 1, nHead: 2, nFf: 128, vocab: makeVocab() });
      const tok = tokenizerFromGguf(path);
      const texts = [...TEXTS, '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n', 'call <tool> now: the sun was warm, the sky <tool><tool>'];
      for (const special of [false, true]) {
        const oracle = runOracle({ model: path, tokenize: { texts, special } });
        for (const row of oracle.tokenize!) {
          expect(Array.from(tok.encode(row.text, false, special)), `${label} special=${special} ${JSON.stringify(row.text)}`).toEqual(row.ids);
          expect(tok.detokenize(row.ids, false, special).toString('utf8'), `${label} detok ${JSON.stringify(row.text)}`).toBe(row.detokenized);
        }
      }
    });
  }
});

describe('tokenizer parity with llama.cpp on random text', () => {
  // Deterministic random strings mixing ASCII words, whitespace runs, digits, punctuation,
  // accented letters, CJK, emoji (incl. ZWJ sequences) and control characters.
  const alphabet = [
    ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
    ' ', ' ', ' ', ' ', '  ', '\n', '\t', '\r\n', "'s", "'ll", '.', ',', '!', '?', '-', '"', '(', ')', '$', '%', '…', '—',
    'é', 'ö', 'ñ', 'ß', 'Å', 'ı', 'ǅ', '日', '本', '語', '中', '文', 'Ж', 'λ', '١', '²', '½',
    '😀', '👍🏽', '👨‍👩‍👧', '🇯🇵', '\u0301', '\u200b', '\u00a0', '\u3000', '\u0085', '\u0000', '\u001f', '\ufeff',
    'the', ' the', 'sun', ' was', 'Lily', ' play', '<s>', '</s>', '<|endoftext|>',
  ];
  const texts: string[] = [];
  const rand = seededRandom(2026);
  for (let i = 0; i < 250; i++) {
    let s = '';
    const n = 1 + Math.floor(rand() * 24);
    for (let j = 0; j < n; j++) s += alphabet[Math.floor(rand() * alphabet.length)];
    texts.push(s);
  }

  const models: Array<[string, () => string | undefined]> = [
    ['stories260K', () => stories],
    ['gpt2 BPE', () => {
      const path = join(mkdtempSync(join(tmpdir(), 'abi-tok-rand-')), 'bpe.gguf');
      writeSyntheticLlama(path, { nEmbd: 64, nLayer: 1, nHead: 2, nFf: 128, vocab: bpeVocab({ merges: 400 }) });
      return path;
    }],
  ];
  for (const [label, model] of models) {
    it.skipIf(label === 'stories260K' && !stories)(`${label}: ${texts.length} random strings give llama.cpp's ids and text`, () => {
      const path = model()!;
      for (const special of [false, true]) {
        const oracle = runOracle({ model: path, tokenize: { texts, special } });
        const tok = tokenizerFromGguf(path);
        for (const row of oracle.tokenize!) {
          expect(Array.from(tok.encode(row.text, false, special)), `${label} ${JSON.stringify(row.text)}`).toEqual(row.ids);
          expect(tok.detokenize(row.ids, false, special).toString('utf8'), `${label} detok ${JSON.stringify(row.text)}`).toBe(row.detokenized);
        }
      }
      if (label !== 'stories260K') rmSync(join(path, '..'), { recursive: true, force: true });
    });
  }
});

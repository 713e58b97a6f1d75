import { meta, type GgufMetaValue } from './gguf-writer.js';

/**
 * Small but real tokenizer vocabularies for synthetic GGUF models: an SPM (SentencePiece-style)
 * vocabulary with byte fallback, and a GPT-2 byte-level BPE vocabulary whose merges are learned
 * here from a fixed corpus, so llama.cpp and our tokenizer have real merge work to agree on.
 */

/** Token types as stored in `tokenizer.ggml.token_type`. */
export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

export interface SyntheticVocab {
  tokens: string[];
  /** The `tokenizer.*` metadata entries for this vocabulary. */
  metadata: Array<[string, GgufMetaValue]>;
}

const CORPUS = `Once upon a time, there was a little girl named Lily. She loved to play outside in the park.
One day, she saw a big, red ball. She wanted to play with it, but it was too high. The sun was warm and
the sky was blue. "Can I have the ball?" she asked her mom. Her mom smiled and said, "Yes, you can!"
They played together all day long and were very happy. The end. It's 2026 and the server streams tokens
over HTTP/1.1 with 200 OK responses; numbers like 12345 or 3.14159 and symbols such as $, %, & or #
appear too. Don't stop: we'll see what they've done, I'm sure you're right.`;

const SPM_WORDS = CORPUS.split(/\s+/).map((w) => w.replace(/[^A-Za-z']/g, '')).filter((w) => w.length > 1);

/**
 * SPM vocabulary: <unk>, <s>, </s>, the 256 byte tokens, single characters, then every prefix of
 * the corpus words with the ▁ space marker (so the score-ordered merges can build them), plus
 * `extraSpecial` control tokens (e.g. chat markers) and `userDefined` tokens (matched in text
 * even without special-token parsing).
 */
export function spmVocab(opts: { extraSpecial?: string[]; extraPieces?: string[]; userDefined?: string[] } = {}): SyntheticVocab {
  const tokens: string[] = ['<unk>', '<s>', '</s>'];
  const types: number[] = [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_TYPE.byte);
  }
  for (const s of opts.extraSpecial ?? []) {
    tokens.push(s);
    types.push(TOKEN_TYPE.control);
  }
  for (const s of opts.userDefined ?? []) {
    tokens.push(s);
    types.push(TOKEN_TYPE.userDefined);
  }
  const seen = new Set(tokens);
  const add = (piece: string): void => {
    if (seen.has(piece)) return;
    seen.add(piece);
    tokens.push(piece);
    types.push(TOKEN_TYPE.normal);
  };
  for (const c of '▁abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?\'"-:;()') add(c);
  for (const word of SPM_WORDS) {
    const w = `▁${word}`;
    for (let i = 2; i <= w.length; i++) add(w.slice(0, i));
    for (let i = 2; i <= word.length; i++) add(word.slice(0, i));
  }
  for (const p of opts.extraPieces ?? []) add(p);
  // Longer pieces get higher scores so whole words win over their prefixes, as in real SPM models.
  const scores = tokens.map((t, i) => (types[i] === TOKEN_TYPE.normal ? [...t].length * 10 - i / tokens.length : 0));
  return {
    tokens,
    metadata: [
      ['tokenizer.ggml.model', meta.str('llama')],
      ['tokenizer.ggml.tokens', meta.array('string', tokens)],
      ['tokenizer.ggml.scores', meta.array('float32', scores)],
      ['tokenizer.ggml.token_type', meta.array('int32', types)],
      ['tokenizer.ggml.bos_token_id', meta.u32(1)],
      ['tokenizer.ggml.eos_token_id', meta.u32(2)],
      ['tokenizer.ggml.unknown_token_id', meta.u32(0)],
    ],
  };
}

function bytesToUnicode(): string[] {
  const map: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    map[b] = String.fromCodePoint(printable ? b : 256 + extra++);
  }
  return map;
}

const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * GPT-2 byte-level BPE vocabulary: the 256 byte symbols, `merges` merges learned greedily (most
 * frequent adjacent pair first) from the corpus, and special tokens at the end (`<|endoftext|>`
 * first, which is also BOS/EOS as in GPT-2).
 */
export function bpeVocab(opts: { merges?: number; extraSpecial?: string[]; userDefined?: string[]; pre?: string } = {}): SyntheticVocab {
  const byteMap = bytesToUnicode();
  const encode = (s: string): string[] => [...Buffer.from(s, 'utf8')].map((b) => byteMap[b]!);
  const words = new Map<string, number>();
  for (const m of CORPUS.matchAll(GPT2_SPLIT)) {
    const key = encode(m[0]).join('\u0000');
    words.set(key, (words.get(key) ?? 0) + 1);
  }
  let seqs = [...words.entries()].map(([k, n]) => ({ syms: k.split('\u0000'), n }));
  const tokens: string[] = [...byteMap];
  const merges: string[] = [];
  const want = opts.merges ?? 300;
  while (merges.length < want) {
    const counts = new Map<string, number>();
    for (const { syms, n } of seqs) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const pair = `${syms[i]} ${syms[i + 1]}`;
        counts.set(pair, (counts.get(pair) ?? 0) + n);
      }
    }
    let best: string | undefined;
    let bestCount = 1;
    for (const [pair, c] of counts) {
      if (c > bestCount || (c === bestCount && best !== undefined && pair < best)) {
        best = pair;
        bestCount = c;
      }
    }
    if (!best) break;
    const [l, r] = best.split(' ') as [string, string];
    merges.push(best);
    tokens.push(l + r);
    seqs = seqs.map(({ syms, n }) => {
      const out: string[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === l && syms[i + 1] === r) {
          out.push(l + r);
          i++;
        } else {
          out.push(syms[i]!);
        }
      }
      return { syms: out, n };
    });
  }
  const types: number[] = tokens.map(() => TOKEN_TYPE.normal);
  const eosId = tokens.length;
  for (const s of ['<|endoftext|>', ...(opts.extraSpecial ?? [])]) {
    tokens.push(s);
    types.push(TOKEN_TYPE.control);
  }
  for (const s of opts.userDefined ?? []) {
    tokens.push(s);
    types.push(TOKEN_TYPE.userDefined);
  }
  return {
    tokens,
    metadata: [
      ['tokenizer.ggml.model', meta.str('gpt2')],
      ['tokenizer.ggml.pre', meta.str(opts.pre ?? 'gpt-2')],
      ['tokenizer.ggml.tokens', meta.array('string', tokens)],
      ['tokenizer.ggml.token_type', meta.array('int32', types)],
      ['tokenizer.ggml.merges', meta.array('string', merges)],
      ['tokenizer.ggml.bos_token_id', meta.u32(eosId)],
      ['tokenizer.ggml.eos_token_id', meta.u32(eosId)],
    ],
  };
}

import { VocabError } from '../errors.js';
import { inspectGguf, type GgufInfo, type GgufValue } from '../engine/inspect.js';
import { loadBinding } from '../native/binding.js';

/** Options for the native Tokenizer, read from GGUF `tokenizer.ggml.*` metadata. */
export interface VocabOptions {
  /** `llama` (SentencePiece-style) or `gpt2` (byte-level BPE). */
  kind: 'llama' | 'gpt2';
  /** BPE pre-tokenizer name (`gpt-2`, `llama-bpe`, ...); empty means llama.cpp's default. */
  pre?: string;
  tokens: string[];
  scores?: number[] | Float32Array;
  tokenTypes?: number[] | Int32Array;
  merges?: string[];
  bosId?: number;
  eosId?: number;
  unkId?: number;
  padId?: number;
  eotId?: number;
  addBos?: boolean;
  addEos?: boolean;
  addSpacePrefix?: boolean;
}

/** The native tokenizer (native/engine/tokenizer), as exposed by the addon's test binding. */
export interface NativeTokenizer {
  /**
   * Text → token ids; addSpecial adds BOS/EOS as the vocabulary asks; parseSpecial recognises
   * control-token text except inside `literalRanges` (flat UTF-8 byte pairs [start, end, ...],
   * e.g. `applyChatTemplate(...).literalRanges.flat()`).
   */
  encode(text: string | Uint8Array, addSpecial?: boolean, parseSpecial?: boolean, literalRanges?: number[]): Int32Array;
  /** The bytes of one token (control tokens give nothing unless `special`). */
  tokenToPiece(id: number, special?: boolean): Buffer;
  /** Whole-sequence decode like llama_detokenize. */
  detokenize(ids: ArrayLike<number>, removeSpecial?: boolean, unparseSpecial?: boolean): Buffer;
  isEog(id: number): boolean;
  readonly info: {
    kind: 'llama' | 'gpt2';
    nVocab: number;
    bosId: number;
    eosId: number;
    eotId: number;
    unkId: number;
    addBos: boolean;
    addEos: boolean;
    addSpacePrefix: boolean;
    /** Problems tolerated at load (e.g. a special id outside the vocabulary replaced by its default). */
    warnings: string[];
  };
}

/** Streaming decoder that only ever returns whole UTF-8 characters. */
export interface NativeDetokenizer {
  push(id: number): string;
  flush(): string;
  readonly pendingBytes: number;
}

interface TokenizerBinding {
  Tokenizer: new (opts: VocabOptions) => NativeTokenizer;
  Detokenizer: new (tok: NativeTokenizer, opts?: { special?: boolean; stripLeadingSpace?: boolean }) => NativeDetokenizer;
}

export { VocabError };

const NO_TOKEN = 0xffffffff;

function idOf(value: GgufValue | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) return undefined;
  return n === NO_TOKEN || n < 0 ? -1 : n;
}

function boolOf(value: GgufValue | undefined): boolean | undefined {
  return typeof value === 'boolean' ? value : undefined;
}

/** Reads the tokenizer options from GGUF metadata, leaving absent keys to llama.cpp's defaults. */
export function vocabFromMetadata(metadata: Record<string, GgufValue>, file = 'model'): VocabOptions {
  const model = metadata['tokenizer.ggml.model'];
  if (model !== 'llama' && model !== 'gpt2') {
    throw new VocabError(`${file}: tokenizer.ggml.model is ${JSON.stringify(model)}; supported: "llama", "gpt2"`);
  }
  const tokens = metadata['tokenizer.ggml.tokens'];
  if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== 'string')) {
    throw new VocabError(`${file}: tokenizer.ggml.tokens is missing or not a string array`);
  }
  const opts: VocabOptions = { kind: model, tokens: tokens as string[] };
  const pre = metadata['tokenizer.ggml.pre'];
  if (typeof pre === 'string') opts.pre = pre;
  const scores = metadata['tokenizer.ggml.scores'];
  if (Array.isArray(scores)) opts.scores = scores.map(Number);
  const types = metadata['tokenizer.ggml.token_type'];
  if (Array.isArray(types)) opts.tokenTypes = types.map(Number);
  const merges = metadata['tokenizer.ggml.merges'];
  if (Array.isArray(merges)) opts.merges = merges.map(String);
  const ids: Array<[keyof VocabOptions, string]> = [
    ['bosId', 'tokenizer.ggml.bos_token_id'],
    ['eosId', 'tokenizer.ggml.eos_token_id'],
    ['unkId', 'tokenizer.ggml.unknown_token_id'],
    ['padId', 'tokenizer.ggml.padding_token_id'],
    ['eotId', 'tokenizer.ggml.eot_token_id'],
  ];
  for (const [field, key] of ids) {
    const id = idOf(metadata[key]);
    if (id !== undefined) (opts as unknown as Record<string, number>)[field] = id;
  }
  const flags: Array<[keyof VocabOptions, string]> = [
    ['addBos', 'tokenizer.ggml.add_bos_token'],
    ['addEos', 'tokenizer.ggml.add_eos_token'],
    ['addSpacePrefix', 'tokenizer.ggml.add_space_prefix'],
  ];
  for (const [field, key] of flags) {
    const flag = boolOf(metadata[key]);
    if (flag !== undefined) (opts as unknown as Record<string, boolean>)[field] = flag;
  }
  return opts;
}

function binding(): TokenizerBinding {
  return loadBinding().tokenizer as TokenizerBinding;
}

/** Builds the native tokenizer from explicit options. */
export function createTokenizer(opts: VocabOptions): NativeTokenizer {
  try {
    return new (binding().Tokenizer)(opts);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ABI_ERR_TOKENIZER') throw new VocabError((err as Error).message);
    throw err;
  }
}

/** Builds the native tokenizer from a GGUF file (or an already inspected one). */
export function tokenizerFromGguf(source: string | GgufInfo): NativeTokenizer {
  const info = typeof source === 'string' ? inspectGguf(source) : source;
  return createTokenizer(vocabFromMetadata(info.metadata, info.path));
}

/** A streaming detokenizer over `tok`. */
export function createDetokenizer(tok: NativeTokenizer, opts?: { special?: boolean; stripLeadingSpace?: boolean }): NativeDetokenizer {
  return new (binding().Detokenizer)(tok, opts);
}

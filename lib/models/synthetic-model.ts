import { InvalidArgumentError } from '../errors.js';
import { meta, writeGguf, type GgmlTypeName, type GgufMetaValue, type GgufTensorSpec } from './gguf-writer.js';
import { spmVocab, type SyntheticVocab } from './synthetic-vocab.js';

/** Shape and storage of a synthetic llama-architecture model. */
export interface SyntheticLlamaOptions {
  /** Hidden size (n_embd); a multiple of 256 to allow K-quants on every matrix. Default 256. */
  nEmbd?: number;
  /** Layers. Default 2. */
  nLayer?: number;
  /** Attention heads. Default 4. */
  nHead?: number;
  /** KV heads (GQA when < nHead). Default nHead. */
  nHeadKv?: number;
  /** FFN size. Default 768. */
  nFf?: number;
  /** Context length written to `llama.context_length`. Default 512. */
  contextLength?: number;
  /** Type of the 2-D weight matrices. Default f32. */
  type?: GgmlTypeName;
  /** Per-tensor type overrides by name suffix, e.g. `{ 'ffn_down.weight': 'q6_K', 'token_embd.weight': 'q8_0' }`. */
  typeOverrides?: Record<string, GgmlTypeName>;
  /** Write `output.weight` (otherwise tied to `token_embd.weight`). Default true. */
  untiedOutput?: boolean;
  /** Seed of the weight generator. Default 1. */
  seed?: number;
  /** Vocabulary; default the synthetic SPM vocabulary. */
  vocab?: SyntheticVocab;
  /** Extra metadata (e.g. `tokenizer.chat_template`). */
  extraMetadata?: Array<[string, GgufMetaValue]>;
  /** `general.name`. */
  name?: string;
}

/** Deterministic PRNG (mulberry32) so fixtures are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The ggml `general.file_type` that best describes a model stored mostly as `type`. */
export function fileTypeOf(type: GgmlTypeName): number {
  return { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_K: 15, q5_K: 17, q6_K: 18, bf16: 32 }[type];
}

/**
 * Builds the metadata and tensors of a random-weight llama model (llama.cpp's tensor names and
 * shapes, RMSNorm weights near 1, matrices scaled by 1/sqrt(fan-in) so activations stay O(1)).
 * Tensor data is generated lazily, tensor by tensor, when written.
 */
export function syntheticLlama(opts: SyntheticLlamaOptions = {}): { metadata: Array<[string, GgufMetaValue]>; tensors: GgufTensorSpec[] } {
  const nEmbd = opts.nEmbd ?? 256;
  const nLayer = opts.nLayer ?? 2;
  const nHead = opts.nHead ?? 4;
  const nHeadKv = opts.nHeadKv ?? nHead;
  const nFf = opts.nFf ?? 768;
  if (nEmbd % nHead !== 0) throw new InvalidArgumentError(`nEmbd ${nEmbd} is not a multiple of nHead ${nHead}`);
  if (nHead % nHeadKv !== 0) throw new InvalidArgumentError(`nHead ${nHead} is not a multiple of nHeadKv ${nHeadKv}`);
  const headDim = nEmbd / nHead;
  const vocab = opts.vocab ?? spmVocab();
  const nVocab = vocab.tokens.length;
  const type = opts.type ?? 'f32';
  const seed = opts.seed ?? 1;
  const typeFor = (name: string, fallback: GgmlTypeName): GgmlTypeName => {
    for (const [suffix, t] of Object.entries(opts.typeOverrides ?? {})) if (name.endsWith(suffix)) return t;
    return fallback;
  };
  let tensorIndex = 0;
  const matrix = (name: string, nIn: number, nOut: number): GgufTensorSpec => {
    const tseed = seed * 1000 + tensorIndex++;
    return {
      name,
      shape: [nIn, nOut],
      type: typeFor(name, type),
      data: () => {
        const rand = seededRandom(tseed);
        const scale = 2 / Math.sqrt(nIn);
        const out = new Float32Array(nIn * nOut);
        for (let i = 0; i < out.length; i++) out[i] = (rand() - 0.5) * scale * 1.7;
        return out;
      },
    };
  };
  const norm = (name: string): GgufTensorSpec => {
    const tseed = seed * 1000 + tensorIndex++;
    return {
      name,
      shape: [nEmbd],
      type: 'f32',
      data: () => {
        const rand = seededRandom(tseed);
        return Float32Array.from({ length: nEmbd }, () => 0.8 + rand() * 0.4);
      },
    };
  };
  const tensors: GgufTensorSpec[] = [];
  const embd = matrix('token_embd.weight', nEmbd, nVocab);
  const embdData = embd.data as () => Float32Array;
  // Embeddings are rows looked up directly, so give them unit-ish scale rather than 1/sqrt(n).
  embd.data = () => embdData().map((v) => v * Math.sqrt(nEmbd) * 0.5);
  tensors.push(embd, norm('output_norm.weight'));
  if (opts.untiedOutput !== false) tensors.push(matrix('output.weight', nEmbd, nVocab));
  for (let l = 0; l < nLayer; l++) {
    const p = `blk.${l}.`;
    tensors.push(
      norm(`${p}attn_norm.weight`),
      matrix(`${p}attn_q.weight`, nEmbd, nHead * headDim),
      matrix(`${p}attn_k.weight`, nEmbd, nHeadKv * headDim),
      matrix(`${p}attn_v.weight`, nEmbd, nHeadKv * headDim),
      matrix(`${p}attn_output.weight`, nHead * headDim, nEmbd),
      norm(`${p}ffn_norm.weight`),
      matrix(`${p}ffn_gate.weight`, nEmbd, nFf),
      matrix(`${p}ffn_up.weight`, nEmbd, nFf),
      matrix(`${p}ffn_down.weight`, nFf, nEmbd),
    );
  }
  const quantized = tensors.some((t) => t.type !== 'f32' && t.type !== 'f16' && t.type !== 'bf16');
  const metadata: Array<[string, GgufMetaValue]> = [
    ['general.architecture', meta.str('llama')],
    ['general.name', meta.str(opts.name ?? `synthetic-llama-${nEmbd}x${nLayer}-${type}`)],
    ['general.file_type', meta.u32(fileTypeOf(type))],
    ...(quantized ? ([['general.quantization_version', meta.u32(2)]] as Array<[string, GgufMetaValue]>) : []),
    ['llama.context_length', meta.u32(opts.contextLength ?? 512)],
    ['llama.embedding_length', meta.u32(nEmbd)],
    ['llama.block_count', meta.u32(nLayer)],
    ['llama.feed_forward_length', meta.u32(nFf)],
    ['llama.attention.head_count', meta.u32(nHead)],
    ['llama.attention.head_count_kv', meta.u32(nHeadKv)],
    ['llama.rope.dimension_count', meta.u32(headDim)],
    ['llama.rope.freq_base', meta.f32(10000)],
    ['llama.attention.layer_norm_rms_epsilon', meta.f32(1e-5)],
    ['llama.vocab_size', meta.u32(nVocab)],
    ...vocab.metadata,
    ...(opts.extraMetadata ?? []),
  ];
  return { metadata, tensors };
}

/** Writes a synthetic llama model to `path` (see syntheticLlama). */
export function writeSyntheticLlama(path: string, opts: SyntheticLlamaOptions = {}): void {
  writeGguf(path, syntheticLlama(opts));
}

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { modelsDir } from './cache.js';
import { meta, writeGguf, type GgufTensorSpec } from './gguf-writer.js';
import { TOKEN_TYPE } from './synthetic-vocab.js';

/**
 * The built-in demo model that `abi serve` runs when given no model and no config: a real GGUF
 * file, run by the real engine, whose synthetic weights are built (not trained) so that greedy
 * decoding prints one honest sentence saying what it is and how to serve a real model, then
 * ends its turn. It is generated offline, on first use, into the models directory.
 */

/** Name shown in `/v1/models` and the start-up log. */
export const DEMO_MODEL_NAME = 'abi-demo';
/** What the demo model says (greedy decoding of any prompt). */
export const DEMO_TEXT =
  'Hello! This is the abi-stream demo model: a tiny synthetic network that can only say this sentence. ' +
  'To serve real text, run abi model pull <owner>/<repo>/<file>.gguf and then abi serve --model <path>.';
const DEMO_VERSION = 1;
const CHATML =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** SPM pieces for the sentence, each used once (a repeated word is glued to its predecessor). */
function sentencePieces(): string[] {
  const pieces: string[] = [];
  const used = new Set<string>();
  for (const word of DEMO_TEXT.split(' ')) {
    let piece = `▁${word}`;
    while (used.has(piece) && pieces.length > 0) {
      const prev = pieces.pop()!;
      used.delete(prev);
      piece = prev + piece;
    }
    pieces.push(piece);
    used.add(piece);
  }
  return pieces;
}

/**
 * Builds the demo model: one llama layer whose attention and FFN weights are zero, so the
 * residual stream is just the current token's embedding. Sentence token k embeds as the unit
 * vector e_k; every other token (the prompt) embeds as e_K. After RMSNorm that is sqrt(n_embd)·e,
 * and the output matrix maps e_K to the first piece, e_k to piece k+1 and the last piece to
 * <|im_end|> (EOS), with a margin of 24 logits, so greedy and low-temperature sampling both
 * produce the sentence exactly.
 */
export function demoModelSpec(): { metadata: Parameters<typeof writeGguf>[1]['metadata']; tensors: GgufTensorSpec[] } {
  const special = ['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>'];
  const types: number[] = [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control, TOKEN_TYPE.control, TOKEN_TYPE.control];
  const tokens = [...special];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_TYPE.byte);
  }
  const pieces = sentencePieces();
  const firstPiece = tokens.length;
  for (const p of pieces) {
    tokens.push(p);
    types.push(TOKEN_TYPE.normal);
  }
  const eos = special.indexOf('<|im_end|>');
  const nVocab = tokens.length;
  const nEmbd = 64;
  const k = pieces.length;
  if (k + 1 > nEmbd) throw new Error(`demo sentence has ${k} pieces; n_embd ${nEmbd} is too small`);
  const gain = 3;

  const embd = new Float32Array(nEmbd * nVocab);
  for (let t = 0; t < nVocab; t++) {
    const slot = t >= firstPiece ? t - firstPiece : k;
    embd[t * nEmbd + slot] = 1;
  }
  const output = new Float32Array(nEmbd * nVocab);
  output[firstPiece * nEmbd + k] = gain; // prompt → first piece
  for (let i = 1; i < k; i++) output[(firstPiece + i) * nEmbd + (i - 1)] = gain; // piece i-1 → piece i
  output[eos * nEmbd + (k - 1)] = gain; // last piece → end of turn
  const ones = (n: number): Float32Array => new Float32Array(n).fill(1);
  const zeros = (nIn: number, nOut: number): GgufTensorSpec['data'] => () => new Float32Array(nIn * nOut);
  const nHead = 4;
  const nFf = 64;
  const tensors: GgufTensorSpec[] = [
    { name: 'token_embd.weight', shape: [nEmbd, nVocab], type: 'f32', data: embd },
    { name: 'output_norm.weight', shape: [nEmbd], type: 'f32', data: ones(nEmbd) },
    { name: 'output.weight', shape: [nEmbd, nVocab], type: 'f32', data: output },
    { name: 'blk.0.attn_norm.weight', shape: [nEmbd], type: 'f32', data: ones(nEmbd) },
    { name: 'blk.0.attn_q.weight', shape: [nEmbd, nEmbd], type: 'f32', data: zeros(nEmbd, nEmbd) },
    { name: 'blk.0.attn_k.weight', shape: [nEmbd, nEmbd], type: 'f32', data: zeros(nEmbd, nEmbd) },
    { name: 'blk.0.attn_v.weight', shape: [nEmbd, nEmbd], type: 'f32', data: zeros(nEmbd, nEmbd) },
    { name: 'blk.0.attn_output.weight', shape: [nEmbd, nEmbd], type: 'f32', data: zeros(nEmbd, nEmbd) },
    { name: 'blk.0.ffn_norm.weight', shape: [nEmbd], type: 'f32', data: ones(nEmbd) },
    { name: 'blk.0.ffn_gate.weight', shape: [nEmbd, nFf], type: 'f32', data: zeros(nEmbd, nFf) },
    { name: 'blk.0.ffn_up.weight', shape: [nEmbd, nFf], type: 'f32', data: zeros(nEmbd, nFf) },
    { name: 'blk.0.ffn_down.weight', shape: [nFf, nEmbd], type: 'f32', data: zeros(nFf, nEmbd) },
  ];
  const metadata: Parameters<typeof writeGguf>[1]['metadata'] = [
    ['general.architecture', meta.str('llama')],
    ['general.name', meta.str(`${DEMO_MODEL_NAME} (synthetic demo, not a language model)`)],
    ['general.description', meta.str('Built-in abi-stream demo: constructed weights that print one fixed sentence.')],
    ['general.file_type', meta.u32(0)],
    ['abi.demo.version', meta.u32(DEMO_VERSION)],
    ['llama.context_length', meta.u32(512)],
    ['llama.embedding_length', meta.u32(nEmbd)],
    ['llama.block_count', meta.u32(1)],
    ['llama.feed_forward_length', meta.u32(nFf)],
    ['llama.attention.head_count', meta.u32(nHead)],
    ['llama.attention.head_count_kv', meta.u32(nHead)],
    ['llama.rope.dimension_count', meta.u32(nEmbd / nHead)],
    ['llama.attention.layer_norm_rms_epsilon', meta.f32(1e-5)],
    ['tokenizer.ggml.model', meta.str('llama')],
    ['tokenizer.ggml.tokens', meta.array('string', tokens)],
    ['tokenizer.ggml.scores', meta.array('float32', tokens.map(() => 0))],
    ['tokenizer.ggml.token_type', meta.array('int32', types)],
    ['tokenizer.ggml.bos_token_id', meta.u32(1)],
    ['tokenizer.ggml.eos_token_id', meta.u32(eos)],
    ['tokenizer.ggml.unknown_token_id', meta.u32(0)],
    ['tokenizer.chat_template', meta.str(CHATML)],
  ];
  return { metadata, tensors };
}

/** Path the demo model is cached at for a models directory. */
export function demoModelPath(dir = modelsDir()): string {
  return join(dir, 'demo', `${DEMO_MODEL_NAME}-v${DEMO_VERSION}.gguf`);
}

/**
 * Returns the demo model's path, writing it first if it is not cached yet (about 200 KB, well
 * under a second; needs no network). The write is atomic, so concurrent callers are safe.
 */
export function ensureDemoModel(dir = modelsDir()): string {
  const path = demoModelPath(dir);
  if (existsSync(path)) return path;
  mkdirSync(join(dir, 'demo'), { recursive: true });
  writeGguf(path, demoModelSpec());
  return path;
}

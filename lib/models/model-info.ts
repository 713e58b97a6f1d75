import { inspectGguf, type GgufInfo } from '../engine/inspect.js';
import { detectChatTemplate, type ChatTemplateFamily } from '../engine/chat-template.js';

/** What `abi model info` reports about a GGUF file. */
export interface ModelSummary {
  path: string;
  name?: string;
  architecture: string;
  /** The file's quantization: `general.file_type` when present, else the type holding most bytes. */
  quantization: string;
  /** Bytes per stored tensor type. */
  tensorTypes: Record<string, number>;
  parameters: number;
  contextLength?: number;
  embeddingLength?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  vocabSize?: number;
  tokenizer?: string;
  chatTemplate?: string;
  chatTemplateFamily: ChatTemplateFamily;
  fileBytes: number;
}

/** llama_ftype names (general.file_type). */
const FILE_TYPES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K', 11: 'Q3_K_S', 12: 'Q3_K_M',
  13: 'Q3_K_L', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K', 19: 'IQ2_XXS', 20: 'IQ2_XS',
  21: 'Q2_K_S', 22: 'IQ3_XS', 23: 'IQ3_XXS', 24: 'IQ1_S', 25: 'IQ4_NL', 26: 'IQ3_S', 27: 'IQ3_M', 28: 'IQ2_S',
  29: 'IQ2_M', 30: 'IQ4_XS', 31: 'IQ1_M', 32: 'BF16',
};

function num(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

/** Summarises a GGUF header (read through the engine's reader; no weights are loaded). */
export function summarizeModel(pathOrInfo: string | GgufInfo): ModelSummary {
  const info = typeof pathOrInfo === 'string' ? inspectGguf(pathOrInfo) : pathOrInfo;
  const m = info.metadata;
  const arch = typeof m['general.architecture'] === 'string' ? m['general.architecture'] : 'unknown';
  const tensorTypes: Record<string, number> = {};
  let parameters = 0;
  for (const t of info.tensors) {
    parameters += t.elements;
    tensorTypes[t.type] = (tensorTypes[t.type] ?? 0) + t.bytes;
  }
  const fileType = num(m['general.file_type']);
  const dominant = Object.entries(tensorTypes).sort((a, b) => b[1] - a[1])[0]?.[0];
  const quantization = fileType !== undefined && FILE_TYPES[fileType] ? FILE_TYPES[fileType]! : (dominant ?? 'unknown').toUpperCase();
  const template = typeof m['tokenizer.chat_template'] === 'string' ? m['tokenizer.chat_template'] : undefined;
  const tokens = m['tokenizer.ggml.tokens'];
  const summary: ModelSummary = {
    path: info.path,
    architecture: arch,
    quantization,
    tensorTypes,
    parameters,
    chatTemplateFamily: detectChatTemplate(template),
    fileBytes: info.fileSize,
  };
  const set = <K extends keyof ModelSummary>(k: K, v: ModelSummary[K] | undefined): void => {
    if (v !== undefined) summary[k] = v;
  };
  set('name', typeof m['general.name'] === 'string' ? m['general.name'] : undefined);
  set('contextLength', num(m[`${arch}.context_length`]));
  set('embeddingLength', num(m[`${arch}.embedding_length`]));
  set('layers', num(m[`${arch}.block_count`]));
  set('heads', num(m[`${arch}.attention.head_count`]));
  set('kvHeads', num(m[`${arch}.attention.head_count_kv`]) ?? num(m[`${arch}.attention.head_count`]));
  set('vocabSize', num(m[`${arch}.vocab_size`]) ?? (Array.isArray(tokens) ? tokens.length : undefined));
  set('tokenizer', typeof m['tokenizer.ggml.model'] === 'string' ? m['tokenizer.ggml.model'] : undefined);
  set('chatTemplate', template);
  return summary;
}

/** 1234567 → "1.23M". */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

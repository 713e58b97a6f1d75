import { loadBinding } from '../native/binding.js';
import type { GgufInfo } from './inspect.js';

/** Options of the native model handle (see LocalModelOptions for the documented public form). */
export interface NativeModelOptions {
  contextLength?: number;
  maxContextLength?: number;
  threads?: number;
  batchSize?: number;
  maxQueue?: number;
  queueTimeoutMs?: number;
}

export interface NativeModelInfo {
  path: string;
  architecture: string;
  name: string;
  vocabSize: number;
  trainedContextLength: number;
  contextLength: number;
  embeddingLength: number;
  layers: number;
  heads: number;
  kvHeads: number;
  feedForwardLength: number;
  ropeFreqBase: number;
  tiedOutput: boolean;
  weightBytes: number;
  weightType: string;
  warnings: string[];
}

/** Fields the native generate() reads; see GenerateOptions in local-model.ts for their meaning. */
export interface NativeGenerateOptions {
  prompt?: string;
  promptTokens?: Int32Array;
  addSpecial?: boolean;
  parseSpecial?: boolean;
  /** Flat [start, end, …] UTF-8 byte ranges of `prompt` tokenized as plain text. */
  literalRanges?: number[];
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  penaltyLastN?: number;
  seed?: number;
  stop?: string[];
  logprobs?: number;
  ignoreEos?: boolean;
  stripLeadingSpace?: boolean;
  stallTimeoutMs?: number;
}

export interface NativeRequestResult {
  state: 'queued' | 'running' | 'done';
  finishReason?: 'stop' | 'length' | 'cancelled' | 'error';
  error?: { code: string; message: string };
  promptTokens?: number;
  cachedTokens?: number;
  completionTokens?: number;
  generatedAtCancel?: number;
  tokens?: Int32Array;
  timings?: { queueMs: number; promptMs: number; decodeMs: number };
}

export interface NativeRequest {
  cancel(): void;
  result(): NativeRequestResult;
}

export interface NativeModelStats {
  loaded: boolean;
  queued?: number;
  running?: boolean;
  threads?: number;
  contextLength?: number;
  kvCacheBytes?: number;
}

export interface NativeModel {
  info(): NativeModelInfo;
  /** Synchronous forward pass (tests and tools): logits of the last token. `reset` starts a new sequence. */
  evaluate(tokens: Int32Array, reset: boolean): Float32Array;
  tokenize(text: string, addSpecial?: boolean, parseSpecial?: boolean, literalRanges?: number[]): Int32Array;
  detokenize(ids: Int32Array): string;
  /** Queues a generation whose text records go into the ring behind `ringView`. Throws ABI_ERR_ENGINE_BUSY when the queue is full. */
  generate(options: NativeGenerateOptions, ringView: Int32Array): NativeRequest;
  stats(): NativeModelStats;
  close(): void;
}

/** The raw `exports.engine` surface of the addon; only lib/engine/ touches it. */
export interface EngineBinding {
  inspect(path: string): GgufInfo;
  Model: new (path: string, options?: NativeModelOptions) => NativeModel;
}

export function engineBinding(): EngineBinding {
  return loadBinding().engine as EngineBinding;
}

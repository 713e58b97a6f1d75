import { loadBinding } from '../native/binding.js';
import type { GgufInfo } from './inspect.js';
import type { GenerateOptions, LocalModelOptions } from './local-model.js';

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

/**
 * What the native generate() reads: GenerateOptions (local-model.ts, where each field is documented)
 * without the JS-side fields, with the prompt ids as an Int32Array and the literal ranges flattened to
 * [start, end, start, end, …].
 */
export type NativeGenerateOptions = Omit<GenerateOptions, 'signal' | 'ringCapacityBytes' | 'promptTokens' | 'literalRanges'> & {
  promptTokens?: Int32Array;
  literalRanges?: number[];
};

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
  Model: new (path: string, options?: LocalModelOptions) => NativeModel;
}

export function engineBinding(): EngineBinding {
  return loadBinding().engine as EngineBinding;
}

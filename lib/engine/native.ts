import { loadBinding } from '../native/binding.js';
import type { GgufInfo } from './inspect.js';

/** Options of the native model handle (see LocalModelOptions for the documented public form). */
export interface NativeModelOptions {
  contextLength?: number;
  maxContextLength?: number;
  threads?: number;
  batchSize?: number;
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

export interface NativeModel {
  info(): NativeModelInfo;
  /** Synchronous forward pass (tests and tools): logits of the last token. `reset` starts a new sequence. */
  evaluate(tokens: Int32Array, reset: boolean): Float32Array;
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

import { GgufError, InvalidArgumentError } from '../errors.js';
import { engineBinding } from './native.js';

/** A metadata value as stored: numbers (BigInt beyond 2^53), strings, booleans or flat arrays of them. */
export type GgufValue = number | bigint | string | boolean | Array<number | bigint | string | boolean>;

export interface GgufTensorInfo {
  name: string;
  /** ggml type name, e.g. `f32`, `q4_K`. */
  type: string;
  typeId: number;
  /** Elements per dimension, innermost (row length) first. */
  shape: number[];
  /** Absolute file offset of the tensor data. */
  offset: number;
  bytes: number;
  elements: number;
}

export interface GgufInfo {
  path: string;
  version: number;
  alignment: number;
  fileSize: number;
  dataOffset: number;
  metadata: Record<string, GgufValue>;
  /** Stored type of each metadata key, e.g. `uint32`, `array<string>`. */
  metadataTypes: Record<string, string>;
  tensors: GgufTensorInfo[];
}

/**
 * Reads and validates a GGUF file's header (metadata and tensor infos) without loading weights.
 * Throws GgufError naming the file and the offending key or tensor when it is truncated, corrupt
 * or unsupported.
 */
export function inspectGguf(path: string): GgufInfo {
  if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError('inspectGguf: path must be a non-empty string');
  try {
    return engineBinding().inspect(path);
  } catch (err) {
    throw toEngineError(err);
  }
}

/** Maps an error thrown by the addon (plain Error with a `code`) to the package's error classes. */
export function toEngineError(err: unknown): Error {
  const code = (err as { code?: unknown }).code;
  const message = (err as Error).message;
  if (code === 'ABI_ERR_GGUF') return new GgufError(message, { cause: err });
  return err as Error;
}

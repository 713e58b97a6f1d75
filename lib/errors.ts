/**
 * One error hierarchy for the whole package. Every error carries a stable `code`
 * (`ABI_ERR_*`) that callers and tests match on; messages may change, codes do not.
 */
export class AbiError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbiError';
    this.code = code;
  }
}

/** The native addon could not be loaded or built. */
export class NativeLoadError extends AbiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ABI_ERR_NATIVE_LOAD', options);
    this.name = 'NativeLoadError';
  }
}

/** An argument was outside what the API accepts. */
export class InvalidArgumentError extends AbiError {
  constructor(message: string) {
    super(message, 'ABI_ERR_INVALID_ARG');
    this.name = 'InvalidArgumentError';
  }
}

/** A GGUF model file is missing, truncated, corrupt or of an unsupported kind; the message names the file and the offending key or tensor. */
export class GgufError extends AbiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ABI_ERR_GGUF', options);
    this.name = 'GgufError';
  }
}

/** A token-ring read asked for records the producer has already overwritten. */
export class TokenRingGoneError extends AbiError {
  /** The oldest sequence number the ring still holds when the read failed. */
  readonly oldestSeq: number;
  constructor(requestedSeq: number, oldestSeq: number) {
    super(`token ring: seq ${requestedSeq} was overwritten; the oldest held is ${oldestSeq}`, 'ABI_ERR_RING_GONE');
    this.name = 'TokenRingGoneError';
    this.oldestSeq = oldestSeq;
  }
}

/** A shared-memory segment exists with another layout, version or shape than the caller asked for. */
export class SharedLayoutError extends AbiError {
  constructor(message: string) {
    super(message, 'ABI_ERR_SHM_LAYOUT');
    this.name = 'SharedLayoutError';
  }
}

/** A secret handle (or its arena) was used after dispose(). */
export class SecretDisposedError extends AbiError {
  constructor(message = 'secure memory: the secret was disposed') {
    super(message, 'ABI_ERR_SECRET_DISPOSED');
    this.name = 'SecretDisposedError';
  }
}

/** The secure arena has no free block large enough for a secret. */
export class SecureArenaFullError extends AbiError {
  constructor(message: string) {
    super(message, 'ABI_ERR_ARENA_FULL');
    this.name = 'SecureArenaFullError';
  }
}

/** The configuration is invalid; `key` is the dotted path of the offending key (`server.port`, `routes[1].targets[0].backend`). */
export class ConfigError extends AbiError {
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super(key ? `config key '${key}': ${message}` : `config: ${message}`, 'ABI_ERR_CONFIG', options);
    this.name = 'ConfigError';
    this.key = key;
  }
}

/** A GGUF vocabulary (tokenizer.ggml.*) is missing, malformed or of an unsupported kind. */
export class VocabError extends AbiError {
  constructor(message: string) {
    super(message, 'ABI_ERR_TOKENIZER');
    this.name = 'VocabError';
  }
}

/** Chat messages cannot be rendered for a local model (e.g. an image part); `param` names the part. */
export class ChatTemplateError extends AbiError {
  readonly param: string;
  constructor(message: string, param: string) {
    super(message, 'ABI_ERR_CHAT_TEMPLATE');
    this.name = 'ChatTemplateError';
    this.param = param;
  }
}

/** A model name or path could not be resolved in the local model cache. */
export class ModelNotFoundError extends AbiError {
  constructor(message: string) {
    super(message, 'ABI_ERR_MODEL_NOT_FOUND');
    this.name = 'ModelNotFoundError';
  }
}

/** `abi model pull` failed (bad source, HTTP error, interrupted transfer — the `.part` file is kept for resume). */
export class ModelPullError extends AbiError {
  /** HTTP status when the server answered with an error. */
  readonly status?: number;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, 'ABI_ERR_MODEL_PULL', options);
    this.name = 'ModelPullError';
    if (status !== undefined) this.status = status;
  }
}

/** A downloaded model's sha256 differs from the expected one (the partial file is deleted). */
export class ModelIntegrityError extends AbiError {
  readonly expected: string;
  readonly actual: string;
  constructor(file: string, expected: string, actual: string) {
    super(`${file}: sha256 ${actual} does not match the expected ${expected}; the download was deleted`, 'ABI_ERR_MODEL_SHA256');
    this.name = 'ModelIntegrityError';
    this.expected = expected;
    this.actual = actual;
  }
}

/** The local model's request queue is full or a request waited too long in it; retry after `retryAfterMs`. */
export class EngineBusyError extends AbiError {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super(message, 'ABI_ERR_ENGINE_BUSY');
    this.name = 'EngineBusyError';
    this.retryAfterMs = retryAfterMs;
  }
}

/** A local-engine generation failed (context too long, model closed, reader stalled, ...); `code` says which. */
export class EngineError extends AbiError {
  constructor(message: string, code: string) {
    super(message, code);
    this.name = 'EngineError';
  }
}

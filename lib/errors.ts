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

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

import { AbiError } from '../errors.js';
import { ApiError, badGateway, gatewayTimeout } from '../protocol/errors.js';

/** A stream ended without a finish reason: a cut answer, never a success. */
export class StreamCutError extends AbiError {
  readonly kind = 'cut';
  readonly retryable = true;
  constructor(
    readonly backend: string,
    readonly afterFirstToken: boolean,
  ) {
    super(`stream from backend '${backend}' ended without a finish reason`, 'ABI_ERR_BACKEND');
    this.name = 'StreamCutError';
  }
  toApiError(): ApiError {
    return badGateway(`The upstream stream from backend '${this.backend}' was cut before it finished.`, 'upstream_cut', this);
  }
}

/** One of the attempt timers (first token, idle, total) fired. */
export class AttemptTimeoutError extends AbiError {
  readonly kind = 'timeout';
  readonly retryable = true;
  constructor(
    readonly backend: string,
    readonly phase: 'first_token' | 'idle' | 'total',
    readonly limitMs: number,
    readonly afterFirstToken: boolean,
  ) {
    const what = phase === 'first_token' ? 'no first token' : phase === 'idle' ? 'no event' : 'stream not finished';
    super(`backend '${backend}': ${what} within ${limitMs} ms`, 'ABI_ERR_BACKEND');
    this.name = 'AttemptTimeoutError';
  }
  toApiError(): ApiError {
    return gatewayTimeout(`Upstream backend '${this.backend}' timed out: ${this.message.split(': ')[1]}.`, `upstream_timeout_${this.phase}`, this);
  }
}

/** A regenerating target produced text that differs from what the caller already received. */
export class PrefixMismatchError extends AbiError {
  readonly kind = 'protocol';
  readonly retryable = false;
  readonly afterFirstToken = true;
  constructor(readonly backend: string) {
    super(`backend '${backend}' regenerated a different prefix than the one already delivered`, 'ABI_ERR_BACKEND');
    this.name = 'PrefixMismatchError';
  }
}

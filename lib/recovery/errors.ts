import { BackendError } from '../backends/errors.js';

/** A stream ended without a finish reason: a cut answer, never a success. */
export function streamCut(backend: string, afterFirstToken: boolean): BackendError {
  return new BackendError(`stream from backend '${backend}' ended without a finish reason`, { kind: 'cut', backend, afterFirstToken });
}

/** One of the attempt timers (first token, idle, total) fired; the backend itself may not have noticed. */
export class AttemptTimeoutError extends BackendError {
  constructor(
    backend: string,
    readonly phase: 'first_token' | 'idle' | 'total',
    readonly limitMs: number,
    afterFirstToken: boolean,
  ) {
    const what = phase === 'first_token' ? 'no first token' : phase === 'idle' ? 'no event' : 'stream not finished';
    super(`backend '${backend}': ${what} within ${limitMs} ms`, { kind: 'timeout', backend, afterFirstToken });
    this.name = 'AttemptTimeoutError';
  }
}

/** A regenerating target produced text that differs from what the caller already received. */
export function prefixMismatch(backend: string): BackendError {
  return new BackendError(`backend '${backend}' regenerated a different prefix than the one already delivered`, {
    kind: 'protocol',
    backend,
    retryable: false,
    afterFirstToken: true,
  });
}

import { AbiError } from '../errors.js';
import { ApiError, gone, serviceUnavailable } from '../protocol/errors.js';

/** A reader asked for events the session no longer holds (its ring wrapped past them, or it expired). */
export class SessionGoneError extends AbiError {
  constructor(
    readonly sessionId: string,
    readonly requestedSeq: number,
    /** Oldest seq still held (-1 when the whole session is gone). */
    readonly oldestSeq: number,
  ) {
    super(
      oldestSeq < 0
        ? `stream ${sessionId} has expired`
        : `stream ${sessionId} no longer holds event ${requestedSeq}; the oldest held is ${oldestSeq}`,
      'ABI_ERR_SESSION_GONE',
    );
    this.name = 'SessionGoneError';
  }
  toApiError(): ApiError {
    return gone(this.message, 'stream_gone');
  }
}

/** maxSessions live sessions exist and none can be evicted. */
export class SessionLimitError extends AbiError {
  constructor(readonly maxSessions: number) {
    super(`too many live streams (maxSessions ${maxSessions})`, 'ABI_ERR_SESSION_LIMIT');
    this.name = 'SessionLimitError';
  }
  toApiError(): ApiError {
    return serviceUnavailable(`The server holds its maximum of ${this.maxSessions} live streams; retry shortly.`, {
      retryAfterSec: 1,
      code: 'session_limit',
    });
  }
}

/** The session was finished; nothing more may be appended. */
export class SessionClosedError extends AbiError {
  constructor(readonly sessionId: string) {
    super(`stream ${sessionId} is finished; cannot append`, 'ABI_ERR_SESSION_CLOSED');
    this.name = 'SessionClosedError';
  }
}

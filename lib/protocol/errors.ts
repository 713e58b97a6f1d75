/**
 * The gateway's client-facing errors, in OpenAI's envelope `{"error":{"message","type","param","code"}}`.
 *
 * `toApiError` is the ONE place where anything thrown inside the server becomes an HTTP status and an
 * envelope. Errors from other modules take part by implementing `ApiErrorConvertible`
 * (`BackendError` does), or by being an AbiError with a numeric 4xx `status` (security's AuthError).
 * Anything else is an internal error: a 500 with a generic message, never its own message or stack.
 */
import { AbiError } from '../errors.js';

/** The JSON body every error response carries. */
export interface ErrorEnvelope {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface ApiErrorInit {
  /** HTTP status, 400..599. */
  status: number;
  /** OpenAI `error.type`, e.g. `invalid_request_error`. */
  type: string;
  /** The request field at fault (dotted path such as `messages[2].role`), or null. */
  param?: string | null;
  /** OpenAI `error.code`, e.g. `context_length_exceeded`, or null. */
  code?: string | null;
  /** Extra response headers (Retry-After, x-ratelimit-*). */
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * An error the client is meant to see. `code` keeps AbiError's stable `ABI_ERR_API`; the envelope's
 * own `code` field lives in `apiCode` because AbiError already gives `code` a different meaning.
 */
export class ApiError extends AbiError {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly apiCode: string | null;
  readonly headers: Record<string, string> | undefined;

  constructor(message: string, init: ApiErrorInit) {
    super(message, 'ABI_ERR_API', init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'ApiError';
    this.status = init.status;
    this.type = init.type;
    this.param = init.param ?? null;
    this.apiCode = init.code ?? null;
    this.headers = init.headers;
  }

  toEnvelope(): ErrorEnvelope {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.apiCode } };
  }

  toJSON(): ErrorEnvelope {
    return this.toEnvelope();
  }
}

/** Implemented by errors that know how the client should see them. */
export interface ApiErrorConvertible {
  toApiError(): ApiError;
}

function isConvertible(err: unknown): err is ApiErrorConvertible {
  return typeof err === 'object' && err !== null && typeof (err as { toApiError?: unknown }).toApiError === 'function';
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null): ApiError =>
  new ApiError(message, { status: 400, type: 'invalid_request_error', param, code });

export const unauthorized = (message = 'Missing or invalid credentials.', code: string | null = 'invalid_api_key'): ApiError =>
  new ApiError(message, { status: 401, type: 'authentication_error', code, headers: { 'www-authenticate': 'Bearer' } });

export const forbidden = (message = 'This credential may not use this resource.', code: string | null = 'insufficient_scope'): ApiError =>
  new ApiError(message, { status: 403, type: 'permission_error', code });

export const notFound = (message: string, code: string | null = 'not_found', param: string | null = null): ApiError =>
  new ApiError(message, { status: 404, type: 'not_found_error', param, code });

export const methodNotAllowed = (method: string, allowed: readonly string[]): ApiError =>
  new ApiError(`Method ${method} is not allowed here; use ${allowed.join(', ')}.`, {
    status: 405,
    type: 'invalid_request_error',
    code: 'method_not_allowed',
    headers: { allow: allowed.join(', ') },
  });

export const gone = (message: string, code: string | null = 'gone'): ApiError =>
  new ApiError(message, { status: 410, type: 'not_found_error', code });

export const payloadTooLarge = (limitBytes: number): ApiError =>
  new ApiError(`Request body is larger than the limit of ${limitBytes} bytes.`, {
    status: 413,
    type: 'invalid_request_error',
    code: 'request_too_large',
  });

export const unsupportedMediaType = (got: string | undefined): ApiError =>
  new ApiError(`Content-Type must be application/json${got ? `, got ${JSON.stringify(got.slice(0, 100))}` : ''}.`, {
    status: 415,
    type: 'invalid_request_error',
    code: 'unsupported_media_type',
  });

/**
 * 429. `kind` is OpenAI's `type` for rate limits: `requests` or `tokens`. `retryAfterSec` becomes the
 * Retry-After header; extra headers (x-ratelimit-*) are merged in.
 */
export const rateLimited = (
  message: string,
  opts: { retryAfterSec?: number; kind?: 'requests' | 'tokens'; code?: string; headers?: Record<string, string> } = {},
): ApiError => {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.retryAfterSec !== undefined) headers['retry-after'] = String(Math.max(0, Math.ceil(opts.retryAfterSec)));
  return new ApiError(message, {
    status: 429,
    type: opts.kind ?? 'requests',
    code: opts.code ?? 'rate_limit_exceeded',
    headers,
  });
};

/** The generic 500: the message never says what went wrong inside. */
export const internalError = (cause?: unknown): ApiError =>
  new ApiError('The server had an internal error while processing the request.', {
    status: 500,
    type: 'server_error',
    code: 'internal_error',
    cause,
  });

export const badGateway = (message: string, code: string | null = 'upstream_error', cause?: unknown): ApiError =>
  new ApiError(message, { status: 502, type: 'server_error', code, cause });

export const serviceUnavailable = (message: string, opts: { retryAfterSec?: number; code?: string } = {}): ApiError =>
  new ApiError(message, {
    status: 503,
    type: 'server_error',
    code: opts.code ?? 'service_unavailable',
    headers: opts.retryAfterSec === undefined ? undefined : { 'retry-after': String(Math.max(0, Math.ceil(opts.retryAfterSec))) },
  });

export const gatewayTimeout = (message: string, code: string | null = 'upstream_timeout', cause?: unknown): ApiError =>
  new ApiError(message, { status: 504, type: 'timeout_error', code, cause });

/** OpenAI-style `type` for an arbitrary status (used for duck-typed errors that only carry a status). */
function typeForStatus(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404 || status === 410) return 'not_found_error';
  if (status === 429) return 'requests';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/**
 * Maps anything thrown to the ApiError the client sees. Client-facing errors keep their message;
 * everything unknown becomes the generic 500 (the original is kept as `cause` for the log only).
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isConvertible(err)) return err.toApiError();
  if (err instanceof AbiError) {
    const e = err as AbiError & { status?: unknown; reason?: unknown; headers?: unknown };
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      return new ApiError(err.message, {
        status: e.status,
        type: typeForStatus(e.status),
        code: typeof e.reason === 'string' ? e.reason : null,
        headers: isStringRecord(e.headers) ? e.headers : undefined,
        cause: err,
      });
    }
  }
  return internalError(err);
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && Object.values(v).every((x) => typeof x === 'string');
}

/** The envelope for anything thrown (see `toApiError`). */
export function toEnvelope(err: unknown): ErrorEnvelope {
  return toApiError(err).toEnvelope();
}

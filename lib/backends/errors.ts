/**
 * How backends fail. Every backend throws BackendError; recovery decides on `retryable`,
 * `retryAfterMs` and `providerCode`, and `toApiError` decides what the client sees.
 * Messages never carry credentials: upstream bodies are scrubbed before they become messages.
 */
import { AbiError } from '../errors.js';
import { ApiError, type ApiErrorConvertible, badGateway, badRequest, gatewayTimeout, notFound, rateLimited, serviceUnavailable } from '../protocol/errors.js';

export type BackendErrorKind = 'connect' | 'timeout' | 'http' | 'protocol' | 'aborted' | 'cut';

export interface BackendErrorInit {
  kind: BackendErrorKind;
  /** Configured backend name, for messages and metrics. */
  backend?: string;
  /** Upstream HTTP status (kind 'http', or an in-band error that carried one). */
  status?: number;
  /** How long the upstream asked us to wait before retrying. */
  retryAfterMs?: number;
  /** Provider error code/type, e.g. `context_length_exceeded`, `insufficient_quota`, `overloaded_error`. */
  providerCode?: string;
  /** The provider's own error message, already scrubbed of credentials. */
  providerMessage?: string;
  /** Default: decided from kind, status and providerCode (see `defaultRetryable`). */
  retryable?: boolean;
  /** True when content had already been yielded to the caller when this failure happened. */
  afterFirstToken?: boolean;
  cause?: unknown;
}

/** Statuses worth another attempt: connection-level trouble, overload and rate limits. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 409, 429, 500, 502, 503, 504, 529]);

/** Provider codes that reject a request on its merits (or the account's): retrying cannot help. */
export const FINAL_PROVIDER_CODES: ReadonlySet<string> = new Set(['context_length_exceeded', 'content_policy_violation', 'insufficient_quota']);

export function defaultRetryable(kind: BackendErrorKind, status?: number, providerCode?: string): boolean {
  if (providerCode !== undefined && FINAL_PROVIDER_CODES.has(providerCode)) return false;
  if (kind === 'aborted') return false;
  if (kind === 'http') return status !== undefined && RETRYABLE_STATUSES.has(status);
  return true;
}

export class BackendError extends AbiError implements ApiErrorConvertible {
  readonly kind: BackendErrorKind;
  readonly backend: string | undefined;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly providerCode: string | undefined;
  readonly providerMessage: string | undefined;
  readonly retryable: boolean;
  afterFirstToken: boolean;

  constructor(message: string, init: BackendErrorInit) {
    super(scrubSecrets(message), 'ABI_ERR_BACKEND', init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'BackendError';
    this.kind = init.kind;
    this.backend = init.backend;
    this.status = init.status;
    this.retryAfterMs = init.retryAfterMs;
    this.providerCode = init.providerCode;
    this.providerMessage = init.providerMessage === undefined ? undefined : scrubSecrets(init.providerMessage);
    this.retryable = init.retryable ?? defaultRetryable(init.kind, init.status, init.providerCode);
    this.afterFirstToken = init.afterFirstToken ?? false;
  }

  /**
   * What the client sees. Requests rejected on their merits keep the provider's reason; the gateway's
   * own upstream trouble (bad credentials, overload, cuts) becomes a 5xx that names no secret.
   */
  toApiError(): ApiError {
    const who = this.backend ? `Upstream backend '${this.backend}'` : 'The upstream backend';
    const reason = this.providerMessage ? `: ${this.providerMessage}` : '.';
    const retryAfterSec = this.retryAfterMs === undefined ? undefined : this.retryAfterMs / 1000;
    switch (this.kind) {
      case 'timeout':
        return gatewayTimeout(`${who} did not answer in time.`, 'upstream_timeout', this);
      case 'connect':
        return badGateway(`${who} could not be reached.`, 'upstream_unavailable', this);
      case 'cut':
        return badGateway(`${who} ended the stream before it was complete.`, 'upstream_cut', this);
      case 'protocol':
        return badGateway(`${who} sent a response the gateway could not read.`, 'upstream_protocol_error', this);
      case 'aborted':
        return serviceUnavailable('The request was cancelled before it completed.', { code: 'request_aborted' });
      case 'http':
        break;
    }
    const status = this.status ?? 502;
    const code = this.providerCode;
    if (code === 'context_length_exceeded') return badRequest(`${who} rejected the request${reason}`, 'messages', code);
    if (code === 'content_policy_violation') return badRequest(`${who} rejected the request${reason}`, null, code);
    if (code === 'insufficient_quota') return badGateway(`${who} has exhausted its quota.`, 'upstream_quota_exhausted', this);
    if (status === 401 || status === 403) return badGateway(`${who} refused the gateway's credentials.`, 'upstream_auth_failed', this);
    if (status === 404) return notFound(`${who} does not know this model or route${reason}`, code ?? 'model_not_found');
    if (status === 400 || status === 413 || status === 422) return badRequest(`${who} rejected the request${reason}`, null, code ?? null);
    if (status === 429) return rateLimited(`${who} is rate limiting requests; try again later.`, { retryAfterSec, code: 'upstream_rate_limited' });
    if (status === 503 || status === 529) return serviceUnavailable(`${who} is overloaded; try again later.`, { retryAfterSec, code: 'upstream_overloaded' });
    if (status === 504 || status === 408) return gatewayTimeout(`${who} timed out.`, 'upstream_timeout', this);
    return badGateway(`${who} failed with HTTP ${status}.`, 'upstream_error', this);
  }
}

const BEARER = /\b(Bearer|Basic)\s+[^\s"',;]+/gi;
const KEY_LIKE = /\b(sk|pk|rk)-[A-Za-z0-9_*.-]{3,}/g;
const KEY_FIELD = /("?(?:api[_-]?key|x-api-key|authorization|access[_-]?token|secret)"?\s*[:=]\s*)"?[^\s"',;}]+"?/gi;

/**
 * Removes anything that looks like a credential from text an upstream sent back (some providers echo
 * the key in 401 bodies), plus the exact values in `secrets` wherever they appear.
 */
export function scrubSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[REDACTED]');
  return out.replace(BEARER, '$1 [REDACTED]').replace(KEY_LIKE, '$1-[REDACTED]').replace(KEY_FIELD, '$1[REDACTED]');
}

export type HeaderBag = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const v = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Milliseconds the upstream asked us to wait: `retry-after-ms` (float ms) wins, then `retry-after`
 * as seconds or as an HTTP date (relative to `nowMs`). Undefined when absent or unreadable.
 */
export function parseRetryAfter(headers: HeaderBag, nowMs = Date.now()): number | undefined {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined && ms.trim() !== '') {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return n;
  }
  const ra = header(headers, 'retry-after')?.trim();
  if (!ra) return undefined;
  if (/^\d+(\.\d+)?$/.test(ra)) return Number(ra) * 1000;
  const date = Date.parse(ra);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

const CONTEXT_LENGTH_TEXT = /maximum context length|context[ _-]?length|context window|prompt is too long|too many tokens/i;

/** Reads `{error:{message,type,code}}` (OpenAI, Anthropic) or `{error:"…"}` (Ollama) out of a body. */
export function parseProviderError(body: string): { message?: string; code?: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    const text = body.trim();
    return text ? { message: text.slice(0, 500) } : {};
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  const err = (parsed as { error?: unknown }).error;
  if (typeof err === 'string') return { message: err.slice(0, 500) };
  if (typeof err !== 'object' || err === null) return {};
  const { message, code, type } = err as { message?: unknown; code?: unknown; type?: unknown };
  const out: { message?: string; code?: string } = {};
  if (typeof message === 'string') out.message = message.slice(0, 500);
  if (typeof code === 'string' && code) out.code = code;
  else if (typeof type === 'string' && type) out.code = type;
  return out;
}

export interface ClassifyOptions {
  backend?: string;
  /** Exact credential values to remove from the upstream's message (the backend's own API key). */
  secrets?: readonly string[];
  nowMs?: number;
}

/**
 * Turns a non-2xx upstream answer into a BackendError: provider code and message, Retry-After, and
 * whether a retry can help (status rules, final provider codes, then an `x-should-retry` override).
 */
export function classifyHttpError(status: number, headers: HeaderBag, body: string, opts: ClassifyOptions = {}): BackendError {
  const parsed = parseProviderError(body);
  let providerCode = parsed.code;
  const generic = providerCode === undefined || providerCode === 'invalid_request_error' || providerCode === 'BadRequestError';
  if (generic && (status === 400 || status === 413 || status === 422) && parsed.message && CONTEXT_LENGTH_TEXT.test(parsed.message)) {
    providerCode = 'context_length_exceeded';
  }
  const providerMessage = parsed.message === undefined ? undefined : scrubSecrets(parsed.message, opts.secrets);
  let retryable = defaultRetryable('http', status, providerCode);
  const shouldRetry = header(headers, 'x-should-retry');
  if (!(providerCode !== undefined && FINAL_PROVIDER_CODES.has(providerCode))) {
    if (shouldRetry === 'true') retryable = true;
    else if (shouldRetry === 'false') retryable = false;
  }
  const who = opts.backend ? `backend '${opts.backend}'` : 'upstream';
  const init: BackendErrorInit = { kind: 'http', status, retryable };
  if (opts.backend !== undefined) init.backend = opts.backend;
  if (providerCode !== undefined) init.providerCode = providerCode;
  if (providerMessage !== undefined) init.providerMessage = providerMessage;
  const retryAfterMs = parseRetryAfter(headers, opts.nowMs);
  if (retryAfterMs !== undefined) init.retryAfterMs = retryAfterMs;
  const detail = [providerCode, providerMessage].filter(Boolean).join(': ');
  return new BackendError(`${who} answered HTTP ${status}${detail ? ` (${detail})` : ''}`, init);
}

/**
 * The HTTP plumbing every HTTP backend shares: one keep-alive undici Pool per backend, the request
 * call with an AbortSignal, bounded reading of error bodies, and the mapping of transport failures
 * (refused, reset, timeouts, aborts) onto BackendError kinds.
 */
import { Pool, type Dispatcher } from 'undici';
import type { ConfigReader } from '../config/reader.js';
import { BackendError, type BackendErrorKind } from './errors.js';

/**
 * Reads an upstream base URL from config: absolute http(s), no credentials in it (they belong in
 * `apiKey`), trailing slashes removed. Required unless `def` is given.
 */
export function readHttpBaseUrl(r: ConfigReader, key = 'baseUrl', def?: string): string {
  const baseUrl = def === undefined ? r.requiredString(key) : r.string(key, def);
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return r.fail(key, `must be an absolute http(s) URL, got ${JSON.stringify(baseUrl)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') r.fail(key, `must use http or https, got ${url.protocol}`);
  if (url.username || url.password) r.fail(key, 'must not contain credentials; use apiKey');
  return baseUrl.replace(/\/+$/, '');
}

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** Checks extra request headers from config (`r.stringMap(key)`): valid names, no CR/LF/NUL in values (header injection). */
export function checkHeaderMap(r: ConfigReader, headers: Record<string, string>, key = 'headers'): Record<string, string> {
  for (const name of Object.keys(headers)) {
    if (!HEADER_NAME.test(name)) r.fail(`${key}.${name}`, 'is not a valid HTTP header name');
    if (/[\r\n\0]/.test(headers[name]!)) r.fail(`${key}.${name}`, 'must not contain CR, LF or NUL');
  }
  return headers;
}

export interface UpstreamPoolOptions {
  /** Most simultaneous connections to this upstream. */
  connections: number;
  /** TCP/TLS connect timeout. */
  connectMs: number;
  /** Longest wait for response headers. */
  headersTimeoutMs: number;
  /** Longest silence between two body chunks. */
  bodyTimeoutMs: number;
  /** How long an idle keep-alive connection is kept. Default 30000. */
  keepAliveTimeoutMs?: number;
}

/** A keep-alive connection pool for one upstream origin (path, query and credentials in the URL are not part of it). */
export function createUpstreamPool(baseUrl: URL, opts: UpstreamPoolOptions): Pool {
  return new Pool(baseUrl.origin, {
    connections: opts.connections,
    connect: { timeout: opts.connectMs },
    headersTimeout: opts.headersTimeoutMs,
    bodyTimeout: opts.bodyTimeoutMs,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 30_000,
    keepAliveMaxTimeout: 600_000,
  });
}

/** Joins a base URL's path (e.g. `/v1`) with an endpoint (`/chat/completions`). */
export function endpointPath(baseUrl: URL, endpoint: string): string {
  return `${baseUrl.pathname.replace(/\/+$/, '')}${endpoint}${baseUrl.search}`;
}

/** Reads at most `limit` bytes of an error body as text and discards the rest. */
export async function readBodyText(body: Dispatcher.ResponseData['body'], limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      if (size < limit) chunks.push(buf.subarray(0, limit - size));
      size += buf.length;
      if (size >= limit) break;
    }
  } catch {
    // A truncated error body still says what it can.
  } finally {
    if (!body.destroyed) body.destroy();
  }
  return Buffer.concat(chunks).toString('utf8');
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause && cause !== err ? errorCode(cause) : undefined;
}

export interface TransportErrorContext {
  backend: string;
  /** The caller's signal: when it fired, the failure is an abort whatever undici reports. */
  signal: AbortSignal;
  /** True once the response headers arrived (a reset after that is a cut stream, not a connect error). */
  responseStarted: boolean;
  afterFirstToken: boolean;
  /** Set when the backend's own total-time limit aborted the request. */
  timedOut?: boolean;
}

/** Maps a thrown transport error to a BackendError; BackendErrors pass through (with afterFirstToken set). */
export function toBackendError(err: unknown, ctx: TransportErrorContext): BackendError {
  if (err instanceof BackendError) {
    if (ctx.afterFirstToken) err.afterFirstToken = true;
    return err;
  }
  const code = errorCode(err);
  let kind: BackendErrorKind;
  let what: string;
  if (ctx.timedOut) {
    kind = 'timeout';
    what = 'exceeded its total time limit';
  } else if (ctx.signal.aborted) {
    kind = 'aborted';
    what = 'request was aborted by the caller';
  } else if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    // A timeout, not a refusal: recovery fails over at once instead of paying connectMs per retry.
    kind = 'timeout';
    what = 'connect timed out';
  } else if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    kind = 'timeout';
    what = 'sent no response headers in time';
  } else if (code === 'UND_ERR_BODY_TIMEOUT') {
    kind = 'timeout';
    what = 'went silent mid-response';
  } else if (code !== undefined && CONNECT_CODES.has(code)) {
    kind = ctx.responseStarted ? 'cut' : 'connect';
    what = ctx.responseStarted ? `closed the connection mid-response (${code})` : `could not be reached (${code})`;
  } else if (code === 'UND_ERR_ABORTED' || (err as { name?: string } | null)?.name === 'AbortError') {
    kind = 'aborted';
    what = 'request was aborted';
  } else if (ctx.responseStarted) {
    kind = 'cut';
    what = `response failed (${code ?? (err instanceof Error ? err.name : 'error')})`;
  } else {
    kind = 'connect';
    what = `request failed (${code ?? (err instanceof Error ? err.name : 'error')})`;
  }
  return new BackendError(`backend '${ctx.backend}': ${what}`, { kind, backend: ctx.backend, afterFirstToken: ctx.afterFirstToken, cause: err });
}

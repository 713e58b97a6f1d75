import { realpathSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { AbiError } from '../errors.js';
import { ApiError, badRequest, forbidden, notFound, type ApiErrorConvertible } from '../protocol/errors.js';

/** The `securityHeaders` config section. */
export interface SecurityHeadersConfig {
  /**
   * Send `Strict-Transport-Security` (max-age in seconds). Off by default: set it only when every
   * client reaches the server over HTTPS (normally the TLS-terminating proxy sets it).
   */
  hstsMaxAgeSec?: number;
}

/** The `cors` config section. CORS is off unless `origins` lists something. */
export interface CorsConfig {
  /** Allowed origins, exact (`https://app.example.com`), or `*` for any origin (never with credentials). */
  origins?: string[];
  /** Request headers a browser may send. Default: authorization, content-type, x-request-id, last-event-id. */
  allowHeaders?: string[];
  /** Methods allowed in preflight. Default GET, POST, OPTIONS. */
  allowMethods?: string[];
  /** Preflight cache time in seconds. Default 600. */
  maxAgeSec?: number;
  /** Send Access-Control-Allow-Credentials (cookies). Default false; refused together with `*`. */
  allowCredentials?: boolean;
}

/**
 * Headers every response carries. API responses are data, never documents: nothing may be framed,
 * sniffed into HTML, run as script, cached by shared caches, or leak the URL as a referrer.
 */
export function securityHeaders(config: SecurityHeadersConfig = {}): Record<string, string> {
  const headers: Record<string, string> = {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    'cross-origin-resource-policy': 'same-site',
    'cache-control': 'no-store',
  };
  if (config.hstsMaxAgeSec !== undefined && config.hstsMaxAgeSec > 0) {
    headers['strict-transport-security'] = `max-age=${Math.floor(config.hstsMaxAgeSec)}; includeSubDomains`;
  }
  return headers;
}

/** Sets the security headers on `res` (headers a handler already set, e.g. its own Cache-Control, are kept). */
export function applySecurityHeaders(res: ServerResponse, config: SecurityHeadersConfig = {}): void {
  for (const [name, value] of Object.entries(securityHeaders(config))) {
    if (!res.hasHeader(name)) res.setHeader(name, value);
  }
}

const DEFAULT_ALLOW_HEADERS = ['authorization', 'content-type', 'x-request-id', 'last-event-id'];
const DEFAULT_ALLOW_METHODS = ['GET', 'POST', 'OPTIONS'];
/** Response headers a browser script may read. */
const EXPOSED_HEADERS = [
  'x-request-id', 'x-abi-backend', 'retry-after',
  'x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens',
];

/** Validates a `cors` section; throws with the offending key. */
export function validateCorsConfig(config: CorsConfig, keyPath = 'cors'): void {
  for (const origin of config.origins ?? []) {
    if (origin === '*') continue;
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new AbiError(`${keyPath}.origins: ${JSON.stringify(origin)} is not an origin like https://app.example.com`, 'ABI_ERR_CONFIG');
    }
    if (parsed.origin !== origin) throw new AbiError(`${keyPath}.origins: ${JSON.stringify(origin)} must be exactly ${parsed.origin}`, 'ABI_ERR_CONFIG');
  }
  if (config.allowCredentials && config.origins?.includes('*')) {
    throw new AbiError(`${keyPath}.allowCredentials: cannot be combined with origin "*"`, 'ABI_ERR_CONFIG');
  }
}

/**
 * Applies CORS to a request. Returns true when the request was a preflight and has been answered
 * (204, or 403 for an origin/method that is not allowed); false when the handler should go on.
 * Without configured origins nothing is added and a preflight gets no CORS headers, so browsers
 * refuse cross-origin calls.
 */
export function handleCors(req: IncomingMessage, res: ServerResponse, config: CorsConfig = {}): boolean {
  const origin = req.headers.origin;
  const origins = config.origins ?? [];
  const isPreflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
  if (origins.length === 0 || typeof origin !== 'string') return false;
  res.appendHeader('vary', 'Origin');
  const allowed = origins.includes('*') || origins.includes(origin);
  if (!allowed) {
    if (!isPreflight) return false;
    sendError(res, forbidden('This origin is not allowed to call this server.', 'cors_origin_not_allowed'));
    return true;
  }
  res.setHeader('access-control-allow-origin', origins.includes('*') && !config.allowCredentials ? '*' : origin);
  if (config.allowCredentials) res.setHeader('access-control-allow-credentials', 'true');
  if (!isPreflight) {
    res.setHeader('access-control-expose-headers', EXPOSED_HEADERS.join(', '));
    return false;
  }
  const methods = (config.allowMethods ?? DEFAULT_ALLOW_METHODS).map((m) => m.toUpperCase());
  const requestedMethod = String(req.headers['access-control-request-method']).toUpperCase();
  const allowHeaders = (config.allowHeaders ?? DEFAULT_ALLOW_HEADERS).map((h) => h.toLowerCase());
  const requestedHeaders = String(req.headers['access-control-request-headers'] ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  if (!methods.includes(requestedMethod) || requestedHeaders.some((h) => !allowHeaders.includes(h))) {
    sendError(res, forbidden('This cross-origin request method or header is not allowed.', 'cors_request_not_allowed'));
    return true;
  }
  res.statusCode = 204;
  res.setHeader('access-control-allow-methods', methods.join(', '));
  res.setHeader('access-control-allow-headers', allowHeaders.join(', '));
  res.setHeader('access-control-max-age', String(config.maxAgeSec ?? 600));
  res.end();
  return true;
}

function sendError(res: ServerResponse, err: ApiError): void {
  const body = JSON.stringify(err.toEnvelope());
  res.statusCode = err.status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

/**
 * A header value built from untrusted input (a model name, a request id) made safe to send: control
 * characters (CR, LF, NUL, ...) and non-ASCII become `_`, and the result is capped at `maxLength`,
 * so input can neither inject a header nor make Node throw while writing one.
 */
export function sanitizeHeaderValue(value: string, maxLength = 256): string {
  return value.slice(0, maxLength).replace(/[^\x20-\x7e\t]/g, '_').trim();
}

/** True when `value` can be sent as-is: printable ASCII and tabs only. */
export function isSafeHeaderValue(value: string): boolean {
  return /^[\x20-\x7e\t]*$/.test(value);
}

/** Sets a header whose value derives from input, sanitized. */
export function setSafeHeader(res: ServerResponse, name: string, value: string, maxLength = 256): void {
  res.setHeader(name, sanitizeHeaderValue(value, maxLength));
}

export type PathRefusal = 'path_traversal' | 'path_outside_root' | 'path_not_found' | 'invalid_path';

/** A requested file path is not inside its configured root (or does not exist). */
export class PathConfinementError extends AbiError implements ApiErrorConvertible {
  readonly reason: PathRefusal;
  readonly status: 400 | 404;
  constructor(reason: PathRefusal, message: string) {
    super(message, 'ABI_ERR_PATH');
    this.name = 'PathConfinementError';
    this.reason = reason;
    this.status = reason === 'path_not_found' ? 404 : 400;
  }

  toApiError(): ApiError {
    return this.status === 404 ? notFound(this.message, this.reason, 'path') : badRequest(this.message, 'path', this.reason);
  }
}

/**
 * Resolves `requested` (relative to `root`, or absolute) to a real path inside `root`, refusing
 * `..` traversal, absolute paths elsewhere, and symlinks anywhere on the way that lead out of the
 * root. The file must exist, because only an existing path can be checked through its symlinks.
 * Messages name the requested path as given, never what lies outside the root.
 */
export function confinePath(root: string, requested: string): string {
  if (typeof requested !== 'string' || requested.length === 0 || requested.length > 4096 || requested.includes('\0')) {
    throw new PathConfinementError('invalid_path', 'The path must be a non-empty string without NUL characters.');
  }
  const shown = JSON.stringify(requested.slice(0, 200));
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch {
    throw new PathConfinementError('path_not_found', 'The models directory does not exist.');
  }
  const candidate = isAbsolute(requested) ? resolve(requested) : resolve(realRoot, requested);
  const lexicalRoot = resolve(root);
  if (!within(realRoot, candidate) && !within(lexicalRoot, candidate)) {
    const reason = isAbsolute(requested) ? 'path_outside_root' : 'path_traversal';
    throw new PathConfinementError(reason, `The path ${shown} is outside the models directory.`);
  }
  let real: string;
  try {
    real = realpathSync(candidate);
  } catch {
    throw new PathConfinementError('path_not_found', `The path ${shown} does not exist in the models directory.`);
  }
  if (!within(realRoot, real)) {
    throw new PathConfinementError('path_outside_root', `The path ${shown} leads outside the models directory (symlink).`);
  }
  return real;
}

function within(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

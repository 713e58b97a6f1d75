import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ApiKeyStore, defaultKeysFile } from './api-keys.js';
import { AuthError } from './errors.js';
import type { JwtConfig, WarnLogger } from './jwt-config.js';
import type { JwtVerifier } from './jwt.js';
import type { Authenticator, Principal } from './types.js';

/** The scope `/admin/*` requires. */
export const ADMIN_SCOPE = 'admin';
/** Longest Authorization header value examined; longer ones are refused unparsed. */
export const MAX_AUTHORIZATION_CHARS = 16 * 1024 + 7;

/** The `auth` config section as the authenticator reads it. */
export interface AuthConfig {
  /**
   * Static bearer tokens (usually `"env:ABI_AUTH_TOKEN"`), compared in constant time. Either strings
   * or secrets (`revealString()`); only their SHA-256 digests are kept.
   */
  tokens?: (string | { revealString(): string })[];
  /** Scopes a static config token carries. Default `["admin"]`: config tokens belong to the operator. */
  staticTokenScopes?: string[];
  /** Serve `GET /health` without credentials. Default true. */
  allowHealthWithoutAuth?: boolean;
  /** API keys file written by `abi keys`. Default `$ABI_KEYS_FILE`, else `~/.abi/keys.json`. Changes are picked up within a second. */
  apiKeysFile?: string;
  /** JWT verification; see JwtConfig. */
  jwt?: JwtConfig;
}

/** The security module's authenticator: the Authenticator contract plus what the server needs around it. */
export interface SecurityAuthenticator extends Authenticator {
  /** True when some credential kind is configured, so a request without credentials is refused. */
  readonly required: boolean;
  /** Authenticates a bare token (WebSocket subprotocol auth). Throws AuthError when refused. */
  authenticateToken(token: string): Promise<Principal>;
  /**
   * The principal for a request to `path`, enforcing the whole policy: credentials required when
   * configured, `/health` open when allowed, `/admin/*` only with the `admin` scope. Throws AuthError
   * (401, or 403 for a missing scope).
   */
  authorize(req: IncomingMessage, path: string): Promise<Principal>;
}

export interface AuthenticatorDeps {
  logger: WarnLogger;
  env?: NodeJS.ProcessEnv;
}

const ANONYMOUS: Principal = Object.freeze({ id: 'anonymous', kind: 'anonymous', scopes: [] as string[] }) as Principal;

/**
 * Combines static tokens, API keys and JWT. A token shaped like an abi key is checked against the key
 * store; anything else against the static tokens (all of them, in constant time) and then, if
 * configured, as a JWT.
 */
export async function createAuthenticator(config: AuthConfig = {}, deps: AuthenticatorDeps): Promise<SecurityAuthenticator> {
  const env = deps.env ?? process.env;
  const staticDigests = (config.tokens ?? [])
    .map((t) => (typeof t === 'string' ? t : t.revealString()))
    .filter((t) => t.length > 0)
    .map(sha256);
  const staticScopes = [...(config.staticTokenScopes ?? [ADMIN_SCOPE])];
  // jose is loaded only when JWT auth is configured (it is a few MB resident otherwise unused).
  const jwt: JwtVerifier | null = config.jwt
    ? await (await import('./jwt.js')).createJwtVerifier(config.jwt, { logger: deps.logger, keyPath: 'auth.jwt' })
    : null;
  // Always watched, even when the file does not exist yet: the first `abi keys create` turns auth on.
  const keyStore = new ApiKeyStore(config.apiKeysFile ?? defaultKeysFile(env));
  const allowHealth = config.allowHealthWithoutAuth ?? true;

  // An unreadable keys file must not take static tokens and JWTs down with it: it counts as "keys
  // exist" (fail closed), and only API-key requests see the error.
  const hasApiKeys = (): boolean => {
    try {
      return keyStore.count() > 0;
    } catch (err) {
      deps.logger.error?.({ event: 'api_keys_unreadable', err: { message: (err as Error).message } }, 'API keys file cannot be read');
      return true;
    }
  };
  const requiredStatically = staticDigests.length > 0 || jwt !== null;

  async function authenticateToken(token: string): Promise<Principal> {
    if (ApiKeyStore.looksLikeKey(token)) {
      const record = keyStore.verify(token);
      if (!record) throw new AuthError('invalid_api_key', 'The API key is not valid or has been revoked.');
      const principal: Principal = { id: record.name, kind: 'api-key', scopes: [...record.scopes] };
      if (record.limits) principal.limits = { ...record.limits };
      return principal;
    }
    const staticIndex = matchStatic(staticDigests, token);
    if (staticIndex >= 0) return { id: `static:${staticIndex}`, kind: 'static-token', scopes: [...staticScopes] };
    if (jwt && token.includes('.')) return jwt.verify(token);
    throw new AuthError('invalid_api_key', 'The bearer token is not valid.');
  }

  const authenticator: SecurityAuthenticator = {
    get required() {
      return requiredStatically || hasApiKeys();
    },
    authenticateToken,
    async authenticate(req: IncomingMessage): Promise<Principal | null> {
      const token = parseAuthorizationHeader(req.headers.authorization);
      return token === null ? null : authenticateToken(token);
    },
    async authorize(req: IncomingMessage, path: string): Promise<Principal> {
      if (path === '/health' && allowHealth) return ANONYMOUS;
      const principal = (await authenticator.authenticate(req)) ?? (authenticator.required ? null : ANONYMOUS);
      if (!principal) throw new AuthError('missing_credentials', 'Authentication required: send "Authorization: Bearer <token>".');
      if (isAdminPath(path) && !principal.scopes.includes(ADMIN_SCOPE)) {
        throw new AuthError('insufficient_scope', `This endpoint requires the "${ADMIN_SCOPE}" scope.`, { status: 403 });
      }
      return principal;
    },
  };
  return authenticator;
}

/** `/admin` and everything under it. */
export function isAdminPath(path: string): boolean {
  return path === '/admin' || path.startsWith('/admin/');
}

/**
 * The bearer token in an Authorization header value: null when there is no header, AuthError
 * `malformed_token` for anything other than `Bearer <token68>` (RFC 6750 token syntax).
 */
export function parseAuthorizationHeader(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  if (Array.isArray(value)) throw new AuthError('malformed_token', 'Send exactly one Authorization header.');
  if (value.length > MAX_AUTHORIZATION_CHARS) throw new AuthError('malformed_token', 'The Authorization header is too long.');
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(value);
  if (!match) throw new AuthError('malformed_token', 'The Authorization header must be "Bearer <token>".');
  return match[1]!;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Index of the static token equal to `token`, or -1. Every configured token is compared, always. */
function matchStatic(digests: readonly Buffer[], token: string): number {
  const presented = sha256(token);
  let matched = -1;
  for (let i = 0; i < digests.length; i++) {
    if (timingSafeEqual(digests[i]!, presented) && matched < 0) matched = i;
  }
  return matched;
}

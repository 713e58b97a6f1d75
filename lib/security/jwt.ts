import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import {
  UnsecuredJWT,
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  importJWK,
  importSPKI,
  jwtVerify,
  type CryptoKey,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JSONWebKeySet,
} from 'jose';
import { serviceUnavailable } from '../protocol/errors.js';
import { AuthError, SecurityConfigError, type AuthReason } from './errors.js';
import type { Principal } from './types.js';
import { JWT_ALGORITHMS, type JwtAlgorithm, type JwtConfig, type WarnLogger } from './jwt-config.js';

export { JWT_ALGORITHMS, type JwtAlgorithm, type JwtConfig, type WarnLogger };

const HMAC_ALGORITHMS = new Set<string>(['HS256', 'HS384', 'HS512']);
/** A shorter HMAC secret is guessable offline from any one token. */
const MIN_HMAC_SECRET_BYTES = 32;
/** Tokens longer than this are refused before any parsing: no legitimate bearer JWT is this big. */
export const MAX_TOKEN_CHARS = 16 * 1024;


export interface JwtVerifier {
  /**
   * Verifies a compact JWT and returns the principal it names; throws AuthError with a reason code,
   * or a 503 ApiError (`jwks_unavailable`) when the JWKS URL cannot be fetched.
   */
  verify(token: string): Promise<Principal>;
}

const DEFAULT_CLOCK_TOLERANCE_SEC = 5;

/**
 * Builds a verifier from `auth.jwt`. Each configured key is imported once, per algorithm it may
 * serve: an HMAC secret only ever verifies HS*, a public key only the asymmetric algorithms its
 * key type supports. So a token whose header says HS256 can never be checked against an RSA public
 * key used as an HMAC secret (algorithm confusion).
 */
export async function createJwtVerifier(config: JwtConfig, deps: { logger: WarnLogger; keyPath?: string }): Promise<JwtVerifier> {
  const keyPath = deps.keyPath ?? 'auth.jwt';
  const algorithms = validateAlgorithms(config, keyPath);
  const hmacAlgorithms = algorithms.filter((a) => HMAC_ALGORITHMS.has(a));
  const asymmetricAlgorithms = algorithms.filter((a) => !HMAC_ALGORITHMS.has(a));

  const keysByAlgorithm = new Map<string, CryptoKey>();
  if (config.secret !== undefined) {
    if (hmacAlgorithms.length === 0) throw new SecurityConfigError(`${keyPath}.secret`, 'a secret is set but no HS256/HS384/HS512 algorithm is allowed');
    const secretBytes = new TextEncoder().encode(typeof config.secret === 'string' ? config.secret : config.secret.revealString());
    try {
      if (secretBytes.length < MIN_HMAC_SECRET_BYTES) {
        throw new SecurityConfigError(`${keyPath}.secret`, `must be at least ${MIN_HMAC_SECRET_BYTES} bytes`);
      }
      for (const alg of hmacAlgorithms) {
        const hash = `SHA-${alg.slice(2)}`;
        // Non-extractable: the raw secret is not kept in a JS string or buffer after this.
        keysByAlgorithm.set(alg, await webcrypto.subtle.importKey('raw', secretBytes, { name: 'HMAC', hash }, false, ['verify']));
      }
    } finally {
      secretBytes.fill(0);
    }
  } else if (hmacAlgorithms.length > 0) {
    throw new SecurityConfigError(`${keyPath}.secret`, `required for ${hmacAlgorithms.join(', ')}`);
  }

  if (config.publicKeyFile !== undefined) {
    if (config.publicKey !== undefined) throw new SecurityConfigError(`${keyPath}.publicKeyFile`, 'set publicKey or publicKeyFile, not both');
    try {
      config = { ...config, publicKey: readFileSync(config.publicKeyFile, 'utf8') };
    } catch (err) {
      throw new SecurityConfigError(`${keyPath}.publicKeyFile`, `cannot read ${config.publicKeyFile}: ${(err as Error).message}`);
    }
  }
  if (config.publicKey !== undefined) {
    if (asymmetricAlgorithms.length === 0) throw new SecurityConfigError(`${keyPath}.publicKey`, 'a public key is set but no asymmetric algorithm is allowed');
    for (const alg of asymmetricAlgorithms) {
      const key = await importPublicKey(config.publicKey, alg);
      if (key) keysByAlgorithm.set(alg, key);
    }
    if (![...keysByAlgorithm.keys()].some((a) => !HMAC_ALGORITHMS.has(a))) {
      throw new SecurityConfigError(`${keyPath}.publicKey`, `is not a usable public key for any of ${asymmetricAlgorithms.join(', ')}`);
    }
  }

  const keySet = buildKeySet(config, keyPath);
  if (asymmetricAlgorithms.length > 0 && config.publicKey === undefined && !keySet) {
    throw new SecurityConfigError(keyPath, `${asymmetricAlgorithms.join(', ')} need publicKey, jwksUrl or jwksFile`);
  }

  const getKey: JWTVerifyGetKey = async (header, token) => {
    const alg = header.alg ?? '';
    const bound = keysByAlgorithm.get(alg);
    if (bound) return bound;
    if (keySet && !HMAC_ALGORITHMS.has(alg)) {
      try {
        return await keySet(header, token);
      } catch (err) {
        if (err instanceof joseErrors.JOSEError) throw err;
        throw new JwksUnavailableError(err); // the fetch itself failed (connection refused, DNS, ...)
      }
    }
    throw new AuthError('algorithm_not_allowed', `no key is configured for algorithm ${safeAlg(alg)}`);
  };

  const scopesClaim = config.scopesClaim ?? 'scope';
  const requiredClaims = [...new Set(['exp', 'sub', ...(config.requiredClaims ?? [])])];
  const claimOptions = {
    ...(config.issuer !== undefined ? { issuer: config.issuer } : {}),
    ...(config.audience !== undefined ? { audience: config.audience } : {}),
    requiredClaims,
    clockTolerance: config.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
  };
  const allowNone = config.allowNoneAlgorithm === true;
  if (allowNone) {
    deps.logger.warn(
      { event: 'jwt_alg_none_enabled', config: `${keyPath}.allowNoneAlgorithm` },
      'SECURITY WARNING: auth.jwt.allowNoneAlgorithm is true: UNSIGNED JWTs ARE ACCEPTED and anyone can claim any identity. Never use this in production.',
    );
  }

  return {
    async verify(token: string): Promise<Principal> {
      const alg = readAlgorithm(token);
      let payload: JWTPayload;
      try {
        if (alg === 'none') {
          if (!allowNone) throw new AuthError('algorithm_not_allowed', 'unsigned tokens (alg "none") are not accepted');
          payload = UnsecuredJWT.decode(token, claimOptions).payload;
          deps.logger.warn(
            { event: 'jwt_unsigned_accepted', sub: typeof payload.sub === 'string' ? payload.sub : undefined },
            'SECURITY WARNING: accepted an UNSIGNED JWT (alg "none") because auth.jwt.allowNoneAlgorithm is true',
          );
        } else {
          if (!(algorithms as string[]).includes(alg)) throw new AuthError('algorithm_not_allowed', `algorithm ${safeAlg(alg)} is not allowed`);
          payload = (await jwtVerify(token, getKey, { ...claimOptions, algorithms })).payload;
        }
      } catch (err) {
        if (err instanceof JwksUnavailableError || err instanceof joseErrors.JWKSTimeout) {
          deps.logger.error?.({ event: 'jwks_unavailable', err: { name: ((err as Error).cause as Error | undefined)?.name ?? (err as Error).name } }, 'JWT signing keys could not be loaded');
          // Our outage, not a bad token: 503 so clients retry instead of discarding their credential.
          throw serviceUnavailable('The token signing keys could not be fetched; retry shortly.', { code: 'jwks_unavailable', retryAfterSec: 5 });
        }
        throw toAuthError(err, deps.logger);
      }
      return principalFromPayload(payload, scopesClaim);
    },
  };
}

function validateAlgorithms(config: JwtConfig, keyPath: string): JwtAlgorithm[] {
  const list: unknown = config.algorithms;
  if (!Array.isArray(list) || list.length === 0) {
    throw new SecurityConfigError(`${keyPath}.algorithms`, 'required: list the algorithms tokens may be signed with, e.g. ["RS256"]');
  }
  for (const alg of list) {
    if (alg === 'none') throw new SecurityConfigError(`${keyPath}.algorithms`, '"none" cannot be listed; see allowNoneAlgorithm');
    if (!(JWT_ALGORITHMS as readonly unknown[]).includes(alg)) {
      throw new SecurityConfigError(`${keyPath}.algorithms`, `unknown algorithm ${JSON.stringify(alg)}; allowed: ${JWT_ALGORITHMS.join(', ')}`);
    }
  }
  return [...new Set(list as JwtAlgorithm[])];
}

/** Imports `publicKey` for `alg`, or returns null when the key's type cannot serve that algorithm. */
async function importPublicKey(publicKey: string | JWK, alg: string): Promise<CryptoKey | null> {
  try {
    if (typeof publicKey === 'string') return await importSPKI(publicKey, alg);
    if (publicKey.d !== undefined || publicKey.k !== undefined) return null; // private or symmetric JWK: never a verification key here
    const key = await importJWK({ ...publicKey, alg }, alg);
    return key instanceof Uint8Array ? null : key;
  } catch {
    return null;
  }
}

function buildKeySet(config: JwtConfig, keyPath: string): JWTVerifyGetKey | null {
  if (config.jwksUrl !== undefined && config.jwksFile !== undefined) {
    throw new SecurityConfigError(keyPath, 'set jwksUrl or jwksFile, not both');
  }
  if (config.jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(config.jwksUrl);
    } catch {
      throw new SecurityConfigError(`${keyPath}.jwksUrl`, 'is not a valid URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new SecurityConfigError(`${keyPath}.jwksUrl`, 'must be an http(s) URL');
    return createRemoteJWKSet(url, {
      cacheMaxAge: config.jwksCacheMaxAgeMs ?? 600_000,
      timeoutDuration: config.jwksTimeoutMs ?? 5_000,
    });
  }
  if (config.jwksFile !== undefined) {
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(readFileSync(config.jwksFile, 'utf8')) as JSONWebKeySet;
    } catch (err) {
      throw new SecurityConfigError(`${keyPath}.jwksFile`, `cannot read ${config.jwksFile}: ${(err as Error).message}`);
    }
    if (!jwks || !Array.isArray(jwks.keys)) throw new SecurityConfigError(`${keyPath}.jwksFile`, 'is not a JWKS document (no "keys" array)');
    if (jwks.keys.some((k) => k.d !== undefined || k.k !== undefined)) {
      throw new SecurityConfigError(`${keyPath}.jwksFile`, 'contains private or symmetric keys; only public keys belong in a JWKS');
    }
    return createLocalJWKSet(jwks);
  }
  return null;
}

/** The JWKS URL could not be fetched: an outage on our side, not a bad token. */
class JwksUnavailableError extends Error {
  constructor(cause: unknown) {
    super('JWKS fetch failed', { cause });
    this.name = 'JwksUnavailableError';
  }
}

/** The token's header `alg`, or a malformed_token refusal. Nothing in the token is trusted yet. */
function readAlgorithm(token: string): string {
  if (token.length > MAX_TOKEN_CHARS) throw new AuthError('malformed_token', `token longer than ${MAX_TOKEN_CHARS} characters`);
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) {
    throw new AuthError('malformed_token', 'token is not a compact JWS (three base64url parts)');
  }
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw new AuthError('malformed_token', 'token header is not valid base64url JSON');
  }
  if (typeof alg !== 'string') throw new AuthError('malformed_token', 'token header has no "alg"');
  return alg;
}

/** Maps a jose failure to a stable reason. Messages are ours: jose's may quote token content. */
function toAuthError(err: unknown, logger: WarnLogger): AuthError {
  if (err instanceof AuthError) return err;
  const reason = reasonFor(err);
  if (reason === 'unknown_key' && !(err instanceof joseErrors.JWKSNoMatchingKey)) {
    logger.error?.({ event: 'jwks_invalid', err: { name: (err as Error)?.name, code: (err as { code?: string })?.code } }, 'JWT signing keys are unusable');
  }
  return new AuthError(reason, MESSAGES[reason]);
}

function reasonFor(err: unknown): AuthReason {
  if (err instanceof joseErrors.JWTExpired) return 'token_expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return 'missing_claim';
    if (err.claim === 'nbf') return 'token_not_yet_valid';
    if (err.claim === 'aud') return 'wrong_audience';
    if (err.claim === 'iss') return 'wrong_issuer';
    return 'malformed_token';
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad_signature';
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) return 'algorithm_not_allowed';
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) return 'unknown_key';
  if (err instanceof joseErrors.JWKSInvalid) return 'unknown_key';
  // jose throws TypeError when a key's type cannot serve the header's alg.
  if (err instanceof TypeError) return 'algorithm_not_allowed';
  return 'malformed_token';
}

const MESSAGES: Record<AuthReason, string> = {
  missing_credentials: 'no credentials were presented',
  invalid_api_key: 'the API key is not valid',
  token_expired: 'the token has expired',
  token_not_yet_valid: 'the token is not valid yet (nbf)',
  bad_signature: 'the token signature does not verify',
  wrong_audience: 'the token is for another audience',
  wrong_issuer: 'the token comes from an issuer that is not accepted',
  algorithm_not_allowed: 'the token algorithm is not allowed',
  malformed_token: 'the token is malformed',
  missing_claim: 'the token lacks a required claim',
  unknown_key: 'no known key matches the token',
  insufficient_scope: 'the credential lacks the required scope',
};

function principalFromPayload(payload: JWTPayload, scopesClaim: string): Principal {
  if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256) {
    throw new AuthError('missing_claim', 'the token has no usable "sub" claim');
  }
  return { id: payload.sub, kind: 'jwt', scopes: readScopes(payload, scopesClaim) };
}

function readScopes(payload: JWTPayload, claim: string): string[] {
  const raw = payload[claim] ?? (claim === 'scope' ? payload['scp'] : undefined);
  if (typeof raw === 'string') return raw.split(' ').filter(Boolean);
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string');
  return [];
}

/** An algorithm name from an untrusted header, made safe to put in a message. */
function safeAlg(alg: string): string {
  return JSON.stringify(alg.slice(0, 20));
}

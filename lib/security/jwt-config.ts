/**
 * The `auth.jwt` settings and the algorithm list, apart from the verifier (lib/security/jwt.ts) so
 * that reading a config does not load jose; the verifier is loaded only when JWT auth is configured.
 */
import type { JWK } from 'jose';

/** Every JWS algorithm that may appear in `auth.jwt.algorithms`. `none` is not one of them. */
export const JWT_ALGORITHMS = [
  'HS256', 'HS384', 'HS512',
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA', 'Ed25519',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** `auth.jwt` in the config. */
export interface JwtConfig {
  /** Algorithms a token may be signed with. Required and non-empty: there is no default that accepts everything. */
  algorithms: JwtAlgorithm[];
  /**
   * Shared secret for HS256/384/512 (at least 32 bytes; usually `"secret:NAME"`). Bound to the HS*
   * algorithms only; imported once into a non-extractable WebCrypto key.
   */
  secret?: string | { revealString(): string };
  /** Public key for RS*, PS*, ES* or EdDSA: a PEM SPKI block (`-----BEGIN PUBLIC KEY-----`) or a JWK object. */
  publicKey?: string | JWK;
  /** Path of a PEM SPKI public key file, as an alternative to `publicKey`. */
  publicKeyFile?: string;
  /** URL of a JWKS document; fetched on demand and cached (see `jwksCacheMaxAgeMs`). */
  jwksUrl?: string;
  /** Path of a local JWKS file, read once at start-up (and on reload). */
  jwksFile?: string;
  /** Accepted `iss` value(s); when set, a token with another issuer is refused. */
  issuer?: string | string[];
  /** Accepted `aud` value(s); when set, a token for another audience is refused. */
  audience?: string | string[];
  /** Claims that must be present. `exp` and `sub` are always required on top of these. */
  requiredClaims?: string[];
  /** Leeway in seconds for `exp`/`nbf` checks against clock skew. Default 5. */
  clockToleranceSec?: number;
  /**
   * Accept unsigned (`alg: none`) tokens. Never in production: anyone can mint any identity.
   * When true, a warning is logged at start-up and on every unsigned token accepted.
   */
  allowNoneAlgorithm?: boolean;
  /** Claim holding scopes: a space-separated string or an array. Default `scope`, falling back to `scp`. */
  scopesClaim?: string;
  /** How long a fetched JWKS is trusted before it is fetched again. Default 600000 (10 min). */
  jwksCacheMaxAgeMs?: number;
  /** Timeout for fetching the JWKS URL. Default 5000. */
  jwksTimeoutMs?: number;
}

/** The slice of a pino logger this module needs. */
export interface WarnLogger {
  warn(obj: object, msg: string): void;
  error?(obj: object, msg: string): void;
}

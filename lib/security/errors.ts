import { AbiError } from '../errors.js';
import { ApiError, type ApiErrorConvertible } from '../protocol/errors.js';

/**
 * Why a presented credential was refused. Stable: clients and tests match on these, and they are
 * sent as the `code` of the OpenAI error envelope.
 */
export type AuthReason =
  | 'missing_credentials'
  | 'invalid_api_key'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'bad_signature'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'algorithm_not_allowed'
  | 'malformed_token'
  | 'missing_claim'
  | 'unknown_key'
  | 'insufficient_scope';

/**
 * A credential was missing, malformed or refused (401), or lacked a required scope (403).
 * `code` stays the package-wide `ABI_ERR_AUTH`; `reason` is the OpenAI envelope `code`.
 * Messages never contain key material or the presented token.
 */
export class AuthError extends AbiError implements ApiErrorConvertible {
  readonly status: 401 | 403;
  readonly reason: AuthReason;
  /** OpenAI envelope `type`. */
  readonly type: 'authentication_error' | 'permission_error';
  readonly param: string | null = null;
  readonly headers: Record<string, string>;

  constructor(reason: AuthReason, message: string, options?: { status?: 401 | 403; cause?: unknown }) {
    super(message, 'ABI_ERR_AUTH', options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AuthError';
    this.reason = reason;
    this.status = options?.status ?? 401;
    this.type = this.status === 403 ? 'permission_error' : 'authentication_error';
    const errorParam = this.status === 403 ? 'insufficient_scope' : reason === 'missing_credentials' ? '' : 'invalid_token';
    this.headers = {
      'www-authenticate': errorParam ? `Bearer realm="abi", error="${errorParam}"` : 'Bearer realm="abi"',
    };
  }

  /** The OpenAI error envelope for this refusal. */
  toEnvelope(): { error: { message: string; type: string; param: string | null; code: string } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.reason } };
  }

  toApiError(): ApiError {
    return new ApiError(this.message, { status: this.status, type: this.type, param: this.param, code: this.reason, headers: this.headers, cause: this });
  }
}

/** Security configuration was invalid (bad JWT keys, unknown algorithm, unreadable key file). */
export class SecurityConfigError extends AbiError {
  /** Dotted config path of the offending key, e.g. `auth.jwt.algorithms`. */
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super(`${key}: ${message}`, 'ABI_ERR_CONFIG', options);
    this.name = 'SecurityConfigError';
    this.key = key;
  }
}

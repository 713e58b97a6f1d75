import { FINAL_PROVIDER_CODES, RETRYABLE_STATUSES, type BackendErrorKind } from '../backends/errors.js';

export interface Failure {
  kind: BackendErrorKind;
  status?: number;
  retryAfterMs?: number;
  providerCode?: string;
  /** The provider's own words (BackendError.providerMessage), for rejections passed to the caller. */
  providerMessage?: string;
  retryable: boolean;
  message: string;
  /** The original thrown value, kept so the caller's final error can name it. */
  error: unknown;
}

const KINDS: ReadonlySet<string> = new Set<BackendErrorKind>(['connect', 'timeout', 'http', 'protocol', 'aborted', 'cut']);

/**
 * Reads what recovery needs from any thrown value. Backends throw BackendError
 * (lib/backends/errors.ts); this reads its documented fields structurally so that a plain Error
 * (a bug in a backend) is still classified sensibly: as a retryable protocol failure.
 */
export function describeFailure(error: unknown): Failure {
  const e = (typeof error === 'object' && error !== null ? error : {}) as Record<string, unknown>;
  const kind = typeof e.kind === 'string' && KINDS.has(e.kind) ? (e.kind as BackendErrorKind) : 'protocol';
  const status = typeof e.status === 'number' ? e.status : undefined;
  const providerCode = typeof e.providerCode === 'string' ? e.providerCode : undefined;
  const retryAfterMs = typeof e.retryAfterMs === 'number' && e.retryAfterMs >= 0 ? e.retryAfterMs : undefined;
  let retryable: boolean;
  if (providerCode && FINAL_PROVIDER_CODES.has(providerCode)) retryable = false;
  else if (typeof e.retryable === 'boolean') retryable = e.retryable;
  else if (kind === 'http') retryable = status !== undefined && RETRYABLE_STATUSES.has(status);
  else retryable = kind !== 'aborted';
  return {
    kind,
    status,
    retryAfterMs,
    providerCode,
    providerMessage: typeof e.providerMessage === 'string' ? e.providerMessage : undefined,
    retryable,
    message: error instanceof Error ? error.message : String(error),
    error,
  };
}

/** A short stable reason string for events and metrics labels. */
export function failureReason(f: Failure): string {
  // Rejections on the merits keep their code; other provider codes vary by provider, the status does not.
  if (f.providerCode && FINAL_PROVIDER_CODES.has(f.providerCode)) return f.providerCode;
  if (f.kind === 'http' && f.status !== undefined) return `http_${f.status}`;
  if (f.providerCode) return f.providerCode;
  return f.kind;
}

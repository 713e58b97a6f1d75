/**
 * Reads what recovery needs from any thrown value. Backends throw BackendError
 * (lib/backends/errors.ts); this reads its documented fields structurally so that a plain Error
 * (a bug in a backend) is still classified sensibly: as a retryable protocol failure.
 */
export type FailureKind = 'connect' | 'timeout' | 'http' | 'protocol' | 'aborted' | 'cut';

export interface Failure {
  kind: FailureKind;
  status?: number;
  retryAfterMs?: number;
  providerCode?: string;
  retryable: boolean;
  afterFirstToken: boolean;
  message: string;
  /** The original thrown value, kept so the caller's final error can name it. */
  error: unknown;
}

const KINDS: ReadonlySet<string> = new Set(['connect', 'timeout', 'http', 'protocol', 'aborted', 'cut']);

/** Statuses worth another attempt (issue 4): everything else, e.g. 400/401/403/404/422, is final. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 409, 429, 500, 502, 503, 504, 529]);

/** Provider codes that reject the request on its merits: retrying the same target cannot help. */
export const NON_RETRYABLE_CODES: ReadonlySet<string> = new Set([
  'context_length_exceeded',
  'content_policy_violation',
  'insufficient_quota',
]);

export function describeFailure(error: unknown): Failure {
  const e = (typeof error === 'object' && error !== null ? error : {}) as Record<string, unknown>;
  const kind = typeof e.kind === 'string' && KINDS.has(e.kind) ? (e.kind as FailureKind) : 'protocol';
  const status = typeof e.status === 'number' ? e.status : undefined;
  const providerCode = typeof e.providerCode === 'string' ? e.providerCode : undefined;
  const retryAfterMs = typeof e.retryAfterMs === 'number' && e.retryAfterMs >= 0 ? e.retryAfterMs : undefined;
  let retryable: boolean;
  if (providerCode && NON_RETRYABLE_CODES.has(providerCode)) retryable = false;
  else if (typeof e.retryable === 'boolean') retryable = e.retryable;
  else if (kind === 'http') retryable = status !== undefined && RETRYABLE_STATUSES.has(status);
  else retryable = kind !== 'aborted';
  return {
    kind,
    status,
    retryAfterMs,
    providerCode,
    retryable,
    afterFirstToken: e.afterFirstToken === true,
    message: error instanceof Error ? error.message : String(error),
    error,
  };
}

/** A short stable reason string for events and metrics labels. */
export function failureReason(f: Failure): string {
  if (f.providerCode) return f.providerCode;
  if (f.kind === 'http' && f.status !== undefined) return `http_${f.status}`;
  return f.kind;
}

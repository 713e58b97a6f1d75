/**
 * Structured logging with pino. Credentials never reach a log line: known secret-bearing fields are
 * redacted by path, and message strings and error messages/stacks are scrubbed of anything that
 * looks like a bearer token or API key (some upstreams echo keys back in error bodies).
 */
import { randomUUID } from 'node:crypto';
import pino, { type DestinationStream, type Logger, type LoggerOptions as PinoOptions } from 'pino';
import { scrubSecrets } from '../backends/errors.js';
import { REDACT_PATHS as SECURITY_REDACT_PATHS, scrubbingLogMethod, scrubPatterns } from '../security/secrets.js';

/**
 * Field paths censored in every log line: security's list (REDACT_PATHS in lib/security/secrets.ts)
 * plus these. pino's `*` matches one level. `token`/`tokens` are censored too (auth tokens), so log
 * token counts as `completion_tokens` etc.
 */
const OWN_REDACT_PATHS: readonly string[] = [
  'secrets',
  '*.secrets',
  '["x-api-key"]',
  '*["x-api-key"]',
  'headers.cookie',
  '*.*.apiKey',
  '*.*.authorization',
];

export const REDACT_PATHS: readonly string[] = [...new Set([...SECURITY_REDACT_PATHS, ...OWN_REDACT_PATHS])];

/** Pattern scrubbing for free text: security's credential shapes plus the backend error scrubber's. */
export function defaultScrub(text: string): string {
  return scrubPatterns(scrubSecrets(text));
}

export interface LoggerOptions {
  /** pino level: fatal, error, warn, info, debug, trace, silent. Default `info` (or `$ABI_LOG_LEVEL`). */
  level?: string;
  /** Where lines go; default stderr (stdout belongs to the CLI's own output). Tests pass a stream to capture them. */
  destination?: DestinationStream;
  /** Static fields on every line (e.g. `{ service: 'abi' }`). */
  base?: Record<string, unknown>;
  /**
   * Scrubs credentials from free text (messages, error messages and stacks). Default `defaultScrub`;
   * `abi serve` passes the secrets runtime's scrubber, which also removes the exact keys it holds.
   */
  scrub?: (text: string) => string;
}

function errorSerializer(scrub: (text: string) => string) {
  return (err: unknown): unknown => {
    if (!(err instanceof Error)) return err;
    const out = pino.stdSerializers.err(err) as unknown as Record<string, unknown>;
    if (typeof out.message === 'string') out.message = scrub(out.message);
    if (typeof out.stack === 'string') out.stack = scrub(out.stack);
    return out;
  };
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const scrub = opts.scrub ?? defaultScrub;
  const serializeError = errorSerializer(scrub);
  const options: PinoOptions = {
    level: opts.level ?? process.env.ABI_LOG_LEVEL ?? 'info',
    base: opts.base ?? { pid: process.pid },
    redact: { paths: [...REDACT_PATHS], censor: '[REDACTED]' },
    serializers: { err: serializeError, error: serializeError },
    hooks: { logMethod: scrubbingLogMethod(scrub) as NonNullable<PinoOptions['hooks']>['logMethod'] },
  };
  return pino(options, opts.destination ?? pino.destination({ dest: 2, sync: true }));
}

/** A fresh request id (also sent back as `x-request-id`). */
export function newRequestId(): string {
  return `req_${randomUUID().replace(/-/g, '')}`;
}

/** A child logger whose every line carries the request id (and any extra fields). */
export function requestLogger(parent: Logger, requestId: string, fields: Record<string, unknown> = {}): Logger {
  return parent.child({ request_id: requestId, ...fields });
}

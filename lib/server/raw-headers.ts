import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { toApiError } from '../protocol/errors.js';
import { securityHeaders } from '../security/http-hardening.js';

/** Security headers for responses written straight to a socket (malformed HTTP, refused upgrades). */
export const RAW_SECURITY_HEADERS = Object.entries(securityHeaders())
  .map(([k, v]) => `${k}: ${v}\r\n`)
  .join('');

/**
 * Answers on a socket that has no ServerResponse (malformed HTTP, a refused or misrouted upgrade)
 * with the error's status, headers and envelope, then closes it.
 */
export function endSocketWithError(socket: Duplex, err: unknown): void {
  const apiError = toApiError(err);
  const body = JSON.stringify(apiError.toEnvelope());
  const headers = Object.entries(apiError.headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${apiError.status} ${STATUS_CODES[apiError.status] ?? 'Error'}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n${headers}${RAW_SECURITY_HEADERS}connection: close\r\n\r\n${body}`,
  );
}

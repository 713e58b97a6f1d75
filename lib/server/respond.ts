import type { ServerResponse } from 'node:http';
import { toApiError, type ApiError } from '../protocol/errors.js';
import { CLOSE_CONNECTION } from './body.js';

/** Sends a JSON body with the given status. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/**
 * Sends anything thrown as the OpenAI error envelope with its status and headers. Returns the
 * ApiError so the caller can log the status it chose.
 */
export function sendError(res: ServerResponse, err: unknown, headers: Record<string, string> = {}): ApiError {
  const apiError = toApiError(err);
  if (res.headersSent || res.destroyed) return apiError;
  const extra: Record<string, string> = { ...apiError.headers, ...headers };
  if ((err as { [CLOSE_CONNECTION]?: boolean } | null)?.[CLOSE_CONNECTION]) extra.connection = 'close';
  sendJson(res, apiError.status, apiError.toEnvelope(), extra);
  return apiError;
}

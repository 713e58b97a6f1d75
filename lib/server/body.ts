import type { IncomingMessage } from 'node:http';
import { badRequest, payloadTooLarge, unsupportedMediaType } from '../protocol/errors.js';
import { parseJsonBody } from '../protocol/json.js';

/** Limits applied to every JSON request body. */
export interface BodyLimits {
  /** Largest accepted body in bytes (413 above it). */
  bodyLimitBytes: number;
  /** Deepest accepted JSON nesting (400 above it). */
  maxJsonDepth: number;
}

/** Marks an error after which the connection must not be reused: the rest of the body was never read. */
export const CLOSE_CONNECTION = Symbol('closeConnection');

function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false;
  const mediaType = value.split(';', 1)[0]!.trim().toLowerCase();
  return mediaType === 'application/json' || (mediaType.startsWith('application/') && mediaType.endsWith('+json'));
}

/**
 * Reads and parses a JSON body. The content type is checked before a byte is read (415), a declared
 * Content-Length over the limit is refused at once and a chunked body is cut as soon as it passes
 * the limit (413); both leave unread bytes on the socket, so the error is marked to close the connection.
 */
export async function readJsonBody(req: IncomingMessage, limits: BodyLimits): Promise<unknown> {
  if (!isJsonContentType(req.headers['content-type'])) {
    throw markClose(unsupportedMediaType(req.headers['content-type']), req);
  }
  const parsedAhead = bodyParsedAhead(req);
  if (parsedAhead !== undefined) {
    // The same limits as for a body read here, applied to the value's JSON text.
    if (Buffer.byteLength(parsedAhead) > limits.bodyLimitBytes) throw payloadTooLarge(limits.bodyLimitBytes);
    return parseJsonBody(parsedAhead, { maxDepth: limits.maxJsonDepth });
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limits.bodyLimitBytes) {
    throw markClose(payloadTooLarge(limits.bodyLimitBytes), req);
  }
  const body = await readBytes(req, limits.bodyLimitBytes);
  return parseJsonBody(body, { maxDepth: limits.maxJsonDepth });
}

/**
 * The body's bytes, by 'data'/'end' events rather than the stream's async iterator (which sets up
 * promise and end-of-stream machinery per request, a measurable share of a short stream's CPU).
 */
function readBytes(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', incomplete);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        reject(markClose(payloadTooLarge(limit), req));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const incomplete = (): void => {
      cleanup();
      reject(badRequest('The request body could not be read completely.', null, 'incomplete_body'));
    };
    const onClose = (): void => {
      if (!req.complete) incomplete();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', incomplete);
    req.on('close', onClose);
  });
}

/**
 * When body-parsing middleware ran before abi (Express's `express.json()` mounted globally) the
 * stream is already consumed and what it read sits on `req.body`: its bytes or text (`express.raw()`,
 * `express.text()`) or the parsed value's JSON text; undefined when nothing read the body.
 */
function bodyParsedAhead(req: IncomingMessage): Buffer | string | undefined {
  const body = (req as IncomingMessage & { body?: unknown }).body;
  if (!req.readableEnded || body === undefined) return undefined;
  return Buffer.isBuffer(body) || typeof body === 'string' ? body : JSON.stringify(body);
}

function markClose<E extends Error>(err: E, req: IncomingMessage): E {
  // Stop reading: the unread remainder makes the connection unusable for another request.
  req.pause();
  (err as unknown as { [CLOSE_CONNECTION]: boolean })[CLOSE_CONNECTION] = true;
  return err;
}

/** Requires a JSON object at the top level. */
export function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('Request body must be a JSON object.', null, 'invalid_request');
  }
  return body as Record<string, unknown>;
}

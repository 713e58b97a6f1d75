/**
 * Request-body JSON parsing that refuses hostile input with a clear 400 before it costs anything:
 * invalid UTF-8, nesting deeper than the configured limit, and malformed JSON.
 */
import { badRequest } from './errors.js';

export interface JsonParseLimits {
  /** Maximum nesting of arrays/objects; the top-level value is depth 1. */
  maxDepth: number;
}

const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Returns the deepest array/object nesting in `text`, stopping early once `limit` is exceeded.
 * Scanned before JSON.parse so a 1 MB body of `[[[[…` never builds a structure or recurses anywhere.
 */
export function jsonNestingDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return max;
}

/** Decodes a body as strict UTF-8; a malformed byte sequence is a 400, never a U+FFFD in the prompt. */
export function decodeUtf8Body(body: Uint8Array): string {
  try {
    return fatalDecoder.decode(body);
  } catch {
    throw badRequest('Request body is not valid UTF-8.', null, 'invalid_encoding');
  }
}

/**
 * Parses a JSON request body (bytes or an already-decoded string) with a nesting limit.
 * Every failure is an ApiError 400 with code `invalid_json` or `json_too_deep`.
 */
export function parseJsonBody(body: Uint8Array | string, limits: JsonParseLimits): unknown {
  const text = typeof body === 'string' ? body : decodeUtf8Body(body);
  if (text.trim() === '') throw badRequest('Request body is empty; expected a JSON object.', null, 'invalid_json');
  if (jsonNestingDepth(text, limits.maxDepth) > limits.maxDepth) {
    throw badRequest(`Request JSON is nested deeper than the limit of ${limits.maxDepth} levels.`, null, 'json_too_deep');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    const detail = err instanceof SyntaxError ? `: ${err.message.slice(0, 200)}` : '';
    throw badRequest(`Request body is not valid JSON${detail}.`, null, 'invalid_json');
  }
}

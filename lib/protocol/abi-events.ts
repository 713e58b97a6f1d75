/**
 * The ABI stream format: the gateway's own, simpler event stream served over SSE (`POST /api/stream`)
 * and WebSocket (`GET /api/stream/ws`), plus validation of its request body and of WebSocket client
 * messages.
 *
 * Events (one JSON object per SSE `data:` line or WebSocket text message):
 * - `{"type":"start","request_id","model","timestamp"}`: `timestamp` is unix milliseconds.
 * - `{"type":"token","content","index"}`: `index` counts tokens from 0.
 * - `{"type":"end","request_id","total_tokens","finish_reason"}`.
 * - `{"type":"error","request_id","error":{"message","type","param","code"}}`: the stream failed; no
 *   `end` follows.
 * Over WebSocket every event also carries the stream's `id` (the client's or the server's choice),
 * so several streams can share one connection.
 */
import type { ChatRequest, FinishReason } from '../backends/types.js';
import { badRequest, type ErrorEnvelope } from './errors.js';
import { validateMessages, type ChatValidationLimits } from './openai.js';
import { invalidType, isPlainObject, optInteger, optNumber, optString, requireNonEmptyString, type Json } from './validate.js';

export interface AbiStartEvent {
  type: 'start';
  request_id: string;
  model: string;
  timestamp: number;
  id?: string;
}
export interface AbiTokenEvent {
  type: 'token';
  content: string;
  index: number;
  id?: string;
}
export interface AbiEndEvent {
  type: 'end';
  request_id: string;
  total_tokens: number;
  finish_reason: FinishReason;
  id?: string;
}
export interface AbiErrorEvent {
  type: 'error';
  request_id: string | null;
  error: ErrorEnvelope['error'];
  id?: string;
}
export type AbiEvent = AbiStartEvent | AbiTokenEvent | AbiEndEvent | AbiErrorEvent;

/** `,"id":"…"` for WebSocket events, nothing for SSE (where the stream is the connection). */
const idField = (id: string | undefined) => (id === undefined ? '' : `,"id":${JSON.stringify(id)}`);

// Serialisers write JSON text directly; field order is fixed so clients and tests see stable output.
export function abiStart(requestId: string, model: string, timestampMs: number, id?: string): string {
  return `{"type":"start","request_id":${JSON.stringify(requestId)},"model":${JSON.stringify(model)},"timestamp":${timestampMs}${idField(id)}}`;
}

export function abiToken(content: string, index: number, id?: string): string {
  return `{"type":"token","content":${JSON.stringify(content)},"index":${index}${idField(id)}}`;
}

export function abiEnd(requestId: string, totalTokens: number, finishReason: FinishReason, id?: string): string {
  return `{"type":"end","request_id":${JSON.stringify(requestId)},"total_tokens":${totalTokens},"finish_reason":${JSON.stringify(finishReason)}${idField(id)}}`;
}

export function abiError(requestId: string | null, envelope: ErrorEnvelope, id?: string): string {
  return `{"type":"error","request_id":${JSON.stringify(requestId)},"error":${JSON.stringify(envelope.error)}${idField(id)}}`;
}

/** ABI requests obey the same limits as chat completion requests. */
export type AbiValidationLimits = ChatValidationLimits;

export interface ValidatedAbiRequest {
  /** Requested model; undefined lets the server's routes choose (the `*` route). */
  model?: string;
  backend?: string;
  /** The chat request; `model` is `''` until routing fills it when the client named none. */
  request: ChatRequest;
}

const ABI_FIELDS = new Set(['prompt', 'messages', 'backend', 'model', 'max_tokens', 'temperature']);

function validateAbiFields(body: Json, limits: AbiValidationLimits, ignore: ReadonlySet<string>): ValidatedAbiRequest {
  for (const key of Object.keys(body)) {
    if (!ABI_FIELDS.has(key) && !ignore.has(key)) {
      throw badRequest(`Unknown parameter: '${key}'.`, key, 'unknown_parameter');
    }
  }
  const hasPrompt = body.prompt !== undefined && body.prompt !== null;
  const hasMessages = body.messages !== undefined && body.messages !== null;
  if (hasPrompt === hasMessages) {
    throw badRequest(`Exactly one of 'prompt' or 'messages' is required.`, hasPrompt ? 'messages' : 'prompt', 'invalid_value');
  }
  let request: ChatRequest;
  if (hasPrompt) {
    const prompt = requireNonEmptyString(body, 'prompt');
    if (prompt.length > limits.maxTotalChars) {
      throw badRequest(`The prompt is longer than the limit of ${limits.maxTotalChars} characters.`, 'prompt', 'request_too_large');
    }
    request = { model: '', messages: [{ role: 'user', content: prompt }] };
  } else {
    request = { model: '', messages: validateMessages(body.messages, limits) };
  }
  const model = optString(body, 'model');
  if (model === '') throw badRequest(`Invalid value for 'model': it must not be empty.`, 'model', 'invalid_value');
  const backend = optString(body, 'backend');
  if (backend === '') throw badRequest(`Invalid value for 'backend': it must not be empty.`, 'backend', 'invalid_value');
  const maxTokens = optInteger(body, 'max_tokens', { min: 1, max: limits.maxTokensCap ?? Number.MAX_SAFE_INTEGER });
  const temperature = optNumber(body, 'temperature', { min: 0, max: 2 });
  if (model !== undefined) request.model = model;
  if (maxTokens !== undefined) request.maxTokens = maxTokens;
  if (temperature !== undefined) request.temperature = temperature;
  const out: ValidatedAbiRequest = { request };
  if (model !== undefined) out.model = model;
  if (backend !== undefined) out.backend = backend;
  return out;
}

const NO_EXTRA = new Set<string>();

/** Validates the body of `POST /api/stream`: `{prompt | messages, backend?, model?, max_tokens?, temperature?}`. */
export function validateAbiRequest(body: unknown, limits: AbiValidationLimits): ValidatedAbiRequest {
  if (!isPlainObject(body)) invalidType('body', 'a JSON object', body);
  return validateAbiFields(body, limits, NO_EXTRA);
}

/** Stream ids chosen by WebSocket clients: short, printable, safe to log and to put in URLs. */
const STREAM_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export type WsClientMessage =
  | ({ type: 'request'; id?: string } & ValidatedAbiRequest)
  | { type: 'cancel'; id: string }
  | { type: 'resume'; id: string; after: number };

const REQUEST_EXTRA = new Set(['type', 'id']);

function streamId(msg: Json, required: boolean): string | undefined {
  const id = required ? requireNonEmptyString(msg, 'id') : optString(msg, 'id');
  if (id !== undefined && !STREAM_ID.test(id)) {
    throw badRequest(`Invalid value for 'id': use 1-128 characters from A-Z a-z 0-9 . _ : -.`, 'id', 'invalid_value');
  }
  return id;
}

/**
 * Validates one parsed WebSocket client message:
 * `{type:"request", id?, prompt|messages, backend?, model?, max_tokens?, temperature?}`,
 * `{type:"cancel", id}` or `{type:"resume", id, after?}` (`after` = last seq received, default -1 = from the start).
 */
export function validateWsClientMessage(msg: unknown, limits: AbiValidationLimits): WsClientMessage {
  if (!isPlainObject(msg)) invalidType('message', 'a JSON object', msg);
  const type = msg.type;
  if (type === 'request') {
    const id = streamId(msg, false);
    const validated = validateAbiFields(msg, limits, REQUEST_EXTRA);
    return id === undefined ? { type, ...validated } : { type, id, ...validated };
  }
  if (type === 'cancel') {
    onlyKeys(msg, ['type', 'id']);
    return { type, id: streamId(msg, true)! };
  }
  if (type === 'resume') {
    onlyKeys(msg, ['type', 'id', 'after']);
    const id = streamId(msg, true)!;
    return { type, id, after: optInteger(msg, 'after', { min: -1, max: Number.MAX_SAFE_INTEGER }) ?? -1 };
  }
  throw badRequest(`Invalid value for 'type': ${JSON.stringify(type) ?? 'undefined'}; expected "request", "cancel" or "resume".`, 'type', 'invalid_value');
}

function onlyKeys(msg: Json, allowed: string[]): void {
  for (const key of Object.keys(msg)) {
    if (!allowed.includes(key)) throw badRequest(`Unknown parameter: '${key}'.`, key, 'unknown_parameter');
  }
}

/**
 * OpenAI Chat Completions on the gateway's front door: request validation into a ChatRequest, and the
 * chunk/completion objects sent back. Wire format: shared/reference/provider-streams.md §2.
 */
import type { ChatMessage, ChatRequest, ContentPart, ToolCall } from '../backends/types.js';
import { badRequest } from './errors.js';
import {
  invalidType,
  isPlainObject,
  optBool,
  optInteger,
  optNumber,
  optString,
  requireNonEmptyString,
  type Json,
} from './validate.js';

export { ChunkBuilder, CompletionAccumulator, type ChatCompletion, type ChunkIdentity } from './chunks.js';

/** Request limits the validator enforces (from `server` in the config). */
export interface ChatValidationLimits {
  /** Most messages in one request. */
  maxMessages: number;
  /** Most characters of text across all messages (content, text parts, tool-call arguments). */
  maxTotalChars: number;
  /** Largest `max_tokens`/`max_completion_tokens` accepted; undefined = no gateway cap. */
  maxTokensCap?: number;
}

export interface ValidatedChatRequest {
  /** The model the client asked for (the route key). */
  model: string;
  stream: boolean;
  /** `stream_options.include_usage`: send the usage chunk before [DONE]. */
  includeUsage: boolean;
  /** The optional `backend` field: pick this backend directly instead of routing by model. */
  backend?: string;
  /** The request for a backend; `model` is the requested one until routing resolves a target. */
  request: ChatRequest;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

/** Fields this validator reads itself; every other top-level field is passed through to upstreams. */
const OWN_FIELDS = new Set([
  'model',
  'messages',
  'temperature',
  'top_p',
  'max_tokens',
  'max_completion_tokens',
  'stop',
  'n',
  'seed',
  'stream',
  'stream_options',
  'user',
  'backend',
]);

const MAX_STOP_SEQUENCES = 4;

/**
 * Validates a parsed JSON body as an OpenAI chat completion request. Throws ApiError 400 naming the
 * offending `param`; never throws anything else.
 */
export function validateChatCompletionRequest(body: unknown, limits: ChatValidationLimits): ValidatedChatRequest {
  if (!isPlainObject(body)) invalidType('body', 'a JSON object', body);
  const model = requireNonEmptyString(body, 'model');
  const messages = validateMessages(body.messages, limits);

  const temperature = optNumber(body, 'temperature', { min: 0, max: 2 });
  const topP = optNumber(body, 'top_p', { min: 0, max: 1, minExclusive: true });
  const tokenCap = limits.maxTokensCap ?? Number.MAX_SAFE_INTEGER;
  const maxTokens = optInteger(body, 'max_tokens', { min: 1, max: tokenCap });
  const maxCompletionTokens = optInteger(body, 'max_completion_tokens', { min: 1, max: tokenCap });
  const stop = validateStop(body.stop);
  const n = optInteger(body, 'n', { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
  if (n !== undefined && n !== 1) {
    throw badRequest(`Invalid value for 'n': ${n}; this server generates exactly one choice, so 'n' must be 1.`, 'n', 'invalid_value');
  }
  const seed = optInteger(body, 'seed', { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
  const stream = optBool(body, 'stream') ?? false;
  const includeUsage = validateStreamOptions(body.stream_options);
  const user = optString(body, 'user');
  const backend = optString(body, 'backend');
  if (backend === '') throw badRequest(`Invalid value for 'backend': it must not be empty.`, 'backend', 'invalid_value');
  validateKnownPassthrough(body);

  let passthrough: Record<string, unknown> | undefined;
  for (const key of Object.keys(body)) {
    if (OWN_FIELDS.has(key) || body[key] === undefined) continue;
    // defineProperty, not assignment: a `__proto__` key from JSON.parse must stay a plain field.
    Object.defineProperty((passthrough ??= {}), key, { value: body[key], enumerable: true, writable: true, configurable: true });
  }

  const request: ChatRequest = { model, messages };
  const effectiveMax = maxCompletionTokens ?? maxTokens;
  if (effectiveMax !== undefined) request.maxTokens = effectiveMax;
  if (temperature !== undefined) request.temperature = temperature;
  if (topP !== undefined) request.topP = topP;
  if (stop !== undefined) request.stop = stop;
  if (seed !== undefined) request.seed = seed;
  if (user !== undefined) request.user = user;
  if (passthrough) request.passthrough = passthrough;

  const out: ValidatedChatRequest = { model, stream, includeUsage, request };
  if (backend !== undefined) out.backend = backend;
  return out;
}

function validateStop(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v)) invalidType('stop', 'a string or an array of strings', v);
  if (v.length > MAX_STOP_SEQUENCES) {
    throw badRequest(`Invalid value for 'stop': at most ${MAX_STOP_SEQUENCES} stop sequences are allowed, got ${v.length}.`, 'stop', 'invalid_value');
  }
  v.forEach((s, i) => {
    if (typeof s !== 'string') invalidType(`stop[${i}]`, 'a string', s);
  });
  return v.length === 0 ? undefined : (v as string[]);
}

function validateStreamOptions(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (!isPlainObject(v)) invalidType('stream_options', 'an object', v);
  optBool(v, 'include_obfuscation', 'stream_options.include_obfuscation');
  return optBool(v, 'include_usage', 'stream_options.include_usage') ?? false;
}

/** Type checks for passthrough fields whose shape OpenAI documents, so a typo fails here, not upstream. */
function validateKnownPassthrough(body: Json): void {
  optNumber(body, 'presence_penalty', { min: -2, max: 2 });
  optNumber(body, 'frequency_penalty', { min: -2, max: 2 });
  optBool(body, 'logprobs');
  optInteger(body, 'top_logprobs', { min: 0, max: 20 });
  optBool(body, 'parallel_tool_calls');
  if (body.tools !== undefined && body.tools !== null) {
    if (!Array.isArray(body.tools)) invalidType('tools', 'an array', body.tools);
    body.tools.forEach((t, i) => {
      if (!isPlainObject(t)) invalidType(`tools[${i}]`, 'an object', t);
      requireNonEmptyString(t, 'type', `tools[${i}].type`);
    });
  }
  const rf = body.response_format;
  if (rf !== undefined && rf !== null) {
    if (!isPlainObject(rf)) invalidType('response_format', 'an object', rf);
    requireNonEmptyString(rf, 'type', 'response_format.type');
  }
  const tc = body.tool_choice;
  if (tc !== undefined && tc !== null && typeof tc !== 'string' && !isPlainObject(tc)) {
    invalidType('tool_choice', 'a string or an object', tc);
  }
}

interface CharBudget {
  used: number;
  max: number;
}

function spend(budget: CharBudget, text: string, param: string): void {
  budget.used += text.length;
  if (budget.used > budget.max) {
    throw badRequest(
      `The messages are too long: more than the limit of ${budget.max} characters in total.`,
      param,
      'request_too_large',
    );
  }
}

/** Validates an OpenAI `messages` array (shared with the ABI request format). */
export function validateMessages(v: unknown, limits: Pick<ChatValidationLimits, 'maxMessages' | 'maxTotalChars'>): ChatMessage[] {
  if (v === undefined || v === null) throw badRequest(`Missing required parameter: 'messages'.`, 'messages', 'missing_required_parameter');
  if (!Array.isArray(v)) invalidType('messages', 'an array', v);
  if (v.length === 0) throw badRequest(`Invalid value for 'messages': it must contain at least one message.`, 'messages', 'invalid_value');
  if (v.length > limits.maxMessages) {
    throw badRequest(`Too many messages: ${v.length}; the limit is ${limits.maxMessages}.`, 'messages', 'invalid_value');
  }
  const budget: CharBudget = { used: 0, max: limits.maxTotalChars };
  return v.map((m, i) => validateMessage(m, `messages[${i}]`, budget));
}

function validateMessage(m: unknown, at: string, budget: CharBudget): ChatMessage {
  if (!isPlainObject(m)) invalidType(at, 'an object', m);
  const role = m.role;
  if (role === undefined || role === null) throw badRequest(`Missing required parameter: '${at}.role'.`, `${at}.role`, 'missing_required_parameter');
  if (typeof role !== 'string' || !ROLES.has(role)) {
    throw badRequest(
      `Invalid value for '${at}.role': ${JSON.stringify(role)}; supported roles are system, developer, user, assistant and tool.`,
      `${at}.role`,
      'invalid_value',
    );
  }
  const msg = { role } as ChatMessage;
  const name = optString(m, 'name', `${at}.name`);
  if (name !== undefined) msg.name = name;

  if (role === 'assistant') {
    const toolCalls = validateToolCalls(m.tool_calls, `${at}.tool_calls`, budget);
    const content = m.content === undefined || m.content === null ? null : validateContent(m.content, `${at}.content`, budget, 'assistant');
    if (content === null && !toolCalls) {
      throw badRequest(`Missing parameter '${at}.content': an assistant message needs content or tool_calls.`, `${at}.content`, 'missing_required_parameter');
    }
    msg.content = content;
    if (toolCalls) msg.tool_calls = toolCalls;
    return msg;
  }
  if (m.content === undefined || m.content === null) {
    throw badRequest(`Missing required parameter: '${at}.content'.`, `${at}.content`, 'missing_required_parameter');
  }
  msg.content = validateContent(m.content, `${at}.content`, budget, role);
  if (role === 'tool') msg.tool_call_id = requireNonEmptyString(m, 'tool_call_id', `${at}.tool_call_id`);
  return msg;
}

function validateContent(v: unknown, at: string, budget: CharBudget, role: string): string | ContentPart[] {
  if (typeof v === 'string') {
    spend(budget, v, at);
    return v;
  }
  if (!Array.isArray(v)) invalidType(at, 'a string or an array of content parts', v);
  return v.map((part, i) => validatePart(part, `${at}[${i}]`, budget, role));
}

function validatePart(part: unknown, at: string, budget: CharBudget, role: string): ContentPart {
  if (!isPlainObject(part)) invalidType(at, 'an object', part);
  const type = requireNonEmptyString(part, 'type', `${at}.type`);
  if (type === 'text') {
    const text = part.text;
    if (typeof text !== 'string') invalidType(`${at}.text`, 'a string', text);
    spend(budget, text, `${at}.text`);
  } else if (type === 'refusal') {
    if (role !== 'assistant') throw badRequest(`Invalid value for '${at}.type': refusal parts are only allowed in assistant messages.`, `${at}.type`, 'invalid_value');
    const refusal = part.refusal;
    if (typeof refusal !== 'string') invalidType(`${at}.refusal`, 'a string', refusal);
    spend(budget, refusal, `${at}.refusal`);
  } else if (role !== 'user') {
    throw badRequest(`Invalid value for '${at}.type': ${role} messages only accept text parts, got ${JSON.stringify(type)}.`, `${at}.type`, 'invalid_value');
  } else if (type === 'image_url') {
    const image = part.image_url;
    if (!isPlainObject(image)) invalidType(`${at}.image_url`, 'an object', image);
    requireNonEmptyString(image, 'url', `${at}.image_url.url`);
    optString(image, 'detail', `${at}.image_url.detail`);
  }
  return part as ContentPart;
}

function validateToolCalls(v: unknown, at: string, budget: CharBudget): ToolCall[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) invalidType(at, 'an array', v);
  if (v.length === 0) return undefined;
  return v.map((tc, i) => {
    const p = `${at}[${i}]`;
    if (!isPlainObject(tc)) invalidType(p, 'an object', tc);
    const id = requireNonEmptyString(tc, 'id', `${p}.id`);
    if (tc.type !== 'function') {
      throw badRequest(`Invalid value for '${p}.type': expected "function".`, `${p}.type`, 'invalid_value');
    }
    const fn = tc.function;
    if (!isPlainObject(fn)) invalidType(`${p}.function`, 'an object', fn);
    const name = requireNonEmptyString(fn, 'name', `${p}.function.name`);
    const args = fn.arguments;
    if (typeof args !== 'string') invalidType(`${p}.function.arguments`, 'a string', args);
    spend(budget, args, `${p}.function.arguments`);
    return { id, type: 'function', function: { name, arguments: args } };
  });
}

/**
 * The `anthropic` backend: Anthropic Messages API streaming (provider-streams.md §3) translated to the
 * same BackendEvents as every other backend. OpenAI-shaped requests are mapped both ways: system
 * messages hoisted to `system`, tools/tool_choice/tool_calls/tool messages ↔ tools/tool_use/tool_result,
 * streamed input_json_delta → tool_calls deltas, stop_reason → finish_reason, usage from message_start
 * and the cumulative message_delta. `prefill` becomes a trailing assistant message (continuation).
 * It also holds what the ollama backend shares with it (postAndRead over http-client.ts, upstreamPool),
 * for want of a shared backend file owned by the same module.
 */
import type { Readable } from 'node:stream';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Dispatcher, Pool } from 'undici';
import type { ConfigReader } from '../config/reader.js';
import type { BackendConfigBase, BackendTimeouts } from '../config/sections/backends.js';
import { bodyBatches } from './body-batches.js';
import { Utf8Stream } from './utf8-stream.js';
import { BackendError, classifyHttpError } from './errors.js';
import { checkHeaderMap, createUpstreamPool, endpointPath, readBodyText, readHttpBaseUrl, toBackendError } from './http-client.js';
import type { BackendTypeDefinition } from './registry.js';
import type { Backend, BackendEvent, ChatMessage, ChatRequest, ContentPart, FinishReason, ToolCallDelta, Usage } from './types.js';

export interface AnthropicBackendConfig {
  /** API origin (default `https://api.anthropic.com`); requests go to `${baseUrl}/v1/messages`. */
  baseUrl?: string;
  /** Sent as `x-api-key`; a function is called per request so the key is revealed only when used. */
  apiKey?: string | (() => string);
  /** `anthropic-version` header (default `2023-06-01`). */
  anthropicVersion?: string;
  /** `max_tokens` when the request sets none; Anthropic requires one (default 4096). */
  defaultMaxTokens?: number;
  /** Accepts an assistant prefill to continue from (default true: the Messages API does). */
  continuation?: boolean;
  /** Extra request headers (e.g. `anthropic-beta`). */
  headers?: Record<string, string>;
  /** Models listed by GET /v1/models. */
  models?: string[];
  /**
   * `backends.<name>.timeouts` (docs/recovery.md). The backend applies connectMs (default 10000) and
   * totalMs as its read limit (default 300000); executeRoute enforces firstTokenMs and idleMs.
   */
  timeouts?: Partial<BackendTimeouts>;
}

export interface BackendDeps {
  logger?: { warn(obj: object, msg: string): void };
  /** Told of every unparseable upstream event skipped (the `upstream_malformed_chunks_total` metric). */
  onMalformedChunks?: (backend: string, count: number) => void;
}

const STOP_REASONS: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
  pause_turn: 'stop',
};

/** Anthropic error types → the HTTP status they stand for (mid-stream `event: error` carries no status). */
const ERROR_STATUS: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

export class AnthropicBackend implements Backend {
  readonly type = 'anthropic';
  readonly continuation: boolean;
  private readonly upstream: UpstreamEndpoint;
  private readonly headers: Record<string, string>;

  constructor(
    readonly name: string,
    private readonly config: AnthropicBackendConfig,
    private readonly deps: BackendDeps = {},
  ) {
    this.continuation = config.continuation ?? true;
    const baseUrl = new URL(config.baseUrl ?? 'https://api.anthropic.com');
    this.headers = {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'anthropic-version': config.anthropicVersion ?? '2023-06-01',
      ...config.headers,
    };
    this.upstream = {
      pool: upstreamPool(baseUrl, config.timeouts),
      path: endpointPath(baseUrl, '/v1/messages'),
      backend: name,
      secrets: () => keySecrets(config.apiKey),
    };
  }

  models(): string[] {
    return this.config.models ?? [];
  }

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncGenerator<BackendEvent> {
    for await (const batch of this.streamBatches(request, signal)) yield* batch;
  }

  /** The events of the upstream's network reads in batches: all that arrived since the last pull. */
  async *streamBatches(request: ChatRequest, signal: AbortSignal): AsyncGenerator<BackendEvent[]> {
    const { body, stripLeading } = toAnthropicRequest(request, this.config.defaultMaxTokens ?? 4096);
    const headers = this.config.apiKey ? { ...this.headers, 'x-api-key': revealKey(this.config.apiKey) } : this.headers;
    yield* postAndRead(this.upstream, headers, body, signal, (res, progress) => this.readBatches(res, stripLeading, progress));
  }

  private async *readBatches(body: Readable, stripLeading: string, progress: { afterFirstToken: boolean }): AsyncGenerator<BackendEvent[]> {
    const queue: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (e) => queue.push(e) });
    const decoder = new Utf8Stream();
    const state = new StreamState(this.name, stripLeading, this.deps);
    // An error event throws from here; the events before it in the same read are delivered first.
    const decode = (chunk: Buffer, out: BackendEvent[]): void => {
      parser.feed(decoder.write(chunk));
      while (queue.length > 0 && !state.finished) {
        for (const e of state.handle(queue.shift()!)) {
          if (e.type === 'content' || e.type === 'tool_calls') progress.afterFirstToken = true;
          out.push(e);
        }
      }
    };
    yield* bodyBatches(body, decode, { stopAfter: () => state.finished });
    if (state.finished) return;
    // EOF without a stop reason: a cut stream. executeRoute also treats a missing finish as cut;
    // raising here gives the precise reason.
    throw new BackendError(`backend '${this.name}': stream ended without message_stop`, { kind: 'cut', backend: this.name });
  }

  close(): Promise<void> {
    return this.upstream.pool.close();
  }
}

/** Per-stream translation state. */
class StreamState {
  finished = false;
  private inputTokens: number | undefined;
  private outputTokens: number | undefined;
  /** Anthropic content block index → OpenAI tool_calls index. */
  private readonly toolIndex = new Map<number, number>();
  private strip: string;

  constructor(
    private readonly backend: string,
    stripLeading: string,
    private readonly deps: BackendDeps,
  ) {
    this.strip = stripLeading;
  }

  handle(message: EventSourceMessage): BackendEvent[] {
    let data: any;
    try {
      data = JSON.parse(message.data);
    } catch {
      this.deps.logger?.warn({ backend: this.backend, event: message.event, bytes: message.data.length }, 'skipped unparseable upstream event');
      this.deps.onMalformedChunks?.(this.backend, 1);
      return [];
    }
    const type = typeof data?.type === 'string' ? data.type : message.event;
    switch (type) {
      case 'message_start': {
        const usage = data.message?.usage;
        if (usage) this.takeUsage(usage);
        return [{ type: 'start', model: String(data.message?.model ?? '') }];
      }
      case 'content_block_start': {
        const block = data.content_block;
        if (block?.type === 'tool_use') {
          const index = this.toolIndex.size;
          this.toolIndex.set(data.index, index);
          return [{ type: 'tool_calls', toolCalls: [{ index, id: String(block.id), type: 'function', function: { name: String(block.name), arguments: '' } }] }];
        }
        if (block?.type === 'text' && typeof block.text === 'string' && block.text) return this.text(block.text);
        return [];
      }
      case 'content_block_delta': {
        const delta = data.delta;
        if (delta?.type === 'text_delta' && typeof delta.text === 'string') return this.text(delta.text);
        if (delta?.type === 'input_json_delta' && typeof delta.partial_json === 'string') {
          const index = this.toolIndex.get(data.index);
          if (index === undefined) return [];
          const call: ToolCallDelta = { index, function: { arguments: delta.partial_json } };
          return [{ type: 'tool_calls', toolCalls: [call] }];
        }
        return []; // thinking, signature and citation deltas have no OpenAI chat equivalent
      }
      case 'message_delta': {
        if (data.usage) this.takeUsage(data.usage);
        const stop = data.delta?.stop_reason;
        if (stop === null || stop === undefined) return [];
        return this.finish(stop);
      }
      case 'message_stop':
        // message_delta without a stop reason then message_stop: finalise with the default.
        return this.finish(null);
      case 'error': {
        const errType = String(data.error?.type ?? 'api_error');
        const status = ERROR_STATUS[errType] ?? 500;
        throw new BackendError(`backend '${this.backend}' sent an error event (${errType}: ${String(data.error?.message ?? '')})`, {
          kind: 'http',
          backend: this.backend,
          status,
          providerCode: errType,
          providerMessage: typeof data.error?.message === 'string' ? data.error.message : undefined,
        });
      }
      default:
        return []; // ping and event types added later (the versioning policy: ignore unknown events)
    }
  }

  private text(text: string): BackendEvent[] {
    // Anthropic rejects a prefill ending in whitespace, so it was trimmed; drop that whitespace where the model repeats it.
    while (this.strip && text && text[0] === this.strip[0]) {
      text = text.slice(1);
      this.strip = this.strip.slice(1);
    }
    if (text) this.strip = '';
    return text ? [{ type: 'content', text }] : [];
  }

  private finish(stopReason: string | null): BackendEvent[] {
    this.finished = true;
    let reason = stopReason === null ? undefined : STOP_REASONS[stopReason];
    if (stopReason === 'pause_turn') this.deps.logger?.warn({ backend: this.backend }, 'anthropic paused a server-tool turn; finishing it as stop');
    if (reason === undefined) {
      this.deps.logger?.warn({ backend: this.backend, stopReason }, 'unknown or missing anthropic stop_reason; finishing as stop');
      reason = 'stop';
    }
    const out: BackendEvent[] = [{ type: 'finish', reason }];
    if (this.inputTokens !== undefined && this.outputTokens !== undefined) {
      const usage: Usage = { prompt_tokens: this.inputTokens, completion_tokens: this.outputTokens, total_tokens: this.inputTokens + this.outputTokens };
      out.push({ type: 'usage', usage });
    }
    return out;
  }

  private takeUsage(u: Record<string, unknown>): void {
    const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    if ('input_tokens' in u || 'cache_creation_input_tokens' in u || 'cache_read_input_tokens' in u) {
      this.inputTokens = n(u.input_tokens) + n(u.cache_creation_input_tokens) + n(u.cache_read_input_tokens);
    }
    // Cumulative: the last value is the total, never a sum of deltas.
    if (typeof u.output_tokens === 'number') this.outputTokens = u.output_tokens;
  }
}

type AnthropicBlock = Record<string, unknown> & { type: string };
interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: AnthropicBlock[];
}

function partsText(content: ChatMessage['content']): string {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .filter((p): p is { type: 'text'; text: string } => p.type === 'text' && typeof (p as { text?: unknown }).text === 'string')
    .map((p) => p.text)
    .join('');
}

function userBlocks(content: ChatMessage['content']): AnthropicBlock[] {
  if (content === null) return [];
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : [];
  const out: AnthropicBlock[] = [];
  for (const part of content as ContentPart[]) {
    if (part.type === 'text' && typeof (part as { text?: unknown }).text === 'string') out.push({ type: 'text', text: (part as { text: string }).text });
    else if (part.type === 'image_url') {
      const url = String((part as { image_url?: { url?: unknown } }).image_url?.url ?? '');
      const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
      out.push(m ? { type: 'image', source: { type: 'base64', media_type: m[1], data: m[2] } } : { type: 'image', source: { type: 'url', url } });
    }
  }
  return out;
}

function parseArguments(args: string): unknown {
  try {
    return args.trim() ? JSON.parse(args) : {};
  } catch {
    // Anthropic needs an object; keep the model's malformed text visible rather than dropping it.
    return { _raw: args };
  }
}

/**
 * Maps an OpenAI-shaped ChatRequest to a Messages API body. Returns the whitespace trimmed off the
 * prefill so the stream can drop it from the model's continuation.
 */
export function toAnthropicRequest(req: ChatRequest, defaultMaxTokens: number): { body: Record<string, unknown>; stripLeading: string } {
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  const push = (role: 'user' | 'assistant', blocks: AnthropicBlock[]) => {
    if (blocks.length === 0) return;
    const last = messages[messages.length - 1];
    // The API wants alternating roles: consecutive same-role turns (e.g. several tool results) merge.
    if (last && last.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  for (const m of req.messages) {
    if (m.role === 'system' || m.role === 'developer') {
      const t = partsText(m.content);
      if (t) system.push(t);
    } else if (m.role === 'user') {
      push('user', userBlocks(m.content));
    } else if (m.role === 'assistant') {
      const blocks: AnthropicBlock[] = [];
      const text = partsText(m.content);
      if (text) blocks.push({ type: 'text', text });
      for (const call of m.tool_calls ?? []) {
        blocks.push({ type: 'tool_use', id: call.id, name: call.function.name, input: parseArguments(call.function.arguments) });
      }
      push('assistant', blocks);
    } else if (m.role === 'tool') {
      push('user', [{ type: 'tool_result', tool_use_id: m.tool_call_id ?? '', content: partsText(m.content) }]);
    }
  }
  let stripLeading = '';
  if (req.prefill) {
    const trimmed = req.prefill.trimEnd();
    stripLeading = req.prefill.slice(trimmed.length);
    if (trimmed) push('assistant', [{ type: 'text', text: trimmed }]);
  }
  const body: Record<string, unknown> = {
    model: req.model,
    max_tokens: req.maxTokens ?? defaultMaxTokens,
    messages,
    stream: true,
  };
  if (system.length) body.system = system.join('\n\n');
  if (req.temperature !== undefined) body.temperature = Math.min(1, req.temperature);
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.stop?.length) body.stop_sequences = req.stop;
  if (req.user) body.metadata = { user_id: req.user };
  const pt = req.passthrough ?? {};
  if (Array.isArray(pt.tools)) {
    body.tools = (pt.tools as { type?: string; function?: { name?: string; description?: string; parameters?: unknown } }[])
      .filter((t) => t.type === 'function' && t.function?.name)
      .map((t) => {
        const tool: Record<string, unknown> = { name: t.function!.name, input_schema: t.function!.parameters ?? { type: 'object', properties: {} } };
        if (t.function!.description) tool.description = t.function!.description;
        return tool;
      });
  }
  const choice = mapToolChoice(pt.tool_choice, pt.parallel_tool_calls);
  if (choice) body.tool_choice = choice;
  if (typeof pt.top_k === 'number') body.top_k = pt.top_k;
  return { body, stripLeading };
}

function mapToolChoice(choice: unknown, parallel: unknown): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  if (choice === 'auto') out = { type: 'auto' };
  else if (choice === 'none') out = { type: 'none' };
  else if (choice === 'required') out = { type: 'any' };
  else if (typeof choice === 'object' && choice !== null) {
    const name = (choice as { function?: { name?: unknown } }).function?.name;
    if (typeof name === 'string') out = { type: 'tool', name };
  }
  if (parallel === false) out = { ...(out ?? { type: 'auto' }), disable_parallel_tool_use: true };
  return out;
}

export function revealKey(key: string | (() => string)): string {
  return typeof key === 'function' ? key() : key;
}

/** The credential to scrub from upstream error text, revealed only when an error is built. */
export function keySecrets(key: string | (() => string) | undefined): string[] {
  return key ? [revealKey(key)] : [];
}

/** Where a backend posts: its pool and endpoint path, its name for errors, and the credentials to scrub from them. */
export interface UpstreamEndpoint {
  pool: Pool;
  path: string;
  backend: string;
  secrets: () => string[];
}

/**
 * POSTs `payload` as JSON and streams the events `read` makes of a 2xx body. A non-2xx answer is thrown
 * as the classified BackendError, a transport failure as the mapped one (a `cut` once the response
 * started, marked afterFirstToken once `read` says output went out). The body is destroyed when the
 * consumer leaves early, so nobody pays for tokens that are never read.
 */
export async function* postAndRead<T>(
  upstream: UpstreamEndpoint,
  headers: Record<string, string>,
  payload: unknown,
  signal: AbortSignal,
  read: (body: Dispatcher.ResponseData['body'], progress: { afterFirstToken: boolean }) => AsyncGenerator<T>,
): AsyncGenerator<T> {
  const progress = { responseStarted: false, afterFirstToken: false };
  let res: Dispatcher.ResponseData | undefined;
  try {
    res = await upstream.pool.request({ method: 'POST', path: upstream.path, headers, body: JSON.stringify(payload), signal });
    progress.responseStarted = true;
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw classifyHttpError(res.statusCode, res.headers, await readBodyText(res.body), { backend: upstream.backend, secrets: upstream.secrets() });
    }
    yield* read(res.body, progress);
  } catch (err) {
    throw toBackendError(err, { backend: upstream.backend, signal, ...progress });
  } finally {
    if (res && !res.body.destroyed) res.body.destroy();
  }
}

/**
 * The keep-alive pool of an anthropic or ollama backend. Response waits are bounded by `totalMs` only:
 * the first-token and idle limits are executeRoute's attempt timers (lib/recovery/attempt.ts).
 */
export function upstreamPool(baseUrl: URL, timeouts: Partial<BackendTimeouts> = {}): Pool {
  const readLimitMs = timeouts.totalMs ?? 300_000;
  return createUpstreamPool(baseUrl, { connections: 128, connectMs: timeouts.connectMs ?? 10_000, headersTimeoutMs: readLimitMs, bodyTimeoutMs: readLimitMs });
}

/** Validated `backends.<name>` of type anthropic. */
export interface AnthropicConfigEntry extends BackendConfigBase {
  type: 'anthropic';
  settings: AnthropicBackendConfig;
}

/** Reads the anthropic keys; `continuation` defaults to true here because the Messages API continues a trailing assistant turn. */
export function readAnthropicConfig(r: ConfigReader, base: BackendConfigBase): AnthropicConfigEntry {
  const settings: AnthropicBackendConfig = {
    baseUrl: readHttpBaseUrl(r, 'baseUrl', 'https://api.anthropic.com'),
    anthropicVersion: r.string('anthropicVersion', '2023-06-01'),
    defaultMaxTokens: r.int('defaultMaxTokens', 4096, { min: 1, max: 1_000_000 }),
    continuation: r.raw.continuation === undefined ? true : base.continuation,
    timeouts: base.timeouts,
  };
  const apiKey = r.secret('apiKey');
  if (apiKey) settings.apiKey = () => apiKey.revealString();
  const headers = r.stringMap('headers');
  if (headers) settings.headers = checkHeaderMap(r, headers);
  const models = r.stringArray('models');
  if (models) settings.models = models;
  return { ...base, type: 'anthropic', continuation: settings.continuation!, settings };
}

export const anthropicBackendType: BackendTypeDefinition<AnthropicConfigEntry> = {
  type: 'anthropic',
  create: (name, config, deps) => new AnthropicBackend(name, config.settings, deps),
  readConfig: readAnthropicConfig,
};

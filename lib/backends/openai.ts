/**
 * The `openai` backend: any OpenAI-compatible Chat Completions upstream (OpenAI, vLLM, llama.cpp's
 * server, LM Studio, Ollama's /v1). Always streams upstream with `include_usage`, parses the SSE with
 * eventsource-parser and yields BackendEvents. Wire format: shared/reference/provider-streams.md §2.
 *
 * Stream endings: `[DONE]` is a clean end; a finish reason followed by EOF is finalised cleanly; EOF
 * without a finish reason, a transport reset, or an in-band `data: {"error":…}` is a cut stream
 * (BackendError kind `cut`). Unparseable chunks are skipped and counted, never passed on.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Logger } from 'pino';
import type { Dispatcher, Pool } from 'undici';
import type { ConfigReader, SecretLike } from '../config/reader.js';
import type { BackendConfigBase, BackendTimeouts } from '../config/sections/backends.js';
import { bodyBatches } from './body-batches.js';
import { Utf8Stream } from './utf8-stream.js';
import { BackendError, classifyHttpError, defaultRetryable, scrubSecrets } from './errors.js';
import { checkHeaderMap, createUpstreamPool, endpointPath, readBodyText, readHttpBaseUrl, toBackendError } from './http-client.js';
import type { BackendDeps, BackendTypeDefinition } from './registry.js';
import type { Backend, BackendEvent, ChatMessage, ChatRequest, FinishReason, ToolCallDelta, Usage } from './types.js';

export interface OpenAIBackendConfig extends BackendConfigBase {
  type: 'openai';
  /** Base URL including the version path, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8000/v1`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …`; absent for upstreams without auth (local servers). */
  apiKey?: SecretLike;
  /** Extra request headers (e.g. `OpenAI-Organization`); values may be `env:`/`secret:` references. */
  headers?: Record<string, string>;
  /** Most simultaneous connections to the upstream. Default 256. */
  maxConnections: number;
  /** Request field used for the token limit: `max_tokens` (default, widest support) or `max_completion_tokens`. */
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** Model ids listed by GET /v1/models; absent = asked from the upstream's own /models. */
  models?: string[];
}

export interface OpenAIBackendOptions {
  name: string;
  baseUrl: string;
  /** Returns the API key each time a request is built (security keeps it in secure memory). */
  apiKey?: () => string;
  headers?: Record<string, string>;
  timeouts: BackendTimeouts;
  continuation: boolean;
  maxConnections?: number;
  maxTokensField?: 'max_tokens' | 'max_completion_tokens';
  models?: string[];
  logger?: Logger;
  /** Told how many unparseable chunks a stream skipped (metrics). */
  onMalformedChunks?: (backend: string, count: number) => void;
}

const FINISH_REASONS: ReadonlySet<string> = new Set(['stop', 'length', 'tool_calls', 'content_filter', 'function_call']);

interface ParsedChunk {
  model?: unknown;
  choices?: { delta?: { content?: unknown; refusal?: unknown; tool_calls?: unknown }; logprobs?: unknown; finish_reason?: unknown }[];
  usage?: unknown;
  error?: unknown;
}

export class OpenAIBackend implements Backend {
  readonly name: string;
  readonly type = 'openai';
  readonly continuation: boolean;
  private readonly baseUrl: URL;
  private readonly pool: Pool;
  private readonly chatPath: string;
  private readonly opts: OpenAIBackendOptions;
  private malformed = 0;
  private cachedModels: { at: number; ids: string[] } | undefined;

  constructor(opts: OpenAIBackendOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.continuation = opts.continuation;
    this.baseUrl = new URL(opts.baseUrl);
    this.chatPath = endpointPath(this.baseUrl, '/chat/completions');
    this.pool = createUpstreamPool(this.baseUrl, {
      connections: opts.maxConnections ?? 256,
      connectMs: opts.timeouts.connectMs,
      headersTimeoutMs: opts.timeouts.firstTokenMs,
      bodyTimeoutMs: opts.timeouts.idleMs,
    });
  }

  /** Unparseable upstream chunks skipped since start. */
  get malformedChunks(): number {
    return this.malformed;
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream', ...this.opts.headers };
    const key = this.opts.apiKey?.();
    if (key) h.authorization = `Bearer ${key}`;
    return h;
  }

  private secrets(): string[] {
    const key = this.opts.apiKey?.();
    return key ? [key] : [];
  }

  /** The upstream request body: passthrough fields first, then what the gateway decides. */
  buildBody(request: ChatRequest): Record<string, unknown> {
    const messages: ChatMessage[] =
      request.prefill && this.continuation ? [...request.messages, { role: 'assistant', content: request.prefill }] : request.messages;
    const body: Record<string, unknown> = { ...request.passthrough, model: request.model, messages, stream: true };
    const callerStreamOptions = request.passthrough?.stream_options;
    body.stream_options = { ...(typeof callerStreamOptions === 'object' && callerStreamOptions !== null ? callerStreamOptions : {}), include_usage: true };
    if (request.maxTokens !== undefined) body[this.opts.maxTokensField ?? 'max_tokens'] = request.maxTokens;
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.topP !== undefined) body.top_p = request.topP;
    if (request.stop !== undefined) body.stop = request.stop;
    if (request.seed !== undefined) body.seed = request.seed;
    if (request.user !== undefined) body.user = request.user;
    return body;
  }

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncGenerator<BackendEvent> {
    for await (const batch of this.streamBatches(request, signal)) yield* batch;
  }

  /** The events of the upstream's network reads in batches: all that arrived since the last pull. */
  async *streamBatches(request: ChatRequest, signal: AbortSignal): AsyncGenerator<BackendEvent[]> {
    const state = { responseStarted: false, afterFirstToken: false, timedOut: false };
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const totalTimer = setTimeout(() => {
      state.timedOut = true;
      controller.abort();
    }, this.opts.timeouts.totalMs);
    let body: Dispatcher.ResponseData['body'] | undefined;
    const fail = (err: unknown) => toBackendError(err, { backend: this.name, signal, ...state });
    try {
      let res: Dispatcher.ResponseData;
      try {
        res = await this.pool.request({
          method: 'POST',
          path: this.chatPath,
          headers: this.headers(),
          body: JSON.stringify(this.buildBody(request)),
          signal: controller.signal,
        });
      } catch (err) {
        throw fail(err);
      }
      body = res.body;
      state.responseStarted = true;
      if (res.statusCode < 200 || res.statusCode >= 300) {
        const text = await readBodyText(res.body);
        throw classifyHttpError(res.statusCode, res.headers, text, { backend: this.name, secrets: this.secrets() });
      }
      const contentType = String(res.headers['content-type'] ?? '');
      try {
        if (contentType.includes('application/json')) {
          yield this.eventsFromCompletion(await readBodyText(res.body, 16 * 1024 * 1024), request);
          return;
        }
        const decoder = new OpenAIStreamDecoder(this.name, request.model, () => this.secrets());
        try {
          // An in-band error ends the stream at once, even if the upstream keeps the connection open.
          const decode = (chunk: Buffer, out: BackendEvent[]): void => {
            for (const event of decoder.push(chunk)) out.push(event);
          };
          for await (const events of bodyBatches(res.body, decode, { stopAfter: () => decoder.failed })) {
            if (!state.afterFirstToken) state.afterFirstToken = events.some((e) => e.type !== 'finish' && e.type !== 'usage' && e.type !== 'start');
            yield events;
          }
        } finally {
          if (decoder.skipped > 0) {
            this.malformed += decoder.skipped;
            this.opts.logger?.warn({ backend: this.name, skipped: decoder.skipped, totalSkipped: this.malformed }, 'skipped unparseable upstream stream chunks');
            this.opts.onMalformedChunks?.(this.name, decoder.skipped);
          }
        }
        decoder.end();
      } catch (err) {
        throw fail(err);
      }
    } finally {
      clearTimeout(totalTimer);
      signal.removeEventListener('abort', onAbort);
      // Leaving early (consumer stopped, error): drop the upstream request now so no tokens are paid for nobody.
      if (body && !body.destroyed && !body.readableEnded) {
        controller.abort();
        body.destroy();
      }
    }
  }

  /** An upstream that ignored `stream: true` and answered with one `chat.completion` object. */
  private eventsFromCompletion(text: string, request: ChatRequest): BackendEvent[] {
    let parsed: { model?: unknown; choices?: { message?: Record<string, unknown>; finish_reason?: unknown; logprobs?: unknown }[]; usage?: unknown };
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new BackendError(`backend '${this.name}': answered with unparseable JSON`, { kind: 'protocol', backend: this.name });
    }
    if ((parsed as { error?: unknown }).error) throw inBandError(this.name, (parsed as { error: unknown }).error, false, this.secrets());
    const choice = parsed.choices?.[0];
    if (!choice || typeof choice !== 'object') {
      throw new BackendError(`backend '${this.name}': completion has no choices`, { kind: 'protocol', backend: this.name });
    }
    const out: BackendEvent[] = [{ type: 'start', model: typeof parsed.model === 'string' && parsed.model ? parsed.model : request.model }];
    const msg = choice.message ?? {};
    if (typeof msg.content === 'string' && msg.content !== '') {
      out.push(choice.logprobs ? { type: 'content', text: msg.content, logprobs: choice.logprobs } : { type: 'content', text: msg.content });
    }
    if (typeof msg.refusal === 'string' && msg.refusal !== '') out.push({ type: 'refusal', text: msg.refusal });
    if (Array.isArray(msg.tool_calls) && msg.tool_calls.length > 0) {
      out.push({
        type: 'tool_calls',
        toolCalls: (msg.tool_calls as { id: string; type: 'function'; function: { name: string; arguments: string } }[]).map((tc, index) => ({ index, ...tc })),
      });
    }
    const reason = typeof choice.finish_reason === 'string' && FINISH_REASONS.has(choice.finish_reason) ? choice.finish_reason : 'stop';
    out.push({ type: 'finish', reason: reason as FinishReason });
    if (isUsage(parsed.usage)) out.push({ type: 'usage', usage: parsed.usage });
    return out;
  }

  /** Configured model ids, or the upstream's own list (cached for a minute; empty when it cannot be read). */
  async models(): Promise<string[]> {
    if (this.opts.models) return this.opts.models;
    if (this.cachedModels && Date.now() - this.cachedModels.at < 60_000) return this.cachedModels.ids;
    try {
      const res = await this.pool.request({
        method: 'GET',
        path: endpointPath(this.baseUrl, '/models'),
        headers: this.headers(),
        signal: AbortSignal.timeout(this.opts.timeouts.connectMs + 5_000),
      });
      const text = await readBodyText(res.body, 4 * 1024 * 1024);
      if (res.statusCode !== 200) throw classifyHttpError(res.statusCode, res.headers, text, { backend: this.name, secrets: this.secrets() });
      const data = (JSON.parse(text) as { data?: { id?: unknown }[] }).data ?? [];
      const ids = data.map((m) => m.id).filter((id): id is string => typeof id === 'string');
      this.cachedModels = { at: Date.now(), ids };
      return ids;
    } catch (err) {
      this.opts.logger?.warn({ backend: this.name, err: err instanceof Error ? err.message : String(err) }, 'could not list upstream models');
      return [];
    }
  }

  health(): Record<string, unknown> {
    const s = this.pool.stats;
    return { type: this.type, baseUrl: this.baseUrl.origin + this.baseUrl.pathname, connections: s.connected, running: s.running, pending: s.pending, malformedChunks: this.malformed };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

/**
 * Turns upstream SSE bytes into BackendEvents, synchronously per network chunk (no generator per
 * event on the relay's hot path). `end()` decides how the stream ended.
 */
export class OpenAIStreamDecoder {
  private readonly pending: EventSourceMessage[] = [];
  private readonly parser = createParser({ onEvent: (e) => this.pending.push(e) });
  private readonly text = new Utf8Stream();
  private started = false;
  private finished = false;
  private afterFirstToken = false;
  /** True once `data: [DONE]` arrived; later bytes are ignored (read only so the connection is reusable). */
  done = false;
  /** Unparseable chunks skipped so far. */
  skipped = 0;
  /** An in-band error seen after some events of the same network chunk; thrown once those are delivered. */
  private failure: BackendError | undefined;
  /**
   * Fast path for the common chunk (a content delta and nothing else): the exact text before and
   * after the content string of the first such chunk. A later chunk with byte-identical text around
   * its content string has the identical structure, so only its content literal needs decoding.
   */
  private contentHead: string | undefined;
  private contentTail: string | undefined;

  constructor(
    private readonly backend: string,
    private readonly requestedModel: string,
    /** Credentials to scrub from in-band error messages; asked only when such an error arrives. */
    private readonly secrets: () => readonly string[] = () => [],
    /** Use the content fast path (tests turn it off to compare against full parsing). */
    private readonly fastPath = true,
  ) {}

  /** The content of a chunk shaped exactly like the learnt template, or undefined (then it is parsed in full). */
  private templateContent(data: string): string | undefined {
    const head = this.contentHead;
    const tail = this.contentTail!;
    if (head === undefined || !data.startsWith(head)) return undefined;
    const end = closingQuote(data, head.length);
    if (end < 0 || data.length - end - 1 !== tail.length || !data.endsWith(tail)) return undefined;
    const literal = data.slice(head.length, end);
    // Escapes and raw control characters (invalid JSON) go through JSON.parse for exact semantics.
    if (!NEEDS_JSON_DECODE.test(literal)) return literal;
    try {
      return JSON.parse(`"${literal}"`) as string;
    } catch {
      return undefined;
    }
  }

  /** Learns the fast-path template from a fully parsed chunk that is a plain content delta. */
  private learnTemplate(data: string, chunk: ParsedChunk): void {
    if (!isPlainContentChunk(chunk)) return;
    const at = data.indexOf(CONTENT_KEY);
    if (at < 0) return;
    const start = at + CONTENT_KEY.length;
    const end = closingQuote(data, start);
    if (end < 0) return;
    this.contentHead = data.slice(0, start);
    this.contentTail = data.slice(end + 1);
    // The template must reproduce its own parse; otherwise (an odd layout) keep parsing in full.
    if (this.templateContent(data) !== chunk.choices![0]!.delta!.content) this.contentHead = this.contentTail = undefined;
  }

  /**
   * Events in this piece of the body. An in-band error event ends the stream: the events before it
   * are returned, and the BackendError `cut` is thrown by the next `push()` or by `end()`.
   */
  push(bytes: Uint8Array): BackendEvent[] {
    if (this.failure) throw this.failure;
    if (this.done) return [];
    this.parser.feed(this.text.write(bytes));
    const out: BackendEvent[] = [];
    const pending = this.pending;
    try {
      for (let i = 0; i < pending.length; i++) {
        const data = pending[i]!.data;
        if (data === '[DONE]') {
          this.done = true;
          break;
        }
        if (this.contentHead !== undefined) {
          const content = this.templateContent(data);
          if (content !== undefined) {
            // An empty content delta carries nothing, as in the full path.
            if (content !== '') {
              out.push({ type: 'content', text: content });
              this.afterFirstToken = true;
            }
            continue;
          }
        }
        let parsed: ParsedChunk;
        try {
          parsed = JSON.parse(data) as ParsedChunk;
        } catch {
          this.skipped++;
          continue;
        }
        if (typeof parsed !== 'object' || parsed === null) {
          this.skipped++;
          continue;
        }
        if (parsed.error !== undefined && parsed.error !== null) {
          this.failure = inBandError(this.backend, parsed.error, this.afterFirstToken, this.secrets());
          if (out.length === 0) throw this.failure;
          break;
        }
        if (!this.started) {
          this.started = true;
          out.push({ type: 'start', model: typeof parsed.model === 'string' && parsed.model ? parsed.model : this.requestedModel });
        }
        this.addChunkEvents(parsed, out);
        if (this.fastPath && this.contentHead === undefined) this.learnTemplate(data, parsed);
      }
    } finally {
      pending.length = 0;
    }
    return out;
  }

  /** True once an in-band error event arrived. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Called at EOF (or after `failed`): throws for an in-band error, or for a stream without [DONE] and without a finish reason. */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.done || this.finished) return;
    throw new BackendError(`backend '${this.backend}': stream ended without a finish reason`, {
      kind: 'cut',
      backend: this.backend,
      afterFirstToken: this.afterFirstToken,
    });
  }

  private addChunkEvents(chunk: ParsedChunk, out: BackendEvent[]): void {
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    if (choice && typeof choice === 'object') {
      const delta = choice.delta;
      const logprobs = choice.logprobs ?? undefined;
      if (delta && typeof delta === 'object') {
        if (typeof delta.content === 'string' && (delta.content !== '' || logprobs !== undefined)) {
          out.push(logprobs === undefined ? { type: 'content', text: delta.content } : { type: 'content', text: delta.content, logprobs });
          this.afterFirstToken = true;
        }
        if (typeof delta.refusal === 'string' && delta.refusal !== '') {
          out.push({ type: 'refusal', text: delta.refusal });
          this.afterFirstToken = true;
        }
        if (Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0) {
          out.push({ type: 'tool_calls', toolCalls: delta.tool_calls as ToolCallDelta[] });
          this.afterFirstToken = true;
        }
      }
      if (typeof choice.finish_reason === 'string' && choice.finish_reason !== '') {
        this.finished = true;
        out.push({ type: 'finish', reason: (FINISH_REASONS.has(choice.finish_reason) ? choice.finish_reason : 'stop') as FinishReason });
      }
    }
    if (isUsage(chunk.usage)) out.push({ type: 'usage', usage: chunk.usage });
  }
}

const CONTENT_KEY = '"delta":{"content":"';
const NEEDS_JSON_DECODE = /[\\\u0000-\u001f]/;

/** Index of the first unescaped `"` at or after `from`, or -1. */
function closingQuote(text: string, from: number): number {
  let q = text.indexOf('"', from);
  while (q >= 0) {
    let slashes = 0;
    for (let b = q - 1; b >= from && text.charCodeAt(b) === 0x5c; b--) slashes++;
    if (slashes % 2 === 0) return q;
    q = text.indexOf('"', q + 1);
  }
  return -1;
}

/** One choice whose delta is only a non-empty content string, nothing else set (no logprobs, finish, usage, error). */
function isPlainContentChunk(chunk: ParsedChunk): boolean {
  if (!Array.isArray(chunk.choices) || chunk.choices.length !== 1) return false;
  if ((chunk.usage !== undefined && chunk.usage !== null) || (chunk.error !== undefined && chunk.error !== null)) return false;
  const choice = chunk.choices[0]!;
  if (typeof choice !== 'object' || choice === null) return false;
  if ((choice.logprobs !== undefined && choice.logprobs !== null) || (choice.finish_reason !== undefined && choice.finish_reason !== null)) return false;
  const delta = choice.delta as Record<string, unknown> | undefined;
  if (typeof delta !== 'object' || delta === null) return false;
  const keys = Object.keys(delta);
  return keys.length === 1 && keys[0] === 'content' && typeof delta.content === 'string' && delta.content !== '';
}

/** An in-band `{"error":…}` after a 200: the stream is cut, with the provider's code and (scrubbed) message. */
function inBandError(backend: string, error: unknown, afterFirstToken: boolean, secrets: readonly string[]): BackendError {
  const e = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as { message?: unknown; code?: unknown; type?: unknown };
  const providerCode = typeof e.code === 'string' && e.code ? e.code : typeof e.type === 'string' && e.type ? e.type : undefined;
  const providerMessage = typeof e.message === 'string' ? scrubSecrets(e.message.slice(0, 500), secrets) : undefined;
  return new BackendError(`backend '${backend}': error event mid-stream${providerMessage ? ` (${providerMessage})` : ''}`, {
    kind: 'cut',
    backend,
    ...(providerCode === undefined ? {} : { providerCode }),
    ...(providerMessage === undefined ? {} : { providerMessage }),
    retryable: defaultRetryable('cut', undefined, providerCode),
    afterFirstToken,
  });
}

function isUsage(u: unknown): u is Usage {
  return typeof u === 'object' && u !== null && typeof (u as Usage).prompt_tokens === 'number' && typeof (u as Usage).completion_tokens === 'number';
}

export function readOpenAIConfig(r: ConfigReader, base: BackendConfigBase): OpenAIBackendConfig {
  const out: OpenAIBackendConfig = {
    ...base,
    type: 'openai',
    baseUrl: readHttpBaseUrl(r),
    maxConnections: r.int('maxConnections', 256, { min: 1, max: 65_536 }),
    maxTokensField: r.oneOf('maxTokensField', ['max_tokens', 'max_completion_tokens'] as const, 'max_tokens'),
  };
  const apiKey = r.secret('apiKey');
  if (apiKey) out.apiKey = apiKey;
  const headers = r.stringMap('headers');
  if (headers) out.headers = checkHeaderMap(r, headers);
  const models = r.stringArray('models');
  if (models) out.models = models;
  return out;
}

export function createOpenAIBackend(name: string, config: OpenAIBackendConfig, deps: BackendDeps): OpenAIBackend {
  const { apiKey } = config;
  return new OpenAIBackend({
    name,
    baseUrl: config.baseUrl,
    ...(apiKey ? { apiKey: () => apiKey.revealString() } : {}),
    ...(config.headers ? { headers: config.headers } : {}),
    timeouts: config.timeouts,
    continuation: config.continuation,
    maxConnections: config.maxConnections,
    maxTokensField: config.maxTokensField,
    ...(config.models ? { models: config.models } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.onMalformedChunks ? { onMalformedChunks: deps.onMalformedChunks } : {}),
  });
}

export const openaiBackendType: BackendTypeDefinition<OpenAIBackendConfig> = {
  type: 'openai',
  create: createOpenAIBackend,
  readConfig: readOpenAIConfig,
};

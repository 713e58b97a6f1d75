/**
 * The `ollama` backend: Ollama's native `/api/chat` NDJSON stream (provider-streams.md §4) translated
 * to BackendEvents. Every line is checked for `error` before `message`; a connection that closes
 * without a `done: true` line is a cut stream; counts that Ollama omits are unknown, not zero.
 */
import type { Readable } from 'node:stream';
import type { ConfigReader } from '../config/reader.js';
import type { BackendConfigBase, BackendTimeouts } from '../config/sections/backends.js';
import { keySecrets, postAndRead, revealKey, upstreamPool, type BackendDeps, type UpstreamEndpoint } from './anthropic.js';
import { bodyBatches } from './body-batches.js';
import { Utf8Stream } from './utf8-stream.js';
import { BackendError, classifyHttpError } from './errors.js';
import { checkHeaderMap, endpointPath, readHttpBaseUrl } from './http-client.js';
import type { BackendTypeDefinition } from './registry.js';
import type { Backend, BackendEvent, ChatMessage, ChatRequest, ContentPart, FinishReason } from './types.js';

export interface OllamaBackendConfig {
  /** Server origin (default `http://127.0.0.1:11434`); requests go to `${baseUrl}/api/chat`. */
  baseUrl?: string;
  /** Sent as `Authorization: Bearer` when set (Ollama itself has no auth; proxies in front of it may). */
  apiKey?: string | (() => string);
  /**
   * True when the served models continue a trailing assistant message (default false: whether they do
   * depends on the model's template, so it must be asked for explicitly).
   */
  continuation?: boolean;
  /** `keep_alive` sent with each request (e.g. "5m"). */
  keepAlive?: string;
  /** `options.num_ctx` sent with each request. */
  numCtx?: number;
  /** Models listed by GET /v1/models. */
  models?: string[];
  headers?: Record<string, string>;
  /**
   * `backends.<name>.timeouts` (docs/recovery.md). The backend applies connectMs (default 10000) and
   * totalMs as its read limit (default 300000); executeRoute enforces firstTokenMs and idleMs.
   */
  timeouts?: Partial<BackendTimeouts>;
}

export class OllamaBackend implements Backend {
  readonly type = 'ollama';
  readonly continuation: boolean;
  private readonly upstream: UpstreamEndpoint;
  private readonly headers: Record<string, string>;

  constructor(
    readonly name: string,
    private readonly config: OllamaBackendConfig,
    private readonly deps: BackendDeps = {},
  ) {
    this.continuation = config.continuation ?? false;
    const baseUrl = new URL(config.baseUrl ?? 'http://127.0.0.1:11434');
    this.headers = { 'content-type': 'application/json', accept: 'application/x-ndjson', ...config.headers };
    this.upstream = {
      pool: upstreamPool(baseUrl, config.timeouts),
      path: endpointPath(baseUrl, '/api/chat'),
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
    const body = toOllamaRequest(request, this.config);
    const headers = this.config.apiKey ? { ...this.headers, authorization: `Bearer ${revealKey(this.config.apiKey)}` } : this.headers;
    yield* postAndRead(this.upstream, headers, body, signal, (res, progress) => this.readBatches(res, request.model, progress));
  }

  private async *readBatches(body: Readable, requestedModel: string, progress: { afterFirstToken: boolean }): AsyncGenerator<BackendEvent[]> {
    const lines = new NdjsonLines();
    const state = { started: false, toolIndex: 0, done: false };
    // An error line throws from here; the events before it in the same read are delivered first.
    const eventsOf = (text: string, out: BackendEvent[]): void => {
      for (const raw of lines.push(text)) {
        this.lineEvents(raw, requestedModel, state, progress, out);
        if (state.done) return;
      }
    };
    yield* bodyBatches(body, (chunk, out) => eventsOf(lines.decode(chunk), out), {
      stopAfter: () => state.done,
      // At EOF the last line may lack its newline.
      flush: (out) => eventsOf(lines.finish(), out),
    });
    if (!state.done) throw new BackendError(`backend '${this.name}': stream ended without a done line`, { kind: 'cut', backend: this.name });
  }

  /** The events of one NDJSON line; sets `state.done` on the final line, throws on an error line. */
  private lineEvents(
    raw: string,
    requestedModel: string,
    state: { started: boolean; toolIndex: number; done: boolean },
    progress: { afterFirstToken: boolean },
    out: BackendEvent[],
  ): void {
    if (!raw.trim()) return;
    let line: any;
    try {
      line = JSON.parse(raw);
    } catch {
      this.deps.logger?.warn({ backend: this.name, bytes: raw.length }, 'skipped unparseable upstream line');
      this.deps.onMalformedChunks?.(this.name, 1);
      return;
    }
    if (typeof line !== 'object' || line === null) return;
    if (line.error !== undefined) {
      const message = typeof line.error === 'string' ? line.error : JSON.stringify(line.error);
      // A mid-stream error line has no status of its own; read it like an HTTP 500 body.
      throw classifyHttpError(500, {}, JSON.stringify({ error: message }), { backend: this.name, secrets: this.upstream.secrets() });
    }
    if (!state.started) {
      state.started = true;
      out.push({ type: 'start', model: typeof line.model === 'string' ? line.model : requestedModel });
    }
    const msg = line.message;
    if (typeof msg?.content === 'string' && msg.content) {
      progress.afterFirstToken = true;
      out.push({ type: 'content', text: msg.content });
    }
    if (Array.isArray(msg?.tool_calls) && msg.tool_calls.length) {
      progress.afterFirstToken = true;
      // Ollama sends each call whole in one line; OpenAI clients get it as one complete delta per call.
      out.push({
        type: 'tool_calls',
        toolCalls: msg.tool_calls.map((c: { id?: string; function?: { name?: string; arguments?: unknown } }) => {
          const index = state.toolIndex++;
          const args = c.function?.arguments;
          return {
            index,
            id: typeof c.id === 'string' ? c.id : `call_${index}`,
            type: 'function' as const,
            function: { name: String(c.function?.name ?? ''), arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}) },
          };
        }),
      });
    }
    if (line.done === true) {
      const reason: FinishReason = state.toolIndex > 0 ? 'tool_calls' : line.done_reason === 'length' ? 'length' : 'stop';
      out.push({ type: 'finish', reason });
      if (typeof line.prompt_eval_count === 'number' && typeof line.eval_count === 'number') {
        out.push({
          type: 'usage',
          usage: { prompt_tokens: line.prompt_eval_count, completion_tokens: line.eval_count, total_tokens: line.prompt_eval_count + line.eval_count },
        });
      }
      state.done = true;
    }
  }

  close(): Promise<void> {
    return this.upstream.pool.close();
  }
}

/** Splits a byte stream into UTF-8 lines (LF or CRLF), never splitting a multi-byte character. */
class NdjsonLines {
  private readonly decoder = new Utf8Stream();
  private pending = '';

  /** The text of one network chunk. */
  decode(chunk: Buffer): string {
    return this.decoder.write(chunk);
  }

  /** The complete lines once `text` is appended; a partial last line waits for more. */
  push(text: string): string[] {
    this.pending += text;
    const out: string[] = [];
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, nl);
      this.pending = this.pending.slice(nl + 1);
      out.push(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    return out;
  }

  /** What is left at the end of the stream, as text for a last `push`. */
  finish(): string {
    const rest = this.pending + this.decoder.end();
    this.pending = '';
    return rest ? `${rest}\n` : '';
  }
}

function textAndImages(content: ChatMessage['content']): { text: string; images: string[] } {
  if (content === null) return { text: '', images: [] };
  if (typeof content === 'string') return { text: content, images: [] };
  let text = '';
  const images: string[] = [];
  for (const part of content as ContentPart[]) {
    if (part.type === 'text' && typeof (part as { text?: unknown }).text === 'string') text += (part as { text: string }).text;
    else if (part.type === 'image_url') {
      const m = /^data:[^;,]+;base64,(.*)$/s.exec(String((part as { image_url?: { url?: unknown } }).image_url?.url ?? ''));
      if (m) images.push(m[1]!);
    }
  }
  return { text, images };
}

/** Maps an OpenAI-shaped ChatRequest to an /api/chat body. */
export function toOllamaRequest(req: ChatRequest, config: Pick<OllamaBackendConfig, 'keepAlive' | 'numCtx'> = {}): Record<string, unknown> {
  const toolNames = new Map<string, string>();
  const messages: Record<string, unknown>[] = [];
  for (const m of req.messages) {
    const { text, images } = textAndImages(m.content);
    const out: Record<string, unknown> = { role: m.role === 'developer' ? 'system' : m.role, content: text };
    if (images.length) out.images = images;
    if (m.role === 'assistant' && m.tool_calls?.length) {
      out.tool_calls = m.tool_calls.map((c) => {
        toolNames.set(c.id, c.function.name);
        let args: unknown;
        try {
          args = JSON.parse(c.function.arguments || '{}');
        } catch {
          args = {};
        }
        return { function: { name: c.function.name, arguments: args } };
      });
    }
    if (m.role === 'tool' && m.tool_call_id && toolNames.has(m.tool_call_id)) out.tool_name = toolNames.get(m.tool_call_id);
    messages.push(out);
  }
  if (req.prefill) messages.push({ role: 'assistant', content: req.prefill });
  const options: Record<string, unknown> = {};
  if (req.maxTokens !== undefined) options.num_predict = req.maxTokens;
  if (req.temperature !== undefined) options.temperature = req.temperature;
  if (req.topP !== undefined) options.top_p = req.topP;
  if (req.stop?.length) options.stop = req.stop;
  if (req.seed !== undefined) options.seed = req.seed;
  if (config.numCtx !== undefined) options.num_ctx = config.numCtx;
  const body: Record<string, unknown> = { model: req.model, messages, stream: true };
  if (Object.keys(options).length) body.options = options;
  if (config.keepAlive !== undefined) body.keep_alive = config.keepAlive;
  const pt = req.passthrough ?? {};
  if (Array.isArray(pt.tools)) body.tools = pt.tools;
  if (pt.response_format && typeof pt.response_format === 'object') {
    const rf = pt.response_format as { type?: string; json_schema?: { schema?: unknown } };
    if (rf.type === 'json_object') body.format = 'json';
    else if (rf.type === 'json_schema' && rf.json_schema?.schema) body.format = rf.json_schema.schema;
  }
  return body;
}

/** Validated `backends.<name>` of type ollama. */
export interface OllamaConfigEntry extends BackendConfigBase {
  type: 'ollama';
  settings: OllamaBackendConfig;
}

export function readOllamaConfig(r: ConfigReader, base: BackendConfigBase): OllamaConfigEntry {
  const settings: OllamaBackendConfig = {
    baseUrl: readHttpBaseUrl(r, 'baseUrl', 'http://127.0.0.1:11434'),
    continuation: base.continuation,
    timeouts: base.timeouts,
  };
  const apiKey = r.secret('apiKey');
  if (apiKey) settings.apiKey = () => apiKey.revealString();
  const keepAlive = r.string('keepAlive');
  if (keepAlive !== undefined) settings.keepAlive = keepAlive;
  const numCtx = r.int('numCtx', undefined, { min: 1 });
  if (numCtx !== undefined) settings.numCtx = numCtx;
  const headers = r.stringMap('headers');
  if (headers) settings.headers = checkHeaderMap(r, headers);
  const models = r.stringArray('models');
  if (models) settings.models = models;
  return { ...base, type: 'ollama', settings };
}

export const ollamaBackendType: BackendTypeDefinition<OllamaConfigEntry> = {
  type: 'ollama',
  create: (name, config, deps) => new OllamaBackend(name, config.settings, deps),
  readConfig: readOllamaConfig,
};

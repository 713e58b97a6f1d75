/**
 * A fault-injecting fake upstream: a REAL `node:http` server on 127.0.0.1 (port 0) that speaks one
 * provider's wire format (OpenAI SSE, Anthropic SSE or Ollama NDJSON, see `WireFormat`) and misbehaves
 * on request. The behaviour is chosen per request, first match wins:
 *   1. a queued scenario (`enqueue`), 2. the `x-fault` header (scenario JSON),
 *   3. a `fault` body field (scenario JSON object), 4. `scenarios[body.model]`, 5. `downUntil` (503s
 *   until that time, then normal), 6. `defaultScenario`.
 * Every request is recorded with its arrival time (performance.now()) so tests can check attempt
 * counts and their spacing, whether the client aborted, and what it sent (prefill, headers).
 *
 * Prefill: when the request ends with an assistant message (the provider's continuation form) whose
 * text is a prefix of the scenario's full answer, only the rest of the answer is streamed, as a real
 * model continuing its own text would. `rejectPrefill: true` answers such a request with a 400 instead.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { recordRequest, type RecordedHttpRequest } from './recorded-request.js';

export interface FaultScenario {
  /** Content deltas of the full answer (default `['Hello', ',', ' world', '!']`). */
  tokens?: string[];
  /** Tool calls streamed after the content: name + JSON argument fragments. */
  toolCalls?: { id: string; name: string; argumentChunks: string[] }[];
  /** Finish reason in OpenAI terms (`stop`, `length`, `tool_calls`, `content_filter`); null = none sent. */
  finishReason?: string | null;
  /** Answer with this HTTP status and the format's error body instead of a stream. */
  status?: number;
  /** `retry-after` header value (seconds or HTTP date). */
  retryAfter?: string;
  /** `retry-after-ms` header value. */
  retryAfterMs?: string;
  /** Provider error code/type for the error body (`context_length_exceeded`, `content_policy_violation`, `overloaded_error`…). */
  errorCode?: string;
  errorMessage?: string;
  /** Destroy the TCP connection with a RST before any response. */
  resetBeforeHeaders?: boolean;
  /** Accept the request and never answer. */
  hang?: boolean;
  /** Wait before the response head and first event. */
  firstTokenDelayMs?: number;
  /** Wait between tokens. */
  delayMs?: number;
  /** Destroy the socket after n content tokens (no finish, no terminator). */
  cutAfterTokens?: number;
  /** Stop writing after n tokens and keep the connection open until the client leaves. */
  stallAfterTokens?: number;
  /** Send the format's in-band error event after n tokens, then close. */
  errorAfterTokens?: number;
  /** Insert one unparseable event after n tokens; the stream then continues normally. */
  malformedAfterTokens?: number;
  /** Send the finish event but not the terminator (`[DONE]`, `message_stop`); `done:true` formats ignore it. */
  noDone?: boolean;
  /** Answer a request carrying an assistant prefill with 400. */
  rejectPrefill?: boolean;
  /** Usage reported at the end (default prompt 9, completion = tokens streamed). */
  usage?: { prompt: number; completion?: number };
}

/** How one provider frames a stream; implemented by fake-anthropic.ts, fake-ollama.ts and `openaiWire` below. */
export interface WireFormat {
  name: string;
  /** Paths this format serves, e.g. `/v1/chat/completions`. */
  paths: string[];
  contentType: string;
  /** Text of an assistant prefill in the request body, or undefined. */
  prefillOf(body: any): string | undefined;
  head(ctx: StreamContext): string[];
  token(ctx: StreamContext, text: string): string[];
  toolCall(ctx: StreamContext, index: number, call: { id: string; name: string; argumentChunks: string[] }): string[];
  finish(ctx: StreamContext, reason: string | null, usage: { prompt: number; completion: number }): string[];
  /** Terminator after finish (`data: [DONE]`, `message_stop`); empty when the finish is the terminator. */
  terminator(ctx: StreamContext): string[];
  midStreamError(ctx: StreamContext, code: string, message: string): string[];
  malformed(ctx: StreamContext): string;
  errorResponse(status: number, code: string, message: string): { body: unknown; headers?: Record<string, string> };
}

export interface StreamContext {
  model: string;
  id: string;
  created: number;
  /** Per-stream scratch space for the format (open block index, …). */
  state: Record<string, unknown>;
}

export interface RecordedRequest extends RecordedHttpRequest {
  /** Prefill text found in the request, if any. */
  prefill: string | undefined;
}

export interface FaultUpstreamOptions {
  wire: WireFormat;
  defaultScenario?: FaultScenario;
  /** Scenario per requested model name. */
  scenarios?: Record<string, FaultScenario>;
}

export interface FaultUpstream {
  /** `http://127.0.0.1:PORT` (no path). */
  origin: string;
  requests: RecordedRequest[];
  /** Answer the next request with this scenario (FIFO). */
  enqueue(...scenarios: FaultScenario[]): void;
  /** Answer every request with 503 (and this Retry-After, if given) until `ms` from now, then recover. */
  downFor(ms: number, retryAfter?: string): void;
  close(): Promise<void>;
}

const DEFAULT_TOKENS = ['Hello', ',', ' world', '!'];

export async function startFaultUpstream(opts: FaultUpstreamOptions): Promise<FaultUpstream> {
  const { wire } = opts;
  const queue: FaultScenario[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let downUntil = 0;
  let downRetryAfter: string | undefined;
  let seq = 0;

  const server = http.createServer((req, res) => {
    recordRequest(req, res, (recorded) => {
      const { body } = recorded;
      let prefill: string | undefined;
      let prefillError: string | undefined;
      try {
        prefill = body ? wire.prefillOf(body) : undefined;
      } catch (err) {
        prefillError = (err as Error).message;
      }
      const record: RecordedRequest = Object.assign(recorded, { prefill });
      requests.push(record);
      if (!wire.paths.includes((req.url ?? '').split('?')[0]!) || req.method !== 'POST') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify(wire.errorResponse(404, 'not_found', 'no such path').body));
        return;
      }
      if (prefillError !== undefined) {
        const e = wire.errorResponse(400, 'invalid_request_error', prefillError);
        res.writeHead(400, { 'content-type': 'application/json', ...e.headers }).end(JSON.stringify(e.body));
        return;
      }
      let scenario = queue.shift();
      const header = req.headers['x-fault'];
      if (!scenario && typeof header === 'string') {
        try {
          scenario = JSON.parse(header) as FaultScenario;
        } catch {
          res.writeHead(400, { 'content-type': 'text/plain' }).end('x-fault must be scenario JSON');
          return;
        }
      }
      if (!scenario && body && typeof body.fault === 'object') scenario = body.fault as FaultScenario;
      if (!scenario && body && typeof body.model === 'string') scenario = opts.scenarios?.[body.model];
      if (!scenario && performance.now() < downUntil) {
        scenario = { status: 503, errorCode: 'service_unavailable', errorMessage: 'down for maintenance' };
        if (downRetryAfter) scenario.retryAfter = downRetryAfter;
      }
      scenario ??= opts.defaultScenario ?? {};
      void serve(record, scenario, req, res).catch(() => res.destroy());
    });
  });

  async function serve(record: RecordedRequest, s: FaultScenario, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (s.resetBeforeHeaders) {
      req.socket.resetAndDestroy();
      return;
    }
    if (s.hang) return;
    if (s.rejectPrefill && record.prefill !== undefined) {
      const e = wire.errorResponse(400, 'invalid_request_error', 'this model does not support assistant prefill');
      res.writeHead(400, { 'content-type': 'application/json', ...e.headers }).end(JSON.stringify(e.body));
      return;
    }
    if (s.status !== undefined && s.status !== 200) {
      const e = wire.errorResponse(s.status, s.errorCode ?? 'server_error', s.errorMessage ?? `fault: status ${s.status}`);
      const headers: Record<string, string> = { 'content-type': 'application/json', ...e.headers };
      if (s.retryAfter !== undefined) headers['retry-after'] = s.retryAfter;
      if (s.retryAfterMs !== undefined) headers['retry-after-ms'] = s.retryAfterMs;
      res.writeHead(s.status, headers).end(JSON.stringify(e.body));
      return;
    }
    if (s.firstTokenDelayMs) await wait(s.firstTokenDelayMs, res);
    if (res.destroyed) return;

    const ctx: StreamContext = {
      model: typeof record.body?.model === 'string' ? record.body.model : 'fake-model',
      id: `fault-${++seq}`,
      created: 1767225600,
      state: {},
    };
    let tokens = s.tokens ?? DEFAULT_TOKENS;
    if (record.prefill !== undefined) tokens = continueAfter(tokens, record.prefill);
    res.writeHead(200, { 'content-type': wire.contentType, 'cache-control': 'no-cache' });
    const write = (frames: string[]) => {
      for (const f of frames) res.write(f);
    };
    write(wire.head(ctx));
    let sent = 0;
    for (const text of tokens) {
      if (s.cutAfterTokens !== undefined && sent >= s.cutAfterTokens) {
        await cut(res);
        return;
      }
      if (s.stallAfterTokens !== undefined && sent >= s.stallAfterTokens) return;
      if (s.errorAfterTokens !== undefined && sent >= s.errorAfterTokens) {
        write(wire.midStreamError(ctx, s.errorCode ?? 'server_error', s.errorMessage ?? 'upstream failed mid-stream'));
        res.end();
        return;
      }
      if (s.malformedAfterTokens !== undefined && sent === s.malformedAfterTokens) res.write(wire.malformed(ctx));
      if (sent > 0 && s.delayMs) await wait(s.delayMs, res);
      if (res.destroyed) return;
      write(wire.token(ctx, text));
      sent++;
      record.tokensSent = sent;
    }
    if (s.cutAfterTokens !== undefined && sent >= s.cutAfterTokens) {
      await cut(res);
      return;
    }
    if (s.stallAfterTokens !== undefined && sent >= s.stallAfterTokens) return;
    (s.toolCalls ?? []).forEach((call, i) => write(wire.toolCall(ctx, i, call)));
    const reason = s.finishReason === undefined ? (s.toolCalls?.length ? 'tool_calls' : 'stop') : s.finishReason;
    write(wire.finish(ctx, reason, { prompt: s.usage?.prompt ?? 9, completion: s.usage?.completion ?? sent }));
    if (!s.noDone) write(wire.terminator(ctx));
    res.end();
  }

  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    enqueue: (...s) => void queue.push(...s),
    downFor(ms, retryAfter) {
      downUntil = performance.now() + ms;
      downRetryAfter = retryAfter;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The tokens that follow `prefill` in the full answer, split at token boundaries where possible. */
function continueAfter(tokens: string[], prefill: string): string[] {
  const full = tokens.join('');
  if (!full.startsWith(prefill)) return tokens;
  const out: string[] = [];
  let pos = 0;
  for (const t of tokens) {
    const end = pos + t.length;
    if (end > prefill.length) out.push(pos >= prefill.length ? t : t.slice(prefill.length - pos));
    pos = end;
  }
  return out;
}

/** Lets what was written reach the client, then drops the connection mid-response (no terminating chunk). */
async function cut(res: http.ServerResponse): Promise<void> {
  const socket = res.socket;
  if (!socket) return;
  // An empty write completes after everything queued before it has been handed to the kernel.
  await new Promise<void>((r) => socket.write(Buffer.alloc(0), () => r()));
  await new Promise((r) => setTimeout(r, 20));
  socket.destroy();
}

function wait(ms: number, res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    res.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The request's final message when it is an assistant turn (the continuation form of every format here). */
export function lastAssistantMessage(body: any): any {
  const last = Array.isArray(body.messages) ? body.messages[body.messages.length - 1] : undefined;
  return last?.role === 'assistant' ? last : undefined;
}

/** OpenAI Chat Completions SSE, as in provider-streams.md §2. */
export const openaiWire: WireFormat = {
  name: 'openai',
  paths: ['/v1/chat/completions'],
  contentType: 'text/event-stream',
  prefillOf: (body) => {
    const last = lastAssistantMessage(body);
    return typeof last?.content === 'string' ? last.content : undefined;
  },
  head: (ctx) => [chunk(ctx, { role: 'assistant', content: '' }, null)],
  token: (ctx, text) => [chunk(ctx, { content: text }, null)],
  toolCall: (ctx, index, call) => [
    chunk(ctx, { tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }, null),
    ...call.argumentChunks.map((a) => chunk(ctx, { tool_calls: [{ index, function: { arguments: a } }] }, null)),
  ],
  finish: (ctx, reason, usage) => [
    ...(reason === null ? [] : [chunk(ctx, {}, reason)]),
    `data: ${JSON.stringify({ id: ctx.id, object: 'chat.completion.chunk', created: ctx.created, model: ctx.model, choices: [], usage: { prompt_tokens: usage.prompt, completion_tokens: usage.completion, total_tokens: usage.prompt + usage.completion } })}\n\n`,
  ],
  terminator: () => ['data: [DONE]\n\n'],
  midStreamError: (_ctx, code, message) => [`data: ${JSON.stringify({ error: { message, type: 'server_error', param: null, code } })}\n\n`],
  malformed: () => 'data: {"id":"broken",\n\n',
  errorResponse: (status, code, message) => ({
    body: { error: { message, type: status === 429 ? 'requests' : status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code } },
    headers: { 'x-request-id': 'req_fault' },
  }),
};

function chunk(ctx: StreamContext, delta: Record<string, unknown>, finish: string | null): string {
  return `data: ${JSON.stringify({ id: ctx.id, object: 'chat.completion.chunk', created: ctx.created, model: ctx.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
}

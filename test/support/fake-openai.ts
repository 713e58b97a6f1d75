/**
 * A fake OpenAI-compatible upstream: a REAL `node:http` server on 127.0.0.1 (random port) that speaks
 * Chat Completions byte for byte as OpenAI does (`data: <json>\n\n` chunks, `data: [DONE]`, error
 * envelopes) and records every request it receives, so tests can assert what the gateway sent
 * (passthrough fields, prefill, injected `stream_options`, auth header) and whether it aborted.
 *
 * Usage:
 * ```ts
 * const fake = await startFakeOpenAI({ scenario: { tokens: ['Hel', 'lo'] } });
 * // baseUrl ends in /v1, e.g. http://127.0.0.1:41234/v1
 * fake.enqueue({ status: 429, headers: { 'retry-after': '1' } });  // next request only
 * fake.requests[0].body; await fake.requests[0].closed; fake.requests[0].aborted;
 * await fake.close();
 * ```
 *
 * Which scenario answers a request: the first queued one (`enqueue`), else `scenarioFor(body, req)` if
 * given, else `scenario`, else the default (tokens "Hello", ",", " world", "!", finish "stop").
 *
 * `FakeScenario` options (all optional):
 * - `tokens: string[]` content deltas, one chunk each; or `tokenCount: n` for n tokens `t0 `, `t1 `, …
 * - `model` model name in every chunk (default: the request's `model`).
 * - `firstTokenDelayMs` wait before the role chunk's headers+first chunk; `delayMs` between chunks.
 * - `refusal: string[]` refusal deltas (after content); `toolCalls: ToolCallDelta[][]` one chunk per inner
 *   array, relayed as `delta.tool_calls`; `logprobs: true` adds a `logprobs.content` entry to each content chunk.
 * - `finishReason` (default `stop`, or `tool_calls` when toolCalls given); `null` sends no finish chunk.
 * - `usage` totals for the usage chunk (sent only when the request has `stream_options.include_usage`);
 *   default prompt 9 / completion = number of content+refusal deltas.
 * - `status` + `errorBody` + `headers`: answer with that status and JSON body (default OpenAI envelope)
 *   before any stream; `headers` are also sent on a normal 200 response.
 * - `errorAfterTokens: n` + `streamError`: after n content tokens send `data: {"error":…}` and close without [DONE].
 * - `cutAfterTokens: n` destroy the socket after n content tokens (no finish, no [DONE]).
 * - `stallAfterTokens: n` stop writing after n tokens and keep the connection open until the client leaves.
 * - `malformedAfterTokens: n` insert one unparseable `data: {not json` event after n tokens (stream then continues).
 * - `noDone: true` end the response after the finish/usage chunks without `data: [DONE]`.
 * - `resetBeforeHeaders: true` destroy the socket without any response; `hang: true` never answer.
 * - `lineEnding: '\r\n' | '\r'` use a different SSE line ending; `splitEveryBytes: n` write each event in
 *   n-byte pieces (tests parser reassembly).
 * - `extraChunkFields` merged into every chunk (e.g. `system_fingerprint`, `obfuscation`).
 * - `ignoreStream: true` answer a stream request with the non-stream JSON object (as some servers do).
 *
 * Non-stream requests (`stream` absent or false) get a `chat.completion` JSON object built from the
 * same scenario (content = joined tokens, tool_calls merged, usage).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { recordRequest, type RecordedHttpRequest } from './recorded-request.js';
import type { FinishReason, ToolCallDelta, Usage } from '../../lib/backends/types.js';

export interface FakeScenario {
  tokens?: string[];
  tokenCount?: number;
  model?: string;
  firstTokenDelayMs?: number;
  delayMs?: number;
  refusal?: string[];
  toolCalls?: ToolCallDelta[][];
  logprobs?: boolean;
  finishReason?: FinishReason | null;
  usage?: Usage;
  status?: number;
  errorBody?: unknown;
  headers?: Record<string, string>;
  errorAfterTokens?: number;
  streamError?: { message: string; type: string; param?: string | null; code?: string | null };
  cutAfterTokens?: number;
  stallAfterTokens?: number;
  malformedAfterTokens?: number;
  noDone?: boolean;
  resetBeforeHeaders?: boolean;
  hang?: boolean;
  lineEnding?: '\n' | '\r\n' | '\r';
  splitEveryBytes?: number;
  extraChunkFields?: Record<string, unknown>;
  ignoreStream?: boolean;
}

export type RecordedRequest = RecordedHttpRequest;

export interface FakeOpenAI {
  /** e.g. `http://127.0.0.1:41234/v1` */
  readonly baseUrl: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** TCP connections accepted so far (to assert keep-alive reuse). */
  readonly connections: number;
  /** Queue a scenario for the next request (FIFO). */
  enqueue(...scenarios: FakeScenario[]): void;
  /** Replace the default scenario. */
  setScenario(s: FakeScenario): void;
  /** Resolves once `n` requests have been received. */
  waitForRequests(n: number): Promise<void>;
  close(): Promise<void>;
}

export interface FakeOpenAIOptions {
  scenario?: FakeScenario;
  scenarioFor?: (body: any, req: http.IncomingMessage) => FakeScenario | undefined;
  /** Model ids for GET /v1/models (default ["fake-model"]). */
  models?: string[];
  /** Required bearer token; requests without it get OpenAI's 401. */
  apiKey?: string;
}

const DEFAULT_TOKENS = ['Hello', ',', ' world', '!'];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startFakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const queue: FakeScenario[] = [];
  let defaultScenario: FakeScenario = opts.scenario ?? {};
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  let waiters: { n: number; resolve: () => void }[] = [];
  let seq = 0;

  const server = http.createServer((req, res) => {
    recordRequest(req, res, (record) => {
      requests.push(record);
      waiters = waiters.filter((w) => (requests.length >= w.n ? (w.resolve(), false) : true));
      handle(req, res, record).catch(() => res.destroy());
    });
  });
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, record: RecordedRequest) {
    const path = (req.url ?? '').split('?')[0];
    if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      return sendJson(res, 401, {
        error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' },
      });
    }
    if (req.method === 'GET' && path === '/v1/models') {
      const data = (opts.models ?? ['fake-model']).map((id) => ({ id, object: 'model', created: 1767225600, owned_by: 'fake' }));
      return sendJson(res, 200, { object: 'list', data });
    }
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      return sendJson(res, 404, { error: { message: `Unknown route ${req.method} ${path}`, type: 'invalid_request_error', param: null, code: null } });
    }
    const scenario = queue.shift() ?? opts.scenarioFor?.(record.body, req) ?? defaultScenario;
    if (scenario.resetBeforeHeaders) return void req.socket.destroy();
    if (scenario.hang) return;
    if (scenario.status !== undefined && scenario.status !== 200) {
      const errorBody = scenario.errorBody ?? {
        error: { message: `fake upstream error ${scenario.status}`, type: scenario.status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: null },
      };
      return sendJson(res, scenario.status, errorBody, scenario.headers);
    }
    const id = `chatcmpl-fake${++seq}`;
    const model = scenario.model ?? (typeof record.body?.model === 'string' ? record.body.model : 'fake-model');
    const tokens = scenario.tokens ?? (scenario.tokenCount !== undefined ? Array.from({ length: scenario.tokenCount }, (_, i) => `t${i} `) : DEFAULT_TOKENS);
    if (record.body?.stream === true && !scenario.ignoreStream) await stream(res, record, scenario, id, model, tokens);
    else {
      if (scenario.firstTokenDelayMs) await sleep(scenario.firstTokenDelayMs);
      sendJson(res, 200, completionObject(scenario, id, model, tokens), scenario.headers);
    }
  }

  async function stream(res: http.ServerResponse, record: RecordedRequest, s: FakeScenario, id: string, model: string, tokens: string[]) {
    const nl = s.lineEnding ?? '\n';
    const created = 1767225600;
    const base = (choices: unknown[], usage: unknown = null) =>
      JSON.stringify({ id, object: 'chat.completion.chunk', created, model, ...s.extraChunkFields, choices, usage });
    const choice = (delta: unknown, finish: string | null = null, logprobs: unknown = null) => [{ index: 0, delta, logprobs, finish_reason: finish }];
    let pendingDrain: Promise<void> | null = null;
    const write = async (payload: string) => {
      if (res.destroyed) return;
      const frame = `data: ${payload}${nl}${nl}`;
      let ok = true;
      if (s.splitEveryBytes) {
        const buf = Buffer.from(frame);
        for (let i = 0; i < buf.length; i += s.splitEveryBytes) {
          ok = res.write(buf.subarray(i, i + s.splitEveryBytes));
          await sleep(0);
        }
      } else ok = res.write(frame);
      if (!ok) {
        pendingDrain ??= new Promise<void>((r) => res.once('drain', () => ((pendingDrain = null), r())));
        await Promise.race([pendingDrain, record.closed]);
      }
      if (s.delayMs) await sleep(s.delayMs);
    };

    if (s.firstTokenDelayMs) await sleep(s.firstTokenDelayMs);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': `req_${seq}`, ...s.headers });
    await write(base(choice({ role: 'assistant', content: '' })));
    let sent = 0;
    for (const tok of tokens) {
      if (res.destroyed) return;
      if (s.errorAfterTokens === sent) return void (await endWithError());
      if (s.cutAfterTokens === sent) return void (await cut());
      if (s.stallAfterTokens === sent) return;
      if (s.malformedAfterTokens === sent) await write('{"id":"' + id + '","choices":[{"delta":{"content":');
      const logprobs = s.logprobs ? { content: [{ token: tok, logprob: -0.25, bytes: [...Buffer.from(tok)], top_logprobs: [] }], refusal: null } : null;
      await write(base(choice({ content: tok }, null, logprobs)));
      record.tokensSent = ++sent;
    }
    if (s.errorAfterTokens === sent) return void (await endWithError());
    if (s.cutAfterTokens === sent) return void (await cut());
    if (s.stallAfterTokens === sent) return;
    for (const r of s.refusal ?? []) await write(base(choice({ refusal: r })));
    for (const tc of s.toolCalls ?? []) await write(base(choice({ tool_calls: tc })));
    const finish = s.finishReason === undefined ? (s.toolCalls ? 'tool_calls' : 'stop') : s.finishReason;
    if (finish !== null) await write(base(choice({}, finish)));
    if (record.body?.stream_options?.include_usage === true) {
      await write(base([], s.usage ?? defaultUsage(s, tokens)));
    }
    if (!s.noDone) await write('[DONE]');
    res.end();

    // Let what was written reach the client first, then drop the connection mid-body.
    async function cut() {
      await new Promise<void>((r) => res.write('', () => r()));
      res.socket?.destroy();
    }

    async function endWithError() {
      const error = s.streamError ?? { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null };
      await write(JSON.stringify({ error }));
      res.end();
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    get connections() {
      return connections;
    },
    enqueue: (...s) => void queue.push(...s),
    setScenario: (s) => void (defaultScenario = s),
    waitForRequests: (n) => (requests.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }))),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function defaultUsage(s: FakeScenario, tokens: string[]): Usage {
  const completion = tokens.length + (s.refusal?.length ?? 0) + (s.toolCalls?.length ?? 0);
  return { prompt_tokens: 9, completion_tokens: completion, total_tokens: 9 + completion };
}

function completionObject(s: FakeScenario, id: string, model: string, tokens: string[]) {
  const toolCalls: { id: string; type: 'function'; function: { name: string; arguments: string } }[] = [];
  for (const chunk of s.toolCalls ?? []) {
    for (const d of chunk) {
      const tc = (toolCalls[d.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
      if (d.id) tc.id = d.id;
      if (d.function?.name) tc.function.name += d.function.name;
      if (d.function?.arguments) tc.function.arguments += d.function.arguments;
    }
  }
  const finish = s.finishReason === undefined ? (s.toolCalls ? 'tool_calls' : 'stop') : s.finishReason;
  return {
    id,
    object: 'chat.completion',
    created: 1767225600,
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: tokens.length ? tokens.join('') : null,
          refusal: s.refusal ? s.refusal.join('') : null,
          ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
        },
        logprobs: null,
        finish_reason: finish,
      },
    ],
    usage: s.usage ?? defaultUsage(s, tokens),
  };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers?: Record<string, string>) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

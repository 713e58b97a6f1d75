import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { BackendError } from '../../lib/backends/errors.js';
import { OpenAIBackend, type OpenAIBackendOptions } from '../../lib/backends/openai.js';
import { createBackend } from '../../lib/backends/registry.js';
import type { BackendEvent, ChatRequest } from '../../lib/backends/types.js';
import { loadConfig } from '../../lib/config/index.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';

const timeouts = { connectMs: 2000, firstTokenMs: 5000, idleMs: 5000, totalMs: 30000 };
const req: ChatRequest = { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] };

async function collect(it: AsyncIterable<BackendEvent>): Promise<{ events: BackendEvent[]; error?: BackendError }> {
  const events: BackendEvent[] = [];
  try {
    for await (const e of it) events.push(e);
    return { events };
  } catch (err) {
    expect(err).toBeInstanceOf(BackendError);
    return { events, error: err as BackendError };
  }
}

const text = (events: BackendEvent[]) => events.map((e) => (e.type === 'content' ? e.text : '')).join('');

describe('openai backend against a real fake upstream', () => {
  let fake: FakeOpenAI;
  const backends: OpenAIBackend[] = [];
  const make = (o: Partial<OpenAIBackendOptions> = {}) => {
    const b = new OpenAIBackend({ name: 'up', baseUrl: fake.baseUrl, apiKey: () => 'sk-test-key-123456', timeouts, continuation: false, ...o });
    backends.push(b);
    return b;
  };
  beforeAll(async () => {
    fake = await startFakeOpenAI();
  });
  afterEach(async () => {
    await Promise.all(backends.splice(0).map((b) => b.close()));
  });
  afterAll(() => fake.close());

  it('streams start, content, finish and usage, and sends the right request', async () => {
    fake.enqueue({ tokens: ['Hel', 'lo'], model: 'gpt-test-2026', usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } });
    const request: ChatRequest = {
      ...req,
      maxTokens: 9,
      temperature: 0.3,
      topP: 0.9,
      stop: ['END'],
      seed: 7,
      user: 'u1',
      passthrough: { tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: 'auto', response_format: { type: 'json_object' }, logprobs: true, custom: { a: 1 } },
    };
    const { events, error } = await collect(make().stream(request, new AbortController().signal));
    expect(error).toBeUndefined();
    expect(events).toEqual([
      { type: 'start', model: 'gpt-test-2026' },
      { type: 'content', text: 'Hel' },
      { type: 'content', text: 'lo' },
      { type: 'finish', reason: 'stop' },
      { type: 'usage', usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } },
    ]);
    const sent = fake.requests.at(-1)!;
    expect(sent.url).toBe('/v1/chat/completions');
    expect(sent.headers.authorization).toBe('Bearer sk-test-key-123456');
    expect(sent.body).toEqual({
      ...request.passthrough,
      model: 'gpt-test',
      messages: request.messages,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 9,
      temperature: 0.3,
      top_p: 0.9,
      stop: ['END'],
      seed: 7,
      user: 'u1',
    });
  });

  it('uses max_completion_tokens when configured and keeps caller stream_options', async () => {
    await collect(make({ maxTokensField: 'max_completion_tokens' }).stream({ ...req, maxTokens: 3, passthrough: { stream_options: { include_obfuscation: false } } }, new AbortController().signal));
    const body = fake.requests.at(-1)!.body;
    expect(body.max_completion_tokens).toBe(3);
    expect(body.max_tokens).toBeUndefined();
    expect(body.stream_options).toEqual({ include_obfuscation: false, include_usage: true });
  });

  it('relays tool_calls, refusals and logprobs intact', async () => {
    const toolCalls = [
      [{ index: 0, id: 'call_a', type: 'function' as const, function: { name: 'get_weather', arguments: '' } }],
      [{ index: 0, function: { arguments: '{"city":' } }],
      [{ index: 0, function: { arguments: '"Oslo"}' } }],
    ];
    fake.enqueue({ tokens: ['x'], logprobs: true, refusal: ['I can', 'not'], toolCalls });
    const { events } = await collect(make().stream(req, new AbortController().signal));
    expect(events.filter((e) => e.type === 'tool_calls').map((e) => (e as { toolCalls: unknown }).toolCalls)).toEqual(toolCalls);
    expect(events.filter((e) => e.type === 'refusal')).toEqual([{ type: 'refusal', text: 'I can' }, { type: 'refusal', text: 'not' }]);
    expect(events.find((e) => e.type === 'content')).toEqual({ type: 'content', text: 'x', logprobs: { content: [{ token: 'x', logprob: -0.25, bytes: [120], top_logprobs: [] }], refusal: null } });
    expect(events.find((e) => e.type === 'finish')).toEqual({ type: 'finish', reason: 'tool_calls' });
  });

  it('parses CRLF line endings and events split across TCP writes', async () => {
    fake.enqueue({ tokens: ['é', '😀', 'z'], lineEnding: '\r\n', splitEveryBytes: 3 });
    const { events, error } = await collect(make().stream(req, new AbortController().signal));
    expect(error).toBeUndefined();
    expect(text(events)).toBe('é😀z');
  });

  it('treats a mid-stream error event as a cut stream', async () => {
    fake.enqueue({ tokens: ['a', 'b', 'c'], errorAfterTokens: 2, streamError: { message: 'overloaded', type: 'server_error', code: 'overloaded' } });
    const { events, error } = await collect(make().stream(req, new AbortController().signal));
    expect(text(events)).toBe('ab');
    expect(error).toMatchObject({ kind: 'cut', providerCode: 'overloaded', providerMessage: 'overloaded', afterFirstToken: true, retryable: true, backend: 'up' });
  });

  it('treats a reset connection as a cut stream, before and after the first token', async () => {
    fake.enqueue({ tokens: ['a', 'b', 'c'], cutAfterTokens: 2 });
    const after = await collect(make().stream(req, new AbortController().signal));
    expect(text(after.events)).toBe('ab');
    expect(after.error).toMatchObject({ kind: 'cut', afterFirstToken: true, retryable: true });
    expect(after.events.some((e) => e.type === 'finish')).toBe(false);
    fake.enqueue({ cutAfterTokens: 0 });
    const before = await collect(make().stream(req, new AbortController().signal));
    expect(before.error).toMatchObject({ kind: 'cut', afterFirstToken: false });
  });

  it('finalises a finished stream without [DONE], but calls EOF without finish a cut', async () => {
    fake.enqueue({ tokens: ['a'], noDone: true });
    const clean = await collect(make().stream(req, new AbortController().signal));
    expect(clean.error).toBeUndefined();
    expect(clean.events.at(-2)).toEqual({ type: 'finish', reason: 'stop' });
    fake.enqueue({ tokens: ['a'], noDone: true, finishReason: null });
    const cut = await collect(make().stream(req, new AbortController().signal));
    expect(cut.error).toMatchObject({ kind: 'cut', afterFirstToken: true });
  });

  it('skips unparseable chunks, counts and logs them', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    const reported: [string, number][] = [];
    const b = make({ logger, onMalformedChunks: (name, n) => reported.push([name, n]) });
    fake.enqueue({ tokens: ['a', 'b'], malformedAfterTokens: 1 });
    const { events, error } = await collect(b.stream(req, new AbortController().signal));
    expect(error).toBeUndefined();
    expect(text(events)).toBe('ab');
    expect(b.malformedChunks).toBe(1);
    expect(b.health()).toMatchObject({ malformedChunks: 1 });
    expect(lines.join('')).toMatch(/skipped unparseable upstream stream chunks/);
    expect(reported).toEqual([['up', 1]]);
  });

  it('classifies HTTP errors with Retry-After and provider codes, scrubbing the key', async () => {
    fake.enqueue({ status: 429, headers: { 'retry-after': '2' } });
    const limited = await collect(make().stream(req, new AbortController().signal));
    expect(limited.error).toMatchObject({ kind: 'http', status: 429, retryAfterMs: 2000, retryable: true, afterFirstToken: false });
    fake.enqueue({ status: 400, errorBody: { error: { message: 'too long', type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } } });
    expect((await collect(make().stream(req, new AbortController().signal))).error).toMatchObject({ status: 400, providerCode: 'context_length_exceeded', retryable: false });
    fake.enqueue({ status: 401, errorBody: { error: { message: 'Incorrect API key provided: sk-test-key-123456.', type: 'invalid_request_error', code: 'invalid_api_key' } } });
    const auth = (await collect(make().stream(req, new AbortController().signal))).error!;
    expect(auth.status).toBe(401);
    expect(`${auth.message} ${auth.providerMessage}`).not.toContain('key-123456');
  });

  it('maps refused connections, resets and silent upstreams', async () => {
    const closed = await startFakeOpenAI();
    const deadUrl = closed.baseUrl;
    await closed.close();
    expect((await collect(make({ baseUrl: deadUrl }).stream(req, new AbortController().signal))).error).toMatchObject({ kind: 'connect', retryable: true });
    fake.enqueue({ resetBeforeHeaders: true });
    expect((await collect(make().stream(req, new AbortController().signal))).error).toMatchObject({ kind: 'connect', retryable: true });
    fake.enqueue({ hang: true });
    expect((await collect(make({ timeouts: { ...timeouts, firstTokenMs: 300 } }).stream(req, new AbortController().signal))).error).toMatchObject({ kind: 'timeout' });
    fake.enqueue({ tokens: ['a', 'b'], stallAfterTokens: 1 });
    const stalled = await collect(make({ timeouts: { ...timeouts, idleMs: 300 } }).stream(req, new AbortController().signal));
    expect(stalled.error).toMatchObject({ kind: 'timeout', afterFirstToken: true });
    fake.enqueue({ tokenCount: 50, delayMs: 20 });
    const total = await collect(make({ timeouts: { ...timeouts, totalMs: 200 } }).stream(req, new AbortController().signal));
    expect(total.error).toMatchObject({ kind: 'timeout', afterFirstToken: true });
  });

  it('aborts the upstream request at once when the signal fires', async () => {
    fake.enqueue({ tokens: ['a', 'b'], stallAfterTokens: 1 });
    const ac = new AbortController();
    const b = make();
    const seen: BackendEvent[] = [];
    const run = (async () => {
      for await (const e of b.stream(req, ac.signal)) {
        seen.push(e);
        if (e.type === 'content') ac.abort();
      }
    })();
    await expect(run).rejects.toMatchObject({ kind: 'aborted', retryable: false });
    const rec = fake.requests.at(-1)!;
    await rec.closed;
    expect(rec.aborted).toBe(true);
  });

  it('aborts the upstream request when the consumer stops reading', async () => {
    fake.enqueue({ tokenCount: 1000, delayMs: 5 });
    for await (const e of make().stream(req, new AbortController().signal)) if (e.type === 'content') break;
    const rec = fake.requests.at(-1)!;
    await rec.closed;
    expect(rec.aborted).toBe(true);
    expect(rec.tokensSent).toBeLessThan(1000);
  });

  it('sends a prefill as a trailing assistant message only when continuation is on', async () => {
    await collect(make({ continuation: true }).stream({ ...req, prefill: 'Once upon' }, new AbortController().signal));
    expect(fake.requests.at(-1)!.body.messages).toEqual([...req.messages, { role: 'assistant', content: 'Once upon' }]);
    await collect(make({ continuation: false }).stream({ ...req, prefill: 'Once upon' }, new AbortController().signal));
    expect(fake.requests.at(-1)!.body.messages).toEqual(req.messages);
  });

  it('accepts an upstream that answers a stream request with one JSON completion', async () => {
    fake.enqueue({ ignoreStream: true, tokens: ['whole', ' answer'], model: 'm-json' });
    const { events, error } = await collect(make().stream(req, new AbortController().signal));
    expect(error).toBeUndefined();
    expect(events).toEqual([
      { type: 'start', model: 'm-json' },
      { type: 'content', text: 'whole answer' },
      { type: 'finish', reason: 'stop' },
      { type: 'usage', usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } },
    ]);
  });

  it('reuses one keep-alive connection for sequential requests', async () => {
    const b = make();
    const before = fake.connections;
    for (let i = 0; i < 3; i++) {
      expect((await collect(b.stream(req, new AbortController().signal))).error).toBeUndefined();
      // undici frees the connection on the tick after the body ends; a request issued in the same tick opens another.
      await new Promise((r) => setImmediate(r));
    }
    expect(fake.connections - before).toBe(1);
  });

  it('lists models from config or from the upstream', async () => {
    expect(await make({ models: ['x', 'y'] }).models()).toEqual(['x', 'y']);
    expect(await make().models()).toEqual(['fake-model']);
  });

  it('is built by the registry from a loaded config, reading the key per request', async () => {
    let reads = 0;
    const config = loadConfig(
      { backends: { main: { type: 'openai', baseUrl: fake.baseUrl, apiKey: 'secret:k', continuation: true } } },
      { env: {}, resolveSecret: () => ({ revealString: () => (reads++, 'sk-vault-value') }) },
    );
    const backend = createBackend('main', config.backends.main!);
    expect(backend).toMatchObject({ name: 'main', type: 'openai', continuation: true });
    const { error } = await collect(backend.stream(req, new AbortController().signal));
    expect(error).toBeUndefined();
    expect(fake.requests.at(-1)!.headers.authorization).toBe('Bearer sk-vault-value');
    expect(reads).toBeGreaterThan(0);
    await backend.close();
  });
});

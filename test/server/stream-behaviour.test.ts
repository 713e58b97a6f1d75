/**
 * Stream behaviour on real sockets: disconnect aborts the upstream, heartbeats while the first token
 * is slow, limits (429/503), upstream failures mapped to 502/504, a custom backend's bug mapped to 500,
 * and resume of a stream after the client lost its connection.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../lib/backends/types.js';
import { createBackend } from '../../lib/backends/registry.js';
import { loadConfig } from '../../lib/config/index.js';
import type { AbiServerConfig } from '../../lib/server/index.js';
import { createSessionStore } from '../../lib/sessions/index.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { payloads, sseRequest } from '../support/clients.js';
import { startFromConfig, startTestServer, upstreamConfig } from './harness.js';

const AUTH = { authorization: 'Bearer test-token-1' };
const body = (extra: Record<string, unknown> = {}) => ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true, ...extra });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(scenario: Parameters<typeof startFakeOpenAI>[0], config: Record<string, any> = {}, sessions = { detachedGraceMs: 0 }) {
  const fake = await startFakeOpenAI(scenario);
  cleanups.push(() => fake.close());
  const t = await startFromConfig(upstreamConfig([fake.baseUrl], config), { sessions: createSessionStore(sessions) });
  cleanups.push(() => t.close());
  return { fake, t };
}

describe('streams', () => {
  it('a client that disconnects aborts the upstream request', async () => {
    const { fake, t } = await setup({ scenario: { tokenCount: 1000, delayMs: 20 } });
    const r = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: body(), onEvent: (_e, all) => all.length >= 3 });
    expect(r.events.length).toBe(3);
    await fake.requests[0]!.closed;
    expect(fake.requests[0]!.aborted).toBe(true);
    expect(fake.requests[0]!.tokensSent).toBeLessThan(1000);
  });

  it('sends `: heartbeat` comments while the first token is slow', async () => {
    const { t } = await setup({ scenario: { tokens: ['late'], firstTokenDelayMs: 700 } }, { server: { heartbeatMs: 100 } });
    const r = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: body() });
    expect(r.status).toBe(200);
    const before = r.comments.filter((c) => c.text === 'heartbeat' && c.afterEvents === 0);
    expect(before.length).toBeGreaterThanOrEqual(2);
    expect(payloads(r.events).at(-1)).toBe('[DONE]');
    expect(r.headers['x-abi-backend']).toBeUndefined();
  });

  it('429 with Retry-After when maxConcurrentStreams is reached', async () => {
    const { t } = await setup({ scenario: { tokenCount: 50, delayMs: 20 } }, { server: { maxConcurrentStreams: 1 } });
    let release!: () => void;
    const first = sseRequest(`${t.url}/v1/chat/completions`, {
      headers: AUTH,
      body: body(),
      onEvent: (_e, all) => {
        if (all.length === 1) release();
        return false;
      },
    });
    await new Promise<void>((r) => (release = r));
    const second = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: body() });
    expect(second.status).toBe(429);
    expect(second.headers['retry-after']).toBe('1');
    expect(second.json.error.code).toBe('too_many_streams');
    expect((await first).status).toBe(200);
  });

  it('429 from the per-principal request rate limit, with x-ratelimit headers', async () => {
    const fake = await startFakeOpenAI({});
    cleanups.push(() => fake.close());
    const config = loadConfig(upstreamConfig([fake.baseUrl]), { env: process.env }) as unknown as AbiServerConfig;
    const t = await startTestServer({ ...config, rateLimits: { default: { requestsPerMinute: 1 } } }, { createBackend: (n, c) => createBackend(n, c as never) });
    cleanups.push(() => t.close());
    const ok = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: body() });
    expect(ok.status).toBe(200);
    expect(ok.headers['x-ratelimit-limit-requests']).toBe('1');
    const refused = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: body() });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('502 when the upstream resets the connection before answering', async () => {
    const { t } = await setup({ scenario: { resetBeforeHeaders: true } });
    const r = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: body() });
    expect(r.status).toBe(502);
    expect(r.json.error.type).toBe('server_error');
  });

  it('504 when the upstream sends no first token within firstTokenMs', async () => {
    const { t } = await setup({ scenario: { hang: true } }, { backend: { timeouts: { firstTokenMs: 200 } } });
    const r = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: body() });
    expect(r.status).toBe(504);
    expect(r.json.error.type).toBe('timeout_error');
  });

  it('500 with a generic message when a custom backend has a bug, and the server keeps serving', async () => {
    const broken: Backend = {
      name: 'custom',
      type: 'custom',
      continuation: false,
      async *stream() {
        throw new TypeError('cannot read properties of undefined (secret internals)');
      },
      close: async () => {},
    };
    const t = await startTestServer(
      { auth: { tokens: ['test-token-1'], apiKeysFile: '/nonexistent/k.json' }, backends: { custom: { type: 'custom' } } },
      { createBackend: () => broken },
    );
    cleanups.push(() => t.close());
    const r = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: body({ stream: false }) });
    expect(r.status).toBe(500);
    expect(r.json.error.message).not.toContain('secret internals');
    const health = await sseRequest(`${t.url}/health`);
    expect(health.json.status).toBe('ok');
  });

  it('resume: GET /v1/streams/{id} with Last-Event-ID replays the rest exactly once and continues live', async () => {
    const { t } = await setup({ scenario: { tokenCount: 30, delayMs: 15 } }, {}, { detachedGraceMs: 5000 });
    let streamId = '';
    const first = await sseRequest(`${t.url}/v1/chat/completions`, {
      headers: AUTH,
      body: body(),
      onResponse: (res) => (streamId = String(res.headers['x-abi-stream-id'])),
      onEvent: (_e, all) => all.length >= 6,
    });
    const lastId = first.events.at(-1)!.id!;
    const rest = await sseRequest(`${t.url}/v1/streams/${streamId}`, { headers: { ...AUTH, 'last-event-id': lastId } });
    expect(rest.status).toBe(200);
    expect(rest.headers['x-abi-stream-id']).toBe(streamId);
    const all = [...first.events, ...rest.events];
    expect(all.map((e) => Number(e.id))).toEqual(all.map((_, i) => i));
    const text = payloads(all)
      .filter((p) => p !== '[DONE]')
      .map((p) => p.choices[0]?.delta.content ?? '')
      .join('');
    expect(text).toBe(Array.from({ length: 30 }, (_, i) => `t${i} `).join(''));
    expect(all.at(-1)!.data).toBe('[DONE]');

    const again = await sseRequest(`${t.url}/v1/streams/${streamId}?after=25`, { headers: AUTH });
    expect(again.events[0]!.id).toBe('26');
  });

  it('resume of an unknown stream is 404; a bad position is 400', async () => {
    const { t } = await setup({});
    const unknown = await sseRequest(`${t.url}/v1/streams/nope`, { headers: AUTH });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('stream_not_found');
    const done = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: body() });
    const id = String(done.headers['x-abi-stream-id']);
    const bad = await sseRequest(`${t.url}/v1/streams/${id}?after=abc`, { headers: AUTH });
    expect(bad.status).toBe(400);
    expect(bad.json.error.param).toBe('after');
    const beyond = await sseRequest(`${t.url}/v1/streams/${id}?after=999`, { headers: AUTH });
    expect(beyond.status).toBe(400);
    const other = await sseRequest(`${t.url}/v1/streams/${id}`, { headers: { authorization: 'Bearer test-token-2' } });
    expect(other.status).toBe(401);
  });

  it('POST /api/stream speaks ABI events with ids', async () => {
    const { t } = await setup({ scenario: { tokens: ['a', 'b', 'c'] } });
    const r = await sseRequest(`${t.url}/api/stream`, { headers: AUTH, body: { prompt: 'hi', model: 'm' } });
    const p = payloads(r.events);
    expect(p[0]).toMatchObject({ type: 'start', model: 'm', request_id: expect.any(String), timestamp: expect.any(Number) });
    expect(p.slice(1, 4)).toEqual([
      { type: 'token', content: 'a', index: 0 },
      { type: 'token', content: 'b', index: 1 },
      { type: 'token', content: 'c', index: 2 },
    ]);
    expect(p[4]).toMatchObject({ type: 'end', total_tokens: 3, finish_reason: 'stop' });
    expect(r.events.map((e) => e.id)).toEqual(['0', '1', '2', '3', '4']);
  });
});

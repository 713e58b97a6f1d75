/** The WebSocket endpoint with the `ws` client: concurrent streams, cancel, per-connection limit, resume, auth. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionStore } from '../../lib/sessions/index.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { sseRequest, WsClient } from '../support/clients.js';
import { startFromConfig, upstreamConfig, type TestServer } from './harness.js';

const AUTH = { authorization: 'Bearer test-token-1' };

describe('WebSocket /api/stream/ws', () => {
  let fake: FakeOpenAI;
  let t: TestServer;
  let wsUrl: string;

  beforeAll(async () => {
    fake = await startFakeOpenAI({
      scenarioFor: (b) => {
        const text = String(b?.messages?.[0]?.content ?? '');
        if (text.startsWith('slow')) return { tokenCount: 500, delayMs: 20 };
        return { tokens: text.split(' ') };
      },
    });
    t = await startFromConfig(upstreamConfig([fake.baseUrl], { server: { maxStreamsPerConnection: 2, wsMaxPayloadBytes: 4096 } }), {
      sessions: createSessionStore({ detachedGraceMs: 0 }),
    });
    wsUrl = `${t.url.replace('http', 'ws')}/api/stream/ws`;
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  it('runs several streams concurrently on one connection, each event tagged with its id and seq', async () => {
    const c = await WsClient.connect(wsUrl, { headers: AUTH });
    c.send({ type: 'request', id: 's1', prompt: 'one two three', model: 'm' });
    c.send({ type: 'request', id: 's2', prompt: 'four five', model: 'm' });
    const end1 = await c.next((m) => m.id === 's1' && m.type === 'end');
    const end2 = await c.next((m) => m.id === 's2' && m.type === 'end');
    expect(end1).toMatchObject({ type: 'end', total_tokens: 3, finish_reason: 'stop' });
    expect(end2.total_tokens).toBe(2);
    const s1 = c.messages.filter((m) => m.id === 's1');
    expect(s1.map((m) => m.type)).toEqual(['start', 'token', 'token', 'token', 'end']);
    expect(s1.map((m) => m.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(s1.filter((m) => m.type === 'token').map((m) => m.content)).toEqual(['one', 'two', 'three']);
    c.close();
  });

  it('cancel stops a stream (error code cancelled) and aborts its upstream', async () => {
    const c = await WsClient.connect(wsUrl, { headers: AUTH });
    const before = fake.requests.length;
    c.send({ type: 'request', id: 'c1', prompt: 'slow please', model: 'm' });
    await c.next((m) => m.id === 'c1' && m.type === 'token' && m.index >= 2);
    c.send({ type: 'cancel', id: 'c1' });
    const err = await c.next((m) => m.id === 'c1' && m.type === 'error');
    expect(err.error.code).toBe('cancelled');
    const upstream = fake.requests[before]!;
    await upstream.closed;
    expect(upstream.aborted).toBe(true);
    expect(c.messages.some((m) => m.id === 'c1' && m.type === 'end')).toBe(false);
    c.close();
  });

  it('refuses a stream over maxStreamsPerConnection with error code rate_limited', async () => {
    const c = await WsClient.connect(wsUrl, { headers: AUTH });
    c.send({ type: 'request', id: 'l1', prompt: 'slow a', model: 'm' });
    c.send({ type: 'request', id: 'l2', prompt: 'slow b', model: 'm' });
    await c.next((m) => m.id === 'l2' && m.type === 'start');
    c.send({ type: 'request', id: 'l3', prompt: 'slow c', model: 'm' });
    const refused = await c.next((m) => m.id === 'l3' && m.type === 'error');
    expect(refused.error.code).toBe('rate_limited');
    c.close();
    await c.closed;
  });

  it('resume on a new connection continues after the last seq exactly once', async () => {
    const c1 = await WsClient.connect(wsUrl, { headers: AUTH });
    c1.send({ type: 'request', id: 'r1', prompt: 'a b c d e f g h', model: 'm' });
    await c1.next((m) => m.id === 'r1' && m.type === 'end');
    const seen = c1.messages.filter((m) => m.id === 'r1').slice(0, 4);
    c1.close();
    const c2 = await WsClient.connect(wsUrl, { headers: AUTH });
    c2.send({ type: 'resume', id: 'r1', after: seen.at(-1).seq });
    await c2.next((m) => m.id === 'r1' && m.type === 'end');
    const rest = c2.messages.filter((m) => m.id === 'r1');
    const all = [...seen, ...rest];
    expect(all.map((m) => m.seq)).toEqual(all.map((_, i) => i));
    expect(all.filter((m) => m.type === 'token').map((m) => m.content).join(' ')).toBe('a b c d e f g h');
    c2.send({ type: 'resume', id: 'nope', after: -1 });
    expect((await c2.next((m) => m.id === 'nope')).error.code).toBe('stream_not_found');
    c2.close();
  });

  it('resumes a stream started over SSE: OpenAI chunks arrive wrapped as {type:"chunk", data}', async () => {
    let streamId = '';
    await sseRequest(`${t.url}/v1/chat/completions`, {
      headers: AUTH,
      body: { model: 'm', stream: true, messages: [{ role: 'user', content: 'x y z' }] },
      onResponse: (res) => (streamId = String(res.headers['x-abi-stream-id'])),
    });
    const c = await WsClient.connect(wsUrl, { headers: AUTH });
    c.send({ type: 'resume', id: streamId, after: 1 });
    const done = await c.next((m) => m.id === streamId && m.data === '[DONE]');
    const frames = c.messages.filter((m) => m.id === streamId);
    expect(frames[0]).toMatchObject({ type: 'chunk', seq: 2 });
    expect(frames.map((m) => m.seq)).toEqual(frames.map((_, i) => i + 2));
    expect(frames.slice(0, -1).map((m) => m.data.choices[0].delta.content ?? '').join('')).toBe('yz');
    expect(done.type).toBe('chunk');
    c.close();
  });

  it('answers bad messages with an error event and keeps the connection', async () => {
    const c = await WsClient.connect(wsUrl, { headers: AUTH });
    c.ws.send('{not json');
    const e1 = await c.next((m) => m.type === 'error' && m.error.code === 'invalid_json');
    expect(e1.request_id).toBeTruthy();
    c.send({ type: 'bogus' });
    await c.next((m) => m.type === 'error' && m.error.param === 'type');
    c.send({ type: 'request', id: 'ok1', prompt: 'still works', model: 'm' });
    await c.next((m) => m.id === 'ok1' && m.type === 'end');
    c.close();
  });

  it('closes the connection (1009) for a message over wsMaxPayloadBytes', async () => {
    const c = await WsClient.connect(wsUrl, { headers: AUTH });
    c.send({ type: 'request', prompt: 'x'.repeat(10_000), model: 'm' });
    const closed = await c.closed;
    expect(closed.code).toBe(1009);
  });

  it('authenticates by Authorization header or a bearer.<token> subprotocol, and refuses others with 401', async () => {
    const browser = await WsClient.connect(wsUrl, { protocols: ['abi.v1', 'bearer.test-token-1'] });
    expect(browser.ws.protocol).toBe('abi.v1');
    browser.send({ type: 'request', id: 'b1', prompt: 'hi there', model: 'm' });
    await browser.next((m) => m.id === 'b1' && m.type === 'end');
    browser.close();
    const none = await WsClient.connect(wsUrl).catch((e: { status?: number }) => e);
    expect((none as { status?: number }).status).toBe(401);
    const wrong = await WsClient.connect(wsUrl, { protocols: ['bearer.wrong'] }).catch((e: { status?: number }) => e);
    expect((wrong as { status?: number }).status).toBe(401);
  });
});

/**
 * Stream resume and failover end to end through the real server: the client's socket is cut at
 * random points (property test) and resumed with Last-Event-ID / ?after= over SSE and with a
 * `resume` message over WebSocket; every event must arrive exactly once and in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import OpenAI from 'openai';
import { sseRequest, WsClient, type SseEvent } from '../support/clients.js';
import { openaiWire, startFaultUpstream, type FaultUpstream } from '../support/fault-upstream.js';
import { startFakeAnthropic } from '../support/fake-anthropic.js';
import { startFromConfig, upstreamConfig, type TestServer } from '../server/harness.js';

const AUTH = { authorization: 'Bearer test-token-1' };
const TOKENS = Array.from({ length: 40 }, (_, i) => `t${i} `);
const FULL = TOKENS.join('');

let upstream: FaultUpstream;
let claudeUp: FaultUpstream;
let t: TestServer;

beforeAll(async () => {
  upstream = await startFaultUpstream({ wire: openaiWire, defaultScenario: { tokens: TOKENS, delayMs: 4 } });
  claudeUp = await startFakeAnthropic({ defaultScenario: { tokens: TOKENS } });
  const raw = upstreamConfig([`${upstream.origin}/v1`], {
    recovery: { session: { detachedGraceMs: 300, ttlMs: 600 }, retry: { baseDelayMs: 20, maxDelayMs: 100 } },
  });
  (raw.backends as Record<string, unknown>).claude = { type: 'anthropic', baseUrl: claudeUp.origin, apiKey: 'k' };
  raw.routes = [
    { model: 'failover', targets: [{ backend: 'a' }, { backend: 'claude' }] },
    { model: '*', targets: [{ backend: 'a' }] },
  ];
  t = await startFromConfig(raw);
});

afterAll(async () => {
  await t?.close();
  await upstream?.close();
  await claudeUp?.close();
});

const chatBody = (model = 'm') => ({ model, stream: true, messages: [{ role: 'user', content: 'count' }] });
const contentOf = (events: SseEvent[]) =>
  events
    .filter((e) => e.data !== '[DONE]')
    .map((e) => JSON.parse(e.data).choices?.[0]?.delta?.content ?? '')
    .join('');

/** Reads `limit` events (or to the end) from an SSE request, then drops the socket. */
async function readSome(url: string, init: { body?: unknown; headers?: Record<string, string> }, limit: number) {
  let streamId: string | undefined;
  const r = await sseRequest(url, {
    ...init,
    headers: { ...AUTH, ...init.headers },
    onResponse: (res) => (streamId = res.headers['x-abi-stream-id'] as string | undefined),
    onEvent: (_e, all) => all.length >= limit,
  });
  return { ...r, streamId };
}

describe('SSE resume', () => {
  it('every event exactly once across random socket cuts (Last-Event-ID and ?after=)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 5 }), fc.boolean(), async (cuts, useQuery) => {
        const first = await readSome(`${t.url}/v1/chat/completions`, { body: chatBody() }, cuts[0]!);
        expect(first.status).toBe(200);
        const id = first.streamId!;
        expect(id).toBeTruthy();
        const got: SseEvent[] = [...first.events];
        for (let i = 1; got.at(-1)?.data !== '[DONE]'; i++) {
          const last = got.at(-1)!.id!;
          const url = useQuery ? `${t.url}/v1/streams/${id}?after=${last}` : `${t.url}/v1/streams/${id}`;
          const part = await readSome(url, useQuery ? {} : { headers: { 'last-event-id': last } }, cuts[i % cuts.length]!);
          expect(part.status).toBe(200);
          got.push(...part.events);
        }
        expect(got.map((e) => Number(e.id))).toEqual(got.map((_, i) => i));
        expect(contentOf(got)).toBe(FULL);
      }),
      { numRuns: 12 },
    );
  });

  it('unknown stream → 404; expired stream → 410', async () => {
    const unknown = await sseRequest(`${t.url}/v1/streams/nope`, { headers: AUTH });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('stream_not_found');
    const done = await readSome(`${t.url}/v1/chat/completions`, { body: chatBody() }, 1000);
    await new Promise((r) => setTimeout(r, 800)); // ttlMs 600
    const expired = await sseRequest(`${t.url}/v1/streams/${done.streamId}`, { headers: AUTH });
    expect(expired.status).toBe(410);
    expect(expired.json.error.type).toBe('not_found_error');
  });

  it('generation continues while detached, then is aborted after detachedGraceMs', async () => {
    const n = upstream.requests.length;
    upstream.enqueue({ tokens: TOKENS, delayMs: 50 }); // ~2 s of generation
    const first = await readSome(`${t.url}/v1/chat/completions`, { body: chatBody() }, 2);
    const req = upstream.requests[n]!;
    await new Promise((r) => setTimeout(r, 150)); // within the grace: still generating
    expect(req.aborted).toBe(false);
    await req.closed; // grace (300 ms) expires → upstream request aborted long before 2 s
    expect(req.aborted).toBe(true);
    expect(req.tokensSent).toBeLessThan(TOKENS.length);
    const late = await sseRequest(`${t.url}/v1/streams/${first.streamId}?after=0`, { headers: AUTH });
    // What was generated is still replayable and ends with an error event, never a [DONE].
    expect(late.status).toBe(200);
    expect(late.events.at(-1)!.data).not.toBe('[DONE]');
    expect(JSON.parse(late.events.at(-1)!.data).error).toBeDefined();
  });
});

describe('WebSocket resume', () => {
  it('a new connection resumes with {type:"resume", id, after} and gets every token exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 30 }), async (cutAt) => {
        const id = `ws-${Math.random().toString(36).slice(2)}`;
        const c1 = await WsClient.connect(`${t.url.replace('http', 'ws')}/api/stream/ws`, { headers: AUTH });
        c1.ws.send(JSON.stringify({ type: 'request', id, model: 'm', messages: [{ role: 'user', content: 'count' }] }));
        await c1.next((m) => m.type === 'token' && m.seq >= cutAt);
        c1.ws.terminate();
        const seen = c1.messages.filter((m) => m.id === id);
        const after = seen.at(-1)!.seq;
        const c2 = await WsClient.connect(`${t.url.replace('http', 'ws')}/api/stream/ws`, { headers: AUTH });
        c2.ws.send(JSON.stringify({ type: 'resume', id, after }));
        await c2.next((m) => m.id === id && (m.type === 'end' || m.type === 'error'));
        c2.ws.close();
        const all = [...seen, ...c2.messages.filter((m) => m.id === id)];
        expect(all.map((m) => m.seq)).toEqual(all.map((_, i) => i));
        expect(all.filter((m) => m.type === 'token').map((m) => m.content).join('')).toBe(FULL);
        expect(all.at(-1)!.type).toBe('end');
      }),
      { numRuns: 6 },
    );
  });
});

describe('mid-stream failover through the server', () => {
  it('the official SDK sees one complete answer when the primary is cut mid-stream', async () => {
    upstream.enqueue({ tokens: TOKENS, cutAfterTokens: 7 });
    const c = claudeUp.requests.length;
    const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'test-token-1', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'failover', stream: true, messages: [{ role: 'user', content: 'count' }] });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(FULL);
    expect(finish).toBe('stop');
    expect(claudeUp.requests[c]!.prefill).toBe(TOKENS.slice(0, 7).join('').trimEnd());
  });

  it('/health and /metrics show breaker state and the failover afterwards', async () => {
    const r = await sseRequest(`${t.url}/health`, { headers: AUTH });
    expect(r.status).toBe(200);
    expect(r.json.status).toBe('ok');
    expect(JSON.stringify(r.json.backends.a)).toContain('closed');
    const m = await sseRequest(`${t.url}/metrics`, { headers: AUTH });
    expect(m.raw).toMatch(/abi_breaker_state\{backend="a"\} 0/);
    expect(m.raw).toMatch(/abi_midstream_failovers_total\{backend="a",mode="prefill"\} [1-9]/);
    expect(m.raw).toMatch(/abi_stream_resumes_total [1-9]/);
  });
});

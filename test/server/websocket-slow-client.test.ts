/**
 * WebSocket slow readers get SSE's treatment: a client that stops reading is disconnected with
 * close code 1008 and the reason, a logged reason and a `client:slow` event; it never receives the
 * whole answer and its upstream request is aborted. Both SSE reasons apply: the socket stays
 * blocked past slowClientTimeoutMs (`slow_client_stalled`), or more than maxBufferedBytesPerStream
 * is queued for it (`slow_client_buffer`). The heartbeat is shorter than the floor: keep-alive must
 * not reap the client first (a ping cannot reach a client that is not reading).
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionStore } from '../../lib/sessions/index.js';
import { WsClient } from '../support/clients.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { startFromConfig, upstreamConfig, type TestServer } from './harness.js';

const TOKEN = 'x'.repeat(2000);
const TOKENS = 8000; // ~16 MB of content, far more than socket buffers (a few MB on loopback) hold
const AUTH = { authorization: 'Bearer test-token-1' };

interface SlowEvent {
  requestId: string;
  streamId: string;
  reason: string;
  detail: string;
}

async function startServer(fake: FakeOpenAI, maxBufferedBytesPerStream: number): Promise<{ t: TestServer; slow: SlowEvent[] }> {
  const t = await startFromConfig(
    upstreamConfig([fake.baseUrl], { server: { heartbeatMs: 1000, slowClientTimeoutMs: 2500, maxBufferedBytesPerStream } }),
    { sessions: createSessionStore({ detachedGraceMs: 0, ringBytes: 1 << 20 }) },
  );
  const slow: SlowEvent[] = [];
  t.server.events.on('client:slow', (e) => slow.push(e));
  return { t, slow };
}

/**
 * Starts stream `id` on a `ws` client that pauses its socket after the `start` event, waits until
 * the server reports it slow, then reads again: what it received and how it was closed.
 */
async function pausedClient(t: TestServer, slow: SlowEvent[], id: string): Promise<{ received: number; close: { code: number; reason: string } }> {
  const ws = new WebSocket(`${t.url.replace('http', 'ws')}/api/stream/ws`, { headers: AUTH });
  let received = 0;
  let sawStart = false;
  ws.on('message', (data: Buffer) => {
    received += data.length;
    if (!sawStart && JSON.parse(String(data)).type === 'start') {
      sawStart = true;
      // Stop reading entirely: the kernel buffers fill, then the server's socket stays blocked.
      ws.pause();
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ type: 'request', id, prompt: 'big', model: 'm' }));
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (slow.length > 0) {
        clearInterval(check);
        resolve();
      }
    }, 20);
  });
  expect(sawStart).toBe(true);
  // Reading again, the client gets what was already queued, then the close frame saying why.
  ws.resume();
  return { received, close: await closed };
}

async function expectUpstreamAborted(fake: FakeOpenAI): Promise<void> {
  const upstream = fake.requests.findLast((r) => r.body?.messages?.[0]?.content === 'big')!;
  await upstream.closed;
  expect(upstream.aborted).toBe(true);
}

describe('WebSocket slow clients', () => {
  let fake: FakeOpenAI;

  beforeAll(async () => {
    fake = await startFakeOpenAI({
      scenarioFor: (b) => (String(b?.messages?.[0]?.content ?? '') === 'big' ? { tokens: Array.from({ length: TOKENS }, () => TOKEN) } : undefined),
    });
  });
  afterAll(() => fake.close());

  it('a client whose socket stays blocked past slowClientTimeoutMs is closed with 1008 slow_client_stalled', async () => {
    // A buffer limit above what one batch can queue (the 1 MB session ring): only the floor applies.
    const { t, slow } = await startServer(fake, 4 << 20);
    try {
      // Another client on the same server is not held up by the slow one.
      const other = await WsClient.connect(`${t.url.replace('http', 'ws')}/api/stream/ws`, { headers: AUTH });
      const { received, close } = await pausedClient(t, slow, 'stalled1');
      expect(slow).toEqual([{ requestId: expect.any(String), streamId: 'stalled1', reason: 'slow_client_stalled', detail: expect.stringContaining('2500 ms') }]);
      expect(t.logs.find((l) => l.msg === 'disconnecting slow client')).toMatchObject({ reason: 'slow_client_stalled', stream_id: 'stalled1', ws: true });
      expect(close).toEqual({ code: 1008, reason: 'slow_client_stalled' });
      expect(received).toBeLessThan((TOKENS * TOKEN.length) / 2);
      await expectUpstreamAborted(fake);
      other.send({ type: 'request', id: 'small1', prompt: 'hi', model: 'm' });
      expect((await other.next((m) => m.id === 'small1' && m.type === 'end')).finish_reason).toBe('stop');
      other.close();
    } finally {
      await t.close();
    }
  });

  it('a client with more than maxBufferedBytesPerStream queued is closed with 1008 slow_client_buffer at once', async () => {
    // Below the socket's 16 KiB high-water mark: a socket that reports backpressure already holds
    // more than this, so the first blocked send is over the limit whatever the batch sizes were
    // (a larger limit made the outcome depend on how many events one read happened to batch).
    const { t, slow } = await startServer(fake, 8192);
    try {
      const { received, close } = await pausedClient(t, slow, 'buffer1');
      expect(slow).toEqual([{ requestId: expect.any(String), streamId: 'buffer1', reason: 'slow_client_buffer', detail: expect.stringContaining('limit 8192') }]);
      expect(close).toEqual({ code: 1008, reason: 'slow_client_buffer' });
      expect(received).toBeLessThan((TOKENS * TOKEN.length) / 2);
      await expectUpstreamAborted(fake);
    } finally {
      await t.close();
    }
  });
});

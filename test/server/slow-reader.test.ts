/**
 * Slow readers: a client that stops reading is disconnected with a logged reason once it stays
 * blocked past slowClientTimeoutMs, and the server never buffers the whole answer for it.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionStore } from '../../lib/sessions/index.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { startFromConfig, upstreamConfig, type TestServer } from './harness.js';

const TOKEN = 'x'.repeat(2000);
const TOKENS = 3000; // ~6 MB of content, far more than socket buffers hold

describe('slow readers', () => {
  let fake: FakeOpenAI;
  let t: TestServer;
  const slow: { reason: string; detail: string }[] = [];

  beforeAll(async () => {
    fake = await startFakeOpenAI({ scenario: { tokens: Array.from({ length: TOKENS }, () => TOKEN) } });
    t = await startFromConfig(upstreamConfig([fake.baseUrl], { server: { slowClientTimeoutMs: 300, maxBufferedBytesPerStream: 65536 } }), {
      sessions: createSessionStore({ detachedGraceMs: 0, ringBytes: 1 << 20 }),
    });
    t.server.events.on('client:slow', (e) => slow.push(e));
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  it('a paused reader is cut with a logged reason and receives far less than the whole answer', async () => {
    const body = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const socket = net.connect(t.port, '127.0.0.1');
    socket.setNoDelay(true);
    let received = 0;
    let sawHeaders = false;
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      received += d.length;
      if (!sawHeaders && d.toString('latin1').includes('\r\n\r\n')) {
        sawHeaders = true;
        // Stop reading entirely: the kernel buffers fill, then the server's writes block.
        socket.pause();
      }
    });
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer test-token-1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (slow.length > 0) {
          clearInterval(check);
          resolve();
        }
      }, 20);
    });
    expect(['slow_client_stalled', 'slow_client_buffer']).toContain(slow[0]!.reason);
    const logged = t.logs.find((l) => l.msg === 'disconnecting slow client');
    expect(logged).toMatchObject({ reason: slow[0]!.reason });
    socket.resume();
    await closed;
    expect(sawHeaders).toBe(true);
    expect(received).toBeLessThan((TOKENS * TOKEN.length) / 2);
    // The upstream is aborted too (nobody is attached and the grace is 0).
    await fake.requests[0]!.closed;
    expect(fake.requests[0]!.aborted).toBe(true);
  });
});

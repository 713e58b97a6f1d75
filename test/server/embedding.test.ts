/** createAbiServer embedded in an application's own node:http server via handler() and upgrade(). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAbiServer, loadConfig, type AbiServer } from '../../lib/index.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { sseRequest, WsClient } from '../support/clients.js';
import { captureLogger, upstreamConfig } from './harness.js';

describe('embedding in node:http', () => {
  let fake: FakeOpenAI;
  let abi: AbiServer;
  let server: http.Server;
  let url: string;
  const ended: number[] = [];

  beforeAll(async () => {
    fake = await startFakeOpenAI({});
    abi = createAbiServer(loadConfig(upstreamConfig([fake.baseUrl])) as never, { logger: captureLogger().logger });
    abi.events.on('request:end', (e) => ended.push(e.status));
    await abi.ready();
    server = http.createServer((req, res) => {
      if (req.url === '/app/hello') {
        res.end('hello from the app');
        return;
      }
      abi.handler(req, res);
    });
    server.on('upgrade', (req, socket, head) => abi.upgrade(req, socket, head));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await abi.close();
    await new Promise<void>((r) => server.close(() => r()));
    await fake.close();
  });

  it('serves the app route and abi routes side by side, and emits request events', async () => {
    expect((await sseRequest(`${url}/app/hello`)).raw).toBe('hello from the app');
    const client = new OpenAI({ apiKey: 'test-token-1', baseURL: `${url}/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello, world!');
    expect(ended).toContain(200);
    expect(abi.address()).toBeNull();
  });

  it('serves the WebSocket endpoint through upgrade() and refuses other upgrade paths', async () => {
    const c = await WsClient.connect(`${url.replace('http', 'ws')}/api/stream/ws`, { headers: { authorization: 'Bearer test-token-1' } });
    c.send({ type: 'request', id: 'e1', prompt: 'hi', model: 'm' });
    expect((await c.next((m) => m.id === 'e1' && m.type === 'end')).finish_reason).toBe('stop');
    c.close();
    const other = await WsClient.connect(`${url.replace('http', 'ws')}/elsewhere`).catch((e: { status?: number }) => e);
    expect((other as { status?: number }).status).toBe(404);
  });
});

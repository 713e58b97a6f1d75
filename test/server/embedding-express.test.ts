/**
 * abi inside an Express 5 app, exactly as docs/embedding.md shows it: abi's paths dispatched before
 * any body parser, the app's own routes (with a global express.json()) next to them, and the
 * WebSocket endpoint on the server app.listen() returns. A second app mounts express.json() first
 * and abi last, a third express.raw(): abi then takes the body the parser already read.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AbiServer } from '../../lib/index.js';
import { sseRequest } from '../support/clients.js';
import { AUTH, createEmbeddedAbi, embeddingChecks, expectEnvelope, startUpstream, type EmbeddedApp } from './embedding-checks.js';

/** The paths abi serves: /v1/*, /admin/*, /api/stream, /api/stream/ws, /health, /metrics. */
const ABI_PATHS = /^\/(?:v1\/|admin\/|api\/stream(?:\/|$)|health$|metrics$)/;

async function listen(app: express.Express, abi: AbiServer): Promise<{ server: http.Server; url: string }> {
  const server = await new Promise<http.Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  server.on('upgrade', abi.upgrade); // WebSocket at /api/stream/ws
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function stop(server: http.Server, abi: AbiServer): Promise<void> {
  await abi.close(); // drains abi's streams first
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

/**
 * For one describe block: a fake upstream, an abi on it and the Express app `build` makes around
 * abi, listening; all stopped after the block. The returned function reads them once started.
 */
function expressApp(build: (abi: AbiServer) => express.Express): () => EmbeddedApp {
  let running: EmbeddedApp | undefined;
  let abi: AbiServer;
  let server: http.Server;
  beforeAll(async () => {
    const fake = await startUpstream();
    ({ abi } = await createEmbeddedAbi(fake));
    let url: string;
    ({ server, url } = await listen(build(abi), abi));
    running = { url, fake };
  });
  afterAll(async () => {
    await stop(server, abi);
    await running?.fake.close();
  });
  return () => running!;
}

describe('embedding in Express: abi before the body parser (the documented layout)', () => {
  const app = expressApp((abi) => {
    const app = express();
    // abi reads the body itself, with its own limits and OpenAI-style errors: dispatch before any parser.
    app.use((req: Request, res: Response, next: NextFunction) => (ABI_PATHS.test(req.path) ? abi.handler(req, res) : next()));
    app.use(express.json());
    app.get('/app/hello', (_req, res) => void res.send('hello from express'));
    app.post('/app/echo', (req, res) => void res.json({ echoed: req.body }));
    return app;
  });

  it("serves the app's own routes, with its JSON parser, next to abi", async () => {
    const { url } = app();
    expect((await sseRequest(`${url}/app/hello`)).raw).toBe('hello from express');
    const echo = await sseRequest(`${url}/app/echo`, { body: { a: [1, 2] } });
    expect(echo.json).toEqual({ echoed: { a: [1, 2] } });
    // Unknown non-abi paths stay Express's (its own 404), abi's unknown paths are abi's.
    expect((await sseRequest(`${url}/app/nothing`)).status).toBe(404);
  });

  it('answers malformed JSON on an abi path with its own 400 envelope (no parser ran first)', async () => {
    const r = await sseRequest(`${app().url}/v1/chat/completions`, { headers: AUTH, body: '{"model": "m", "messages": [' });
    expect(r.status).toBe(400);
    expectEnvelope(r.json);
    expect(r.json.error.code).toBe('invalid_json');
  });

  embeddingChecks(app);
});

describe('embedding in Express: a global express.json() ahead of abi', () => {
  const app = expressApp((abi) => {
    const app = express();
    app.use(express.json());
    app.get('/app/hello', (_req, res) => void res.send('hello from express'));
    app.use(abi.handler); // last: every other path is abi's, its 404 included
    return app;
  });

  it('uses the body the parser already read: SDK stream and non-stream work, validation errors keep the envelope', async () => {
    const { url, fake } = app();
    expect((await sseRequest(`${url}/app/hello`)).raw).toBe('hello from express');
    const client = new OpenAI({ apiKey: 'test-token-1', baseURL: `${url}/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello, world!');
    const plain = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(plain.choices[0]!.message.content).toBe('Hello, world!');
    expect(fake.requests.at(-1)!.body.messages).toEqual([{ role: 'user', content: 'hi' }]);
    const bad = await sseRequest(`${url}/v1/chat/completions`, { headers: AUTH, body: { model: 'm', messages: [{ role: 'nobody', content: 'x' }] } });
    expect(bad.status).toBe(400);
    expectEnvelope(bad.json);
  });
});

describe('embedding in Express: express.raw() ahead of abi', () => {
  const app = expressApp((abi) => {
    const app = express();
    app.use(express.raw({ type: 'application/json' }));
    app.use(abi.handler);
    return app;
  });

  it('parses the bytes the parser left on req.body, with its own limits and errors', async () => {
    const { url } = app();
    const client = new OpenAI({ apiKey: 'test-token-1', baseURL: `${url}/v1`, maxRetries: 0 });
    const plain = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(plain.choices[0]!.message.content).toBe('Hello, world!');
    const bad = await sseRequest(`${url}/v1/chat/completions`, { headers: AUTH, body: '{"model": "m", "messages": [' });
    expect(bad.status).toBe(400);
    expectEnvelope(bad.json);
    expect(bad.json.error.code).toBe('invalid_json');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange, rawStatus, sseRequest } from '../support/clients.js';
import { startTestServer, type TestServer } from './harness.js';

const AUTH = { authorization: 'Bearer test-token-1' };

describe('HTTP errors with the OpenAI envelope (no backend configured)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      server: { bodyLimitBytes: 2000, maxJsonDepth: 8, headersTimeoutMs: 400, requestTimeoutMs: 800, maxHeaderSize: 4096, maxTokensCap: 100 },
      auth: { tokens: ['test-token-1'], allowHealthWithoutAuth: true, apiKeysFile: '/nonexistent/abi-keys.json' },
    });
  });
  afterAll(() => t.close());

  const envelope = (json: any) => {
    expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    return json.error;
  };

  it('404 for an unknown path', async () => {
    const r = await sseRequest(`${t.url}/v1/nope`, { headers: AUTH });
    expect(r.status).toBe(404);
    expect(envelope(r.json).code).toBe('route_not_found');
  });

  it('405 with Allow for a known path and the wrong method', async () => {
    const r = await sseRequest(`${t.url}/v1/chat/completions`, { method: 'GET', headers: AUTH });
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('POST');
    expect(envelope(r.json).code).toBe('method_not_allowed');
  });

  it('401 without or with a wrong token, and /health stays open', async () => {
    const none = await sseRequest(`${t.url}/v1/models`);
    expect(none.status).toBe(401);
    expect(envelope(none.json).type).toBeTruthy();
    const wrong = await sseRequest(`${t.url}/v1/models`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(envelope(wrong.json).code).toBe('invalid_api_key');
    const health = await sseRequest(`${t.url}/health`);
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({ status: 'ok', active_streams: 0, backends: {} });
    expect(typeof health.json.uptime_seconds).toBe('number');
  });

  it('415 for a body that is not JSON', async () => {
    const r = await sseRequest(`${t.url}/v1/chat/completions`, { headers: { ...AUTH, 'content-type': 'text/plain' }, body: 'hi' });
    expect(r.status).toBe(415);
    expect(envelope(r.json).code).toBe('unsupported_media_type');
  });

  it('413 for a body over the limit (declared and chunked)', async () => {
    const big = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(5000) }] });
    const declared = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: big });
    expect(declared.status).toBe(413);
    expect(envelope(declared.json).code).toBe('request_too_large');
    const chunked = await rawExchange(t.port, [
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer test-token-1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`,
      `${(3000).toString(16)}\r\n${'y'.repeat(3000)}\r\n0\r\n\r\n`,
    ]);
    expect(rawStatus(chunked.text)).toBe(413);
  });

  it('400 for malformed JSON, too-deep JSON and invalid fields, naming the param', async () => {
    const bad = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: '{"model":' });
    expect(bad.status).toBe(400);
    expect(envelope(bad.json).code).toBe('invalid_json');
    const deep = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: '['.repeat(20) + ']'.repeat(20) });
    expect(deep.status).toBe(400);
    expect(envelope(deep.json).code).toBe('json_too_deep');
    const n2 = await sseRequest(`${t.url}/v1/chat/completions`, {
      headers: AUTH,
      body: { model: 'm', n: 2, messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(n2.status).toBe(400);
    expect(envelope(n2.json).param).toBe('n');
  });

  it('503 with a clear message when no backend is configured', async () => {
    const r = await sseRequest(`${t.url}/v1/chat/completions`, {
      headers: AUTH,
      body: { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(r.status).toBe(503);
    expect(envelope(r.json).message).toMatch(/No backend is configured/);
  });

  it('400 in the envelope for malformed HTTP on a raw socket, and the server keeps serving', async () => {
    const r = await rawExchange(t.port, ['GARBAGE / HTTP/1.1\r\n\r\n']);
    expect(rawStatus(r.text)).toBe(400);
    expect(r.text).toContain('"error"');
    const health = await sseRequest(`${t.url}/health`);
    expect(health.status).toBe(200);
  });

  it('400 naming max_tokens when it is over server.maxTokensCap, on both endpoints', async () => {
    const messages = [{ role: 'user', content: 'hi' }];
    const chat = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: JSON.stringify({ model: 'm', messages, max_tokens: 101 }) });
    expect(chat.status).toBe(400);
    expect(envelope(chat.json).param).toBe('max_tokens');
    const abi = await sseRequest(`${t.url}/api/stream`, { headers: AUTH, body: JSON.stringify({ model: 'm', prompt: 'hi', max_tokens: 101 }) });
    expect(abi.status).toBe(400);
    expect(envelope(abi.json).param).toBe('max_tokens');
  });

  it('431 for oversized headers', async () => {
    const r = await rawExchange(t.port, [`GET /health HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(8000)}\r\n\r\n`]);
    expect(rawStatus(r.text)).toBe(431);
    expect(r.text).toContain('headers_too_large');
  });

  it('slow-loris: a request whose headers never finish is answered 408 and closed', async () => {
    const r = await rawExchange(t.port, ['GET /health HTTP/1.1\r\n', 'host: x\r\n'], { gapMs: 50, timeoutMs: 5000 });
    expect(r.closed).toBe(true);
    expect(r.timedOut).toBe(false);
    expect(rawStatus(r.text)).toBe(408);
  });

  it('/metrics serves Prometheus text including request counts', async () => {
    const r = await sseRequest(`${t.url}/metrics`, { headers: AUTH });
    expect(r.status).toBe(200);
    expect(r.raw).toContain('abi_http_requests_total');
    expect(r.raw).toMatch(/abi_http_requests_total\{route="unmatched",method="GET",status="404"\} \d+/);
  });
});

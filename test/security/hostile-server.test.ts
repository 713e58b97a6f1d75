/**
 * Hostile input through the real server (createAbiServer on 127.0.0.1, real sockets, a fake
 * OpenAI upstream): each attack gets the right status in the OpenAI envelope, and a well-behaved
 * client on another connection is served normally right after (and during) each one.
 */
import net from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SignJWT } from 'jose';
import fc from 'fast-check';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { startFromConfig, type TestServer } from '../server/harness.js';
import { ApiKeyStore } from '../../lib/security/api-keys.js';

const TOKEN = 'hostile-test-operator-token';
const JWT_SECRET = 'hostile-test-jwt-secret-of-enough-length!!';
let upstream: FakeOpenAI;
let abi: TestServer;
let keysFile: string;
let limitedKey: string;
let tokenLimitedKey: string;

const chat = (body: unknown = { model: 'fake-model', messages: [{ role: 'user', content: 'hi' }] }) => JSON.stringify(body);

async function post(path: string, body: string | Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${abi.url}${path}`, { method: 'POST', body, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers } });
}

async function expectEnvelope(res: Response, status: number, code?: string): Promise<{ message: string; type: string; param: unknown; code: unknown }> {
  expect(res.status).toBe(status);
  const json = (await res.json()) as { error: { message: string; type: string; param: unknown; code: unknown } };
  expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  if (code !== undefined) expect(json.error.code).toBe(code);
  return json.error;
}

/** A normal completion on a fresh connection: proves the server still serves everyone else. */
async function stillServing(): Promise<void> {
  const res = await fetch(`${abi.url}/v1/chat/completions`, {
    method: 'POST',
    body: chat(),
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', connection: 'close' },
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { choices: { message: { content: string } }[] };
  expect(body.choices[0]!.message.content).toBe('Hello, world!');
}

/** Sends raw bytes on a new TCP connection and returns everything the server wrote until it closed. */
function raw(bytes: string | Buffer, opts: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(abi.port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${opts.timeoutMs ?? 5000} ms; got ${JSON.stringify(out.slice(0, 200))}`));
    }, opts.timeoutMs ?? 5000);
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.on('error', () => {});
    socket.write(bytes);
  });
}

beforeAll(async () => {
  upstream = await startFakeOpenAI();
  keysFile = join(mkdtempSync(join(tmpdir(), 'abi-hostile-')), 'keys.json');
  limitedKey = new ApiKeyStore(keysFile).create({ name: 'limited', scopes: ['chat'], limits: { requestsPerMinute: 2 } }).key;
  tokenLimitedKey = new ApiKeyStore(keysFile).create({ name: 'token-limited', scopes: ['chat'], limits: { tokensPerMinute: 3 } }).key;
  abi = await startFromConfig({
    server: {
      bodyLimitBytes: 4096,
      maxJsonDepth: 16,
      maxHeaderSize: 2048,
      headersTimeoutMs: 800,
      requestTimeoutMs: 1500,
      wsMaxPayloadBytes: 2048,
    },
    auth: { tokens: [TOKEN], apiKeysFile: keysFile, jwt: { algorithms: ['HS256'], secret: JWT_SECRET, audience: 'abi' } },
    backends: { primary: { type: 'openai', baseUrl: upstream.baseUrl } },
  });
});

afterAll(async () => {
  await abi?.close();
  await upstream?.close();
});

describe('hostile request bodies', () => {
  it('malformed JSON → 400', async () => {
    await expectEnvelope(await post('/v1/chat/completions', '{"model": "x", "messages": [}'), 400);
    await stillServing();
  });

  it('a body over bodyLimitBytes → 413, also when it is streamed without a content-length', async () => {
    await expectEnvelope(await post('/v1/chat/completions', chat({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(10_000) }] })), 413);
    const chunked = await raw(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
        `2000\r\n${'x'.repeat(0x2000)}\r\n0\r\n\r\n`,
    );
    expect(chunked).toMatch(/^HTTP\/1\.1 413/);
    await stillServing();
  });

  it('deep nesting → 400 naming the depth limit, without a stack overflow', async () => {
    const arrays = await expectEnvelope(await post('/v1/chat/completions', '['.repeat(1500) + ']'.repeat(1500)), 400);
    expect(arrays.message).toMatch(/nest|depth/i);
    const objects = await expectEnvelope(await post('/v1/chat/completions', '{"a":'.repeat(100) + '1' + '}'.repeat(100)), 400);
    expect(objects.message).toMatch(/nest|depth/i);
    await stillServing();
  });

  it('invalid UTF-8 → 400', async () => {
    const bad = Buffer.concat([Buffer.from('{"model":"m","messages":[{"role":"user","content":"'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('"}]}')]);
    await expectEnvelope(await post('/v1/chat/completions', bad), 400);
    await stillServing();
  });
});

describe('fuzzed request bodies through the real server', () => {
  it('any body gets a 2xx or a 4xx envelope, never a 5xx, and the server keeps serving', async () => {
    const message = fc.record({ role: fc.oneof(fc.constantFrom('user', 'system', 'assistant', 'tool', 'developer'), fc.string()), content: fc.oneof(fc.string(), fc.jsonValue(), fc.constant(null)) }, { requiredKeys: [] });
    const body = fc.oneof(
      fc.record(
        {
          model: fc.oneof(fc.constant('fake-model'), fc.string(), fc.integer()),
          messages: fc.oneof(fc.array(message, { maxLength: 4 }), fc.jsonValue()),
          stream: fc.oneof(fc.boolean(), fc.jsonValue()),
          max_tokens: fc.oneof(fc.integer(), fc.double(), fc.string()),
          temperature: fc.oneof(fc.double(), fc.string()),
          n: fc.oneof(fc.integer({ min: -2, max: 3 }), fc.string()),
          stop: fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 6 }), fc.integer()),
        },
        { requiredKeys: [] },
      ).map((o) => JSON.stringify(o)),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string({ unit: 'binary', maxLength: 300 }),
    );
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const res = await post('/v1/chat/completions', text);
        const raw = await res.text();
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) {
          const env = JSON.parse(raw) as { error: Record<string, unknown> };
          expect(Object.keys(env.error).sort()).toEqual(['code', 'message', 'param', 'type']);
        }
      }),
      { numRuns: 150 },
    );
    await stillServing();
  }, 60_000);
});

describe('hostile HTTP framing', () => {
  it('enormous header values → 431', async () => {
    const res = await raw(`GET /v1/models HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${TOKEN}\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`);
    expect(res).toMatch(/^HTTP\/1\.1 431/);
    expect(res).toContain('"code":"headers_too_large"');
    expect(res.toLowerCase()).toContain('x-content-type-options: nosniff'); // raw socket answers carry the security headers too
    await stillServing();
  });

  it('an Authorization header longer than any token → 401 malformed_token, not a crash', async () => {
    const res = await fetch(`${abi.url}/v1/models`, { headers: { authorization: `Bearer ${'a'.repeat(1800)}` } });
    await expectEnvelope(res, 401, 'invalid_api_key');
    await stillServing();
  });

  it('CRLF / control characters in header values are rejected by the parser (400), and never reflected', async () => {
    const injected = await raw(`GET /v1/models HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${TOKEN}\r\nX-Request-Id: abc\rSet-Cookie: pwned=1\r\n\r\n`);
    expect(injected).toMatch(/^HTTP\/1\.1 400/);
    expect(injected.toLowerCase()).not.toContain('set-cookie');
    const nul = await raw(`GET /v1/models HTTP/1.1\r\nHost: a\r\nX-Request-Id: a\u0000b\r\n\r\n`);
    expect(nul).toMatch(/^HTTP\/1\.1 400/);
    await stillServing();
  });

  it('CRLF inside a JSON model name never reaches a response header', async () => {
    const res = await post('/v1/chat/completions', chat({ model: 'evil\r\nset-cookie: pwned=1', messages: [{ role: 'user', content: 'hi' }] }));
    expect(res.headers.get('set-cookie')).toBeNull();
    for (const [, value] of res.headers) expect(value).not.toMatch(/[\r\n]/);
    await res.arrayBuffer();
    await stillServing();
  });

  it('slow-loris: headers dribbled one byte at a time are cut at headersTimeoutMs with 408, others keep being served', async () => {
    const socket = net.connect(abi.port, '127.0.0.1');
    let out = '';
    socket.on('data', (d) => (out += d.toString()));
    socket.on('error', () => {});
    const closed = new Promise<number>((resolve) => {
      const started = Date.now();
      socket.on('close', () => resolve(Date.now() - started));
    });
    const header = `GET /v1/models HTTP/1.1\r\nHost: a\r\nX-Slow: ${'z'.repeat(200)}`;
    let i = 0;
    const drip = setInterval(() => {
      if (socket.writable && i < header.length) socket.write(header[i++]!);
    }, 50);
    await stillServing();
    const elapsed = await closed;
    clearInterval(drip);
    expect(out).toMatch(/^HTTP\/1\.1 408/);
    expect(elapsed).toBeLessThan(5000);
    await stillServing();
  });
});

describe('hostile WebSocket frames', () => {
  it('a message over wsMaxPayloadBytes closes that socket with 1009; other sockets keep working', async () => {
    const bad = new WebSocket(`${abi.url.replace('http', 'ws')}/api/stream/ws`, { headers: { authorization: `Bearer ${TOKEN}` } });
    await new Promise((resolve, reject) => {
      bad.once('open', resolve);
      bad.once('error', reject);
    });
    const closeCode = new Promise<number>((resolve) => bad.once('close', (code) => resolve(code)));
    bad.send('x'.repeat(10_000));
    expect(await closeCode).toBe(1009);

    const good = new WebSocket(`${abi.url.replace('http', 'ws')}/api/stream/ws`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const events: { type: string }[] = [];
    await new Promise<void>((resolve, reject) => {
      good.once('open', () => good.send(JSON.stringify({ type: 'request', id: 's1', messages: [{ role: 'user', content: 'hi' }] })));
      good.on('message', (data) => {
        const event = JSON.parse(data.toString()) as { type: string };
        events.push(event);
        if (event.type === 'end' || event.type === 'error') resolve();
      });
      good.once('error', reject);
    });
    good.close();
    expect(events.map((e) => e.type)).toContain('end');
    await stillServing();
  });

  it('an unauthenticated upgrade is refused', async () => {
    const ws = new WebSocket(`${abi.url.replace('http', 'ws')}/api/stream/ws`);
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
      ws.once('error', () => {});
    });
    expect(status).toBe(401);
  });
});

describe('auth, limits and headers through the real server', () => {
  it('JWT refusals arrive as 401 with their reason code; a valid JWT is served', async () => {
    const key = new TextEncoder().encode(JWT_SECRET);
    const base = () => new SignJWT({ scope: 'chat' }).setProtectedHeader({ alg: 'HS256' }).setSubject('u1');
    const cases: [string, string][] = [
      [await base().setAudience('abi').setExpirationTime(Math.floor(Date.now() / 1000) - 120).sign(key), 'token_expired'],
      [await base().setAudience('other').setExpirationTime('5m').sign(key), 'wrong_audience'],
      [await base().setAudience('abi').setExpirationTime('5m').sign(new TextEncoder().encode('x'.repeat(40))), 'bad_signature'],
      ['eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.', 'algorithm_not_allowed'],
    ];
    for (const [token, reason] of cases) {
      const res = await fetch(`${abi.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
      const err = await expectEnvelope(res, 401, reason);
      expect(err.type).toBe('authentication_error');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    const ok = await fetch(`${abi.url}/v1/models`, { headers: { authorization: `Bearer ${await base().setAudience('abi').setExpirationTime('5m').sign(key)}` } });
    expect(ok.status).toBe(200);
  });

  it('/admin/* needs the admin scope (403 for a chat-only key)', async () => {
    const res = await fetch(`${abi.url}/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${limitedKey}` } });
    await expectEnvelope(res, 403, 'insufficient_scope');
  });

  it('a key over its requests/min gets 429 with Retry-After and x-ratelimit-* headers', async () => {
    const send = () => post('/v1/chat/completions', chat(), { authorization: `Bearer ${limitedKey}` });
    const first = await send();
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect(first.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+(ms|s)$/);
    await first.arrayBuffer();
    await (await send()).arrayBuffer();
    const refused = await send();
    await expectEnvelope(refused, 429, 'rate_limit_exceeded');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    await stillServing(); // the operator token has no limit
  });

  it('tokens are charged as they stream: a stream past tokens/min makes the next request a 429', async () => {
    const headers = { authorization: `Bearer ${tokenLimitedKey}` };
    const first = await post('/v1/chat/completions', chat({ model: 'fake-model', stream: true, messages: [{ role: 'user', content: 'hi' }] }), headers);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit-tokens')).toBe('3');
    expect(await first.text()).toContain('[DONE]'); // the admitted stream ran to its end although it went over
    const refused = await post('/v1/chat/completions', chat(), headers);
    await expectEnvelope(refused, 429);
    expect(refused.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('security headers on successes, errors and 404s; no CORS by default', async () => {
    const responses = [
      await fetch(`${abi.url}/health`),
      await fetch(`${abi.url}/v1/models`, { headers: { authorization: `Bearer ${TOKEN}`, origin: 'https://evil.example' } }),
      await fetch(`${abi.url}/v1/models`),
      await fetch(`${abi.url}/no/such/path`, { headers: { authorization: `Bearer ${TOKEN}` } }),
      await post('/v1/chat/completions', '{bad'),
    ];
    for (const res of responses) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      await res.arrayBuffer();
    }
  });
});

describe('CORS configured through the config file', () => {
  it('answers preflights for the allowed origin and exposes the rate-limit headers', async () => {
    const server = await startFromConfig({
      auth: { tokens: [TOKEN], apiKeysFile: keysFile },
      backends: { primary: { type: 'openai', baseUrl: upstream.baseUrl } },
      cors: { origins: ['https://app.example'] },
      securityHeaders: { hstsMaxAgeSec: 31536000 },
    });
    try {
      const preflight = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
      const denied = await fetch(`${server.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
      expect(denied.status).toBe(403);
      await denied.arrayBuffer();
      const res = await fetch(`${server.url}/v1/models`, { headers: { origin: 'https://app.example', authorization: `Bearer ${TOKEN}` } });
      expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(res.headers.get('access-control-expose-headers')).toContain('x-ratelimit-remaining-tokens');
      expect(res.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
      await res.arrayBuffer();
    } finally {
      await server.close();
    }
  });
});

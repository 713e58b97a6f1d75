/**
 * What every embedding of abi (Express, Fastify) must keep working, checked against a running app
 * whose own routes sit next to abi's: the openai SDK streaming and not, the WebSocket endpoint
 * through the app server's upgrade, errors in OpenAI's envelope, and a client that disconnects
 * aborting its upstream request.
 */
import OpenAI from 'openai';
import { expect, it } from 'vitest';
import { createAbiServer, loadConfig, type AbiServer, type AbiServerConfig } from '../../lib/index.js';
import { createSessionStore } from '../../lib/sessions/index.js';
import { sseRequest, WsClient } from '../support/clients.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { captureLogger, upstreamConfig } from './harness.js';

export const AUTH = { authorization: 'Bearer test-token-1' };
const chat = (content: string) => ({ model: 'm', messages: [{ role: 'user' as const, content }] });

/** The fake upstream: a prompt starting with "slow" streams 300 tokens 20 ms apart, others "Hello, world!". */
export function startUpstream(): Promise<FakeOpenAI> {
  return startFakeOpenAI({
    scenarioFor: (b) => (String(b?.messages?.[0]?.content ?? '').startsWith('slow') ? { tokenCount: 300, delayMs: 20 } : undefined),
  });
}

/** An abi server for `fake`, not listening: the app embeds its handlers. Sessions end when their client leaves. */
export async function createEmbeddedAbi(fake: FakeOpenAI): Promise<{ abi: AbiServer; logs: any[] }> {
  const { logger, logs } = captureLogger();
  const config = loadConfig(upstreamConfig([fake.baseUrl])) as unknown as AbiServerConfig;
  const abi = createAbiServer(config, { logger, sessions: createSessionStore({ detachedGraceMs: 0 }) });
  await abi.ready();
  return { abi, logs };
}

/** OpenAI's error envelope: exactly `{error: {message, type, param, code}}`. */
export function expectEnvelope(json: any): void {
  expect(Object.keys(json ?? {})).toEqual(['error']);
  expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof json.error.message).toBe('string');
}

export interface EmbeddedApp {
  /** Base URL of the app's own server, e.g. http://127.0.0.1:41234 */
  url: string;
  fake: FakeOpenAI;
}

/** Registers the shared checks; `app()` returns the running app once the suite's beforeAll ran. */
export function embeddingChecks(app: () => EmbeddedApp): void {
  it('streams with the openai SDK (SSE) and answers non-stream requests', async () => {
    const client = new OpenAI({ apiKey: 'test-token-1', baseURL: `${app().url}/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create({ ...chat('hi'), stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null | undefined;
    let usage: unknown;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      finish ??= c.choices[0]?.finish_reason;
      if (c.usage) usage = c.usage;
    }
    expect(text).toBe('Hello, world!');
    expect(finish).toBe('stop');
    expect(usage).toMatchObject({ completion_tokens: 4 });
    const { data, response } = await client.chat.completions.create(chat('hi')).withResponse();
    expect(data.choices[0]!.message.content).toBe('Hello, world!');
    expect(response.headers.get('x-abi-backend')).toBe('a');
  });

  it('serves the WebSocket endpoint through the app server upgrade', async () => {
    const c = await WsClient.connect(`${app().url.replace('http', 'ws')}/api/stream/ws`, { headers: AUTH });
    c.send({ type: 'request', id: 'w1', prompt: 'hi', model: 'm' });
    const end = await c.next((m) => m.id === 'w1' && m.type === 'end');
    expect(end).toMatchObject({ finish_reason: 'stop', total_tokens: 4 });
    expect(c.messages.filter((m) => m.type === 'token').map((m) => m.content).join('')).toBe('Hello, world!');
    c.close();
    const refused = await WsClient.connect(`${app().url.replace('http', 'ws')}/api/stream/ws`).catch((e: { status?: number }) => e);
    expect((refused as { status?: number }).status).toBe(401);
  });

  it('keeps the OpenAI error envelope and status for abi errors', async () => {
    const url = `${app().url}/v1/chat/completions`;
    const noAuth = await sseRequest(url, { body: chat('hi') });
    expect(noAuth.status).toBe(401);
    expectEnvelope(noAuth.json);
    const nTwo = await sseRequest(url, { headers: AUTH, body: { ...chat('hi'), n: 2 } });
    expect(nTwo.status).toBe(400);
    expectEnvelope(nTwo.json);
    expect(nTwo.json.error.param).toBe('n');
    const unknown = await sseRequest(`${app().url}/v1/nothing-here`, { headers: AUTH });
    expect(unknown.status).toBe(404);
    expectEnvelope(unknown.json);
    expect(unknown.json.error.code).toBe('route_not_found');
    const sdk = new OpenAI({ apiKey: 'wrong-token', baseURL: `${app().url}/v1`, maxRetries: 0 });
    const err = await sdk.chat.completions.create(chat('hi')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('aborts the upstream request when the client disconnects mid-stream', async () => {
    const { fake, url } = app();
    const before = fake.requests.length;
    const client = new OpenAI({ apiKey: 'test-token-1', baseURL: `${url}/v1`, maxRetries: 0 });
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ ...chat('slow please'), stream: true }, { signal: controller.signal });
    let received = 0;
    for await (const c of stream) {
      if (c.choices[0]?.delta.content && ++received === 3) {
        controller.abort();
        break;
      }
    }
    const upstream = fake.requests[before]!;
    await upstream.closed;
    expect(upstream.aborted).toBe(true);
    expect(upstream.tokensSent).toBeLessThan(300);
  });
}

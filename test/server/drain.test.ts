/**
 * Graceful drain in-process: /health turns 503 "draining", new requests get 503, a stream in flight
 * finishes within shutdownGraceMs, and one that would run longer gets an error event and closes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSessionStore } from '../../lib/sessions/index.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { payloads, sseRequest } from '../support/clients.js';
import { startFromConfig, upstreamConfig } from './harness.js';

const AUTH = { authorization: 'Bearer test-token-1' };
const body = { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(tokenCount: number, delayMs: number, shutdownGraceMs: number) {
  const fake = await startFakeOpenAI({ scenario: { tokenCount, delayMs } });
  cleanups.push(() => fake.close());
  const t = await startFromConfig(upstreamConfig([fake.baseUrl], { server: { shutdownGraceMs } }), {
    sessions: createSessionStore({ detachedGraceMs: 0 }),
  });
  return { fake, t };
}

describe('drain', () => {
  it('lets a stream finish within the grace period while health says draining', async () => {
    const { t } = await setup(20, 20, 10_000);
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    const stream = sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body, agent: false, onEvent: () => void started() });
    await startedP;
    const phases: string[] = [];
    t.server.events.on('shutdown', (e) => phases.push(e.phase));
    const closing = t.server.close();
    expect(t.server.state).toBe('draining');
    const r = await stream;
    expect(payloads(r.events).at(-1)).toBe('[DONE]');
    await closing;
    expect(phases).toEqual(['draining', 'closed']);
  });

  it('ends a stream that outlives the grace period with an in-band error, never a silent cut', async () => {
    const { t } = await setup(1000, 20, 300);
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    const stream = sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body, onEvent: () => void started() });
    await startedP;
    const closing = t.server.close();
    const r = await stream;
    const last = payloads(r.events).at(-1);
    expect(last.error.code).toBe('server_shutdown');
    expect(payloads(r.events)).not.toContain('[DONE]');
    await closing;
  });

  it('answers /health 503 draining and new requests 503 while draining', async () => {
    const { t } = await setup(100, 20, 2000);
    const { Agent } = await import('node:http');
    // Keep-alive connections opened before the drain and reused during it (each answer then closes its connection).
    const agent = new Agent({ keepAlive: true });
    const agent2 = new Agent({ keepAlive: true });
    expect((await sseRequest(`${t.url}/health`, { agent })).status).toBe(200);
    expect((await sseRequest(`${t.url}/health`, { agent: agent2 })).status).toBe(200);
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    const stream = sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body, onEvent: () => void started() });
    await startedP;
    const closing = t.server.close();
    const health = await sseRequest(`${t.url}/health`, { agent });
    expect(health.status).toBe(503);
    expect(health.json.status).toBe('draining');
    expect(health.headers.connection).toBe('close');
    const late = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body, agent: agent2 });
    expect(late.status).toBe(503);
    expect(late.json.error.code).toBe('draining');
    // The listening socket is closed: a new connection is refused.
    await expect(sseRequest(`${t.url}/health`)).rejects.toThrow(/ECONNREFUSED/);
    await stream;
    await closing;
    agent.destroy();
    agent2.destroy();
  });
});

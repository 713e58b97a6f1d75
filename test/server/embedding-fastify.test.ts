/**
 * abi inside a Fastify 5 app, exactly as docs/embedding.md shows it: abi's routes registered in
 * their own plugin scope whose content-type parser leaves the body unread, each handing the raw
 * request to abi after `reply.hijack()`; the app's own routes (with Fastify's JSON parser) next to
 * them; the WebSocket endpoint on `fastify.server`'s upgrade.
 */
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AbiServer } from '../../lib/index.js';
import { sseRequest } from '../support/clients.js';
import type { FakeOpenAI } from '../support/fake-openai.js';
import { AUTH, createEmbeddedAbi, embeddingChecks, expectEnvelope, startUpstream, type EmbeddedApp } from './embedding-checks.js';

/** abi's routes in a scope of their own: its parser setting does not reach the app's routes. */
function abiRoutes(abi: AbiServer) {
  return async (scope: FastifyInstance): Promise<void> => {
    // abi reads the body itself (its limits, its errors): leave every content type unread here.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    const toAbi = (request: FastifyRequest, reply: FastifyReply): void => {
      reply.hijack(); // abi writes the response (SSE included) on the raw objects
      abi.handler(request.raw, reply.raw);
    };
    scope.all('/v1/*', toAbi);
    scope.all('/admin/*', toAbi);
    scope.all('/api/stream', toAbi);
    scope.get('/api/stream/ws', toAbi); // plain GETs get abi's 400; upgrades go to app.server's 'upgrade'
    scope.get('/health', toAbi);
    scope.get('/metrics', toAbi);
  };
}

describe('embedding in Fastify', () => {
  let fake: FakeOpenAI;
  let abi: AbiServer;
  let app: FastifyInstance;
  let running: EmbeddedApp;

  beforeAll(async () => {
    fake = await startUpstream();
    ({ abi } = await createEmbeddedAbi(fake));
    // The SDK's fetch keeps spare connections open; the test's teardown should not wait for them.
    app = Fastify({ forceCloseConnections: true });
    app.get('/app/hello', async () => 'hello from fastify');
    app.post('/app/echo', async (request) => ({ echoed: request.body }));
    await app.register(abiRoutes(abi));
    app.server.on('upgrade', abi.upgrade); // WebSocket at /api/stream/ws
    await app.listen({ port: 0, host: '127.0.0.1' });
    running = { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, fake };
  });
  afterAll(async () => {
    await abi.close(); // drains abi's streams first
    await app.close();
    await fake.close();
  });

  it("serves the app's own routes, with Fastify's JSON parser, next to abi", async () => {
    expect((await sseRequest(`${running.url}/app/hello`)).raw).toBe('hello from fastify');
    const echo = await sseRequest(`${running.url}/app/echo`, { body: { a: [1, 2] } });
    expect(echo.json).toEqual({ echoed: { a: [1, 2] } });
    const health = await sseRequest(`${running.url}/health`);
    expect(health.json.status).toBe('ok');
  });

  it('answers malformed JSON and an unsupported content type on abi routes with its own envelope', async () => {
    const url = `${running.url}/v1/chat/completions`;
    const bad = await sseRequest(url, { headers: AUTH, body: '{"model": "m", "messages": [' });
    expect(bad.status).toBe(400);
    expectEnvelope(bad.json);
    expect(bad.json.error.code).toBe('invalid_json');
    const text = await sseRequest(url, { headers: { ...AUTH, 'content-type': 'text/plain' }, body: 'hello' });
    expect(text.status).toBe(415);
    expectEnvelope(text.json);
    const plainGet = await sseRequest(`${running.url}/api/stream/ws`, { headers: AUTH });
    expect(plainGet.status).toBe(400);
    expect(plainGet.json.error.code).toBe('upgrade_required');
  });

  embeddingChecks(() => running);
});

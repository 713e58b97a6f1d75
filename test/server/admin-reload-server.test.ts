/**
 * POST /admin/reload and the `server` section, on a real listener started by `listen()` from a
 * config file: socket limits (headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs,
 * maxHeaderSize) apply to the running listener, wsMaxPayloadBytes to new WebSocket connections,
 * and a changed host/port is reported as `restart_required` (and logged) while the server keeps
 * serving where it is bound.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAbiServer, loadConfig, type AbiServer, type AbiServerConfig } from '../../lib/index.js';
import { rawExchange, rawStatus, sseRequest, WsClient } from '../support/clients.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { spawnAbiServe } from '../support/spawn-abi.js';
import { captureLogger } from './harness.js';

const AUTH = { authorization: 'Bearer admin-token' };
const BIG_HEADER = `x-padding: ${'p'.repeat(8000)}\r\n`;

describe('POST /admin/reload with a changed server section', () => {
  let fake: FakeOpenAI;
  let dir: string;
  let abi: AbiServer | undefined;

  beforeAll(async () => {
    fake = await startFakeOpenAI({});
    dir = mkdtempSync(join(tmpdir(), 'abi-reload-server-'));
  });
  afterEach(async () => {
    await abi?.close();
    abi = undefined;
  });
  afterAll(() => fake.close());

  const configFile = (name: string) => {
    const path = join(dir, name);
    const write = (server: Record<string, unknown>): void =>
      writeFileSync(
        path,
        JSON.stringify({
          server: { host: '127.0.0.1', port: 0, ...server },
          auth: { tokens: ['admin-token'], apiKeysFile: '/nonexistent/k.json' },
          backends: { a: { type: 'openai', baseUrl: fake.baseUrl } },
        }),
      );
    return { path, write };
  };

  /** Starts abi from the file with `listen()` taking host and port from it, as `abi serve` does. */
  async function start(path: string) {
    const { logger, logs } = captureLogger();
    const server = createAbiServer(loadConfig(path) as unknown as AbiServerConfig, { configPath: path, logger });
    abi = server;
    const { url, port } = await server.listen();
    const reload = async () => {
      const r = await sseRequest(`${url}/admin/reload`, { method: 'POST', headers: AUTH });
      expect(r.status).toBe(200);
      return r.json;
    };
    return { url, port, logs, reload };
  }

  it('applies the socket limits to the running listener', async () => {
    const file = configFile('sockets.json');
    file.write({});
    const { port, reload } = await start(file.path);
    const bigHeaders = `GET /health HTTP/1.1\r\nhost: x\r\n${BIG_HEADER}connection: close\r\n\r\n`;
    expect(rawStatus((await rawExchange(port, [bigHeaders])).text)).toBe(200);

    file.write({ headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 200, maxHeaderSize: 4096 });
    expect(await reload()).toEqual({ status: 'reloaded', restart_required: [] });

    // maxHeaderSize: the same request is now too large.
    expect(rawStatus((await rawExchange(port, [bigHeaders])).text)).toBe(431);
    // headersTimeoutMs: headers that never finish get 408 (the old 10 s would outlast this exchange).
    const loris = await rawExchange(port, ['GET /health HTTP/1.1\r\n', 'host: x\r\n'], { gapMs: 50, timeoutMs: 5000 });
    expect(loris.timedOut).toBe(false);
    expect(rawStatus(loris.text)).toBe(408);
    // requestTimeoutMs: a body that never arrives gets 408 (the old 60 s would outlast this exchange).
    const slowBody = await rawExchange(
      port,
      ['POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer admin-token\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{'],
      { timeoutMs: 5000 },
    );
    expect(slowBody.timedOut).toBe(false);
    expect(rawStatus(slowBody.text)).toBe(408);
    // keepAliveTimeoutMs: an idle keep-alive connection is closed (the old 5 s would outlast this exchange).
    const idle = await rawExchange(port, ['GET /health HTTP/1.1\r\nhost: x\r\n\r\n'], { timeoutMs: 3000 });
    expect(rawStatus(idle.text)).toBe(200);
    expect(idle.timedOut).toBe(false);
  });

  it('applies wsMaxPayloadBytes to new WebSocket connections; open ones keep theirs', async () => {
    const file = configFile('ws.json');
    file.write({});
    const { url, reload } = await start(file.path);
    const wsUrl = `${url.replace('http', 'ws')}/api/stream/ws`;
    const before = await WsClient.connect(wsUrl, { headers: AUTH });

    file.write({ wsMaxPayloadBytes: 4096 });
    expect(await reload()).toEqual({ status: 'reloaded', restart_required: [] });

    const prompt = 'x'.repeat(10_000);
    const after = await WsClient.connect(wsUrl, { headers: AUTH });
    after.send({ type: 'request', id: 'too-big', prompt, model: 'm' });
    expect((await after.closed).code).toBe(1009);
    before.send({ type: 'request', id: 'old-limit', prompt, model: 'm' });
    expect((await before.next((m) => m.id === 'old-limit' && m.type === 'end')).finish_reason).toBe('stop');
    before.close();
  });

  it('reports a changed host or port as restart_required, logs it, and keeps serving where it is bound', async () => {
    const file = configFile('address.json');
    file.write({});
    const { url, port, logs, reload } = await start(file.path);
    const events: unknown[] = [];
    abi!.events.on('reload', (e) => events.push(e));

    file.write({ port: port === 65535 ? 65534 : port + 1 });
    expect(await reload()).toEqual({ status: 'reloaded', restart_required: ['server.port'] });
    file.write({ host: '0.0.0.0', port: 8081 });
    expect(await reload()).toEqual({ status: 'reloaded', restart_required: ['server.host', 'server.port'] });
    expect(events.at(-1)).toEqual({ ok: true, restartRequired: ['server.host', 'server.port'] });
    const warned = logs.filter((l) => l.msg?.includes('only after a restart'));
    expect(warned.map((l) => l.restart_required)).toEqual([['server.port'], ['server.host', 'server.port']]);
    expect(warned[0]).toMatchObject({ level: 40, listening: url });

    expect((await sseRequest(`${url}/health`)).json.status).toBe('ok');
    // Back to the values it was started with: nothing is pending any more.
    file.write({});
    expect(await reload()).toEqual({ status: 'reloaded', restart_required: [] });
  });

  it('embedded (no listen()), the application owns the socket: nothing is reported', async () => {
    const file = configFile('embedded.json');
    file.write({});
    const { logger } = captureLogger();
    abi = createAbiServer(loadConfig(file.path) as unknown as AbiServerConfig, { configPath: file.path, logger });
    await abi.ready();
    file.write({ port: 9999, maxHeaderSize: 4096 });
    expect(await abi.reload()).toEqual({ restartRequired: [] });
  });

  it("abi serve (needs npm run build): the file's port change is reported; under --port it is not", async () => {
    const file = configFile('serve.json');
    file.write({});
    const env = { ABI_KEYS_FILE: '/nonexistent/abi-keys.json' };
    const fromFile = await spawnAbiServe(['--config', file.path], { env });
    const overridden = await spawnAbiServe(['--config', file.path, '--port', '0'], { env });
    try {
      file.write({ port: 8089, keepAliveTimeoutMs: 1000 });
      const reload = (url: string) => sseRequest(`${url}/admin/reload`, { method: 'POST', headers: AUTH });
      expect((await reload(fromFile.url)).json).toEqual({ status: 'reloaded', restart_required: ['server.port'] });
      // The warning is written before the answer, but the two pipes are read in either order.
      while (!fromFile.stderr().includes('"restart_required":["server.port"]')) await new Promise((r) => setTimeout(r, 20));
      expect((await reload(overridden.url)).json).toEqual({ status: 'reloaded', restart_required: [] });
      expect((await sseRequest(`${fromFile.url}/health`)).json.status).toBe('ok');
    } finally {
      fromFile.kill('SIGTERM');
      overridden.kill('SIGTERM');
      await Promise.all([fromFile.exited, overridden.exited]);
    }
  });
});

/**
 * `abi serve` as a real process (needs `npm run build`): the listening line, bad config exit 2,
 * --model not available yet, no config → 503 for completions, POST /admin/reload, and a graceful
 * drain on SIGTERM with a stream in flight.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { payloads, sseRequest } from '../support/clients.js';
import { runAbi, spawnAbiServe } from '../support/spawn-abi.js';

const AUTH = { authorization: 'Bearer cli-token' };
const chat = { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] };
const env = { ABI_KEYS_FILE: '/nonexistent/abi-keys.json' };

describe('abi serve', () => {
  let fake: FakeOpenAI;
  let dir: string;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ scenario: { tokenCount: 40, delayMs: 25 } });
    dir = mkdtempSync(join(tmpdir(), 'abi-serve-'));
  });
  afterAll(() => fake.close());

  const writeConfig = (name: string, config: unknown): string => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(config));
    return path;
  };

  it('exits 2 with one stderr line naming the bad key', async () => {
    const path = writeConfig('bad.json', { server: { port: 'eighty' } });
    const r = await runAbi(['serve', '--config', path], { env });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('server.port');
    const unknown = await runAbi(['serve', '--config', writeConfig('unknown.json', { sever: {} })], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('sever');
  });

  it('refuses a missing --model file, and --model together with --config, with exit 2', async () => {
    const missing = await runAbi(['serve', '--model', join(dir, 'nope.gguf')], { env, cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.gguf');
    const both = await runAbi(['serve', '--model', join(dir, 'nope.gguf'), '--config', writeConfig('x.json', {})], { env, cwd: dir });
    expect(both.code).toBe(2);
  });

  it('with no config file prints exactly the listening line and serves the built-in demo model', async () => {
    const abi = await spawnAbiServe(['--port', '0'], { env, cwd: dir, readyTimeoutMs: 60_000 });
    try {
      expect(abi.stdout()).toBe(`abi listening on ${abi.url}\n`);
      expect(abi.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await sseRequest(`${abi.url}/health`);
      expect(health.json.status).toBe('ok');
      expect(health.json.model_loaded).toBe(true);
      const models = await sseRequest(`${abi.url}/v1/models`);
      expect(models.json.data.map((m: { id: string }) => m.id)).toContain('abi-demo');
    } finally {
      abi.kill('SIGTERM');
      expect((await abi.exited).code).toBe(0);
    }
  });

  it('drains on SIGTERM: the stream in flight completes, then exit 0', async () => {
    const path = writeConfig('good.json', { auth: { tokens: ['cli-token'] }, backends: { up: { type: 'openai', baseUrl: fake.baseUrl } } });
    const abi = await spawnAbiServe(['--config', path, '--port', '0', '--heartbeat', '1000'], { env });
    let signalled = false;
    const r = await sseRequest(`${abi.url}/v1/chat/completions`, {
      headers: AUTH,
      body: chat,
      onEvent: () => {
        if (!signalled) {
          signalled = true;
          abi.kill('SIGTERM');
        }
      },
    });
    expect(signalled).toBe(true);
    expect(payloads(r.events).at(-1)).toBe('[DONE]');
    expect(r.events.filter((e) => e.data !== '[DONE]')).toHaveLength(42);
    const exit = await abi.exited;
    expect(exit.code).toBe(0);
    expect(abi.stdout().trim().split('\n')).toHaveLength(1);
    expect(abi.stderr()).not.toContain('cli-token');
  });

  it('POST /admin/reload swaps in a valid config and refuses an invalid one', async () => {
    const path = writeConfig('reload.json', { auth: { tokens: ['cli-token'] }, backends: { up: { type: 'openai', baseUrl: fake.baseUrl } } });
    const abi = await spawnAbiServe(['--config', path, '--port', '0'], { env });
    try {
      const health1 = await sseRequest(`${abi.url}/health`);
      expect(Object.keys(health1.json.backends)).toEqual(['up']);
      writeConfig('reload.json', {
        auth: { tokens: ['cli-token'] },
        backends: { up: { type: 'openai', baseUrl: fake.baseUrl }, second: { type: 'openai', baseUrl: fake.baseUrl } },
      });
      const ok = await sseRequest(`${abi.url}/admin/reload`, { method: 'POST', headers: AUTH });
      expect(ok.status).toBe(200);
      expect(Object.keys((await sseRequest(`${abi.url}/health`)).json.backends)).toEqual(['up', 'second']);

      writeConfig('reload.json', { auth: { tokens: ['cli-token'] }, backends: { up: { type: 'nope' } } });
      const refused = await sseRequest(`${abi.url}/admin/reload`, { method: 'POST', headers: AUTH });
      expect(refused.status).toBe(400);
      expect(refused.json.error.param).toBe('backends.up.type');
      expect(Object.keys((await sseRequest(`${abi.url}/health`)).json.backends)).toEqual(['up', 'second']);
      const stillServing = await sseRequest(`${abi.url}/v1/chat/completions`, { headers: AUTH, body: { ...chat, stream: false } });
      expect(stillServing.status).toBe(200);

      const noAuth = await sseRequest(`${abi.url}/admin/reload`, { method: 'POST' });
      expect(noAuth.status).toBe(401);
    } finally {
      abi.kill('SIGTERM');
      await abi.exited;
    }
  });
});

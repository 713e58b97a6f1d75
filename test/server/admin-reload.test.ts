/** POST /admin/reload with `{backend, modelPath}`: per-backend model reload (in-process; the config-file path is in serve-cli). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../lib/backends/types.js';
import { sseRequest } from '../support/clients.js';
import { startTestServer, type TestServer } from './harness.js';

const AUTH = { authorization: 'Bearer admin-token' };

class SwappableBackend implements Backend {
  readonly type = 'swappable';
  readonly continuation = false;
  model = 'first';
  constructor(readonly name: string) {}
  async *stream() {
    yield { type: 'start' as const, model: this.model };
    yield { type: 'content' as const, text: this.model };
    yield { type: 'finish' as const, reason: 'stop' as const };
  }
  async reloadModel(modelPath: string) {
    if (modelPath.includes('broken')) throw Object.assign(new Error('cannot load broken.gguf; the previous one keeps serving'), { code: 'ABI_ERR_MODEL_RELOAD' });
    this.model = modelPath.replace(/\.gguf$/, '');
    return { model: this.model, path: modelPath, drained: true };
  }
  async close() {}
}

describe('POST /admin/reload with a model', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(
      { auth: { tokens: ['admin-token'], apiKeysFile: '/nonexistent/k.json' }, backends: { swap: { type: 'swappable' }, plain: { type: 'plain' } } },
      {
        createBackend: (name) =>
          name === 'swap'
            ? new SwappableBackend(name)
            : { name, type: 'plain', continuation: false, stream: new SwappableBackend(name).stream, close: async () => {} },
      },
    );
  });
  afterAll(() => t.close());

  it('swaps the model of a reloadable backend and reports it', async () => {
    const r = await sseRequest(`${t.url}/admin/reload`, { method: 'POST', headers: AUTH, body: { backend: 'swap', modelPath: 'second.gguf' } });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: 'reloaded', backend: 'swap', model: 'second', path: 'second.gguf', drained: true });
    const c = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: { model: 'm', backend: 'swap', messages: [{ role: 'user', content: 'x' }] } });
    expect(c.json.choices[0].message.content).toBe('second');
  });

  it('404 for an unknown backend, 400 for one that cannot reload or a model that fails to load', async () => {
    const unknown = await sseRequest(`${t.url}/admin/reload`, { method: 'POST', headers: AUTH, body: { backend: 'nope', modelPath: 'a.gguf' } });
    expect(unknown.status).toBe(404);
    const plain = await sseRequest(`${t.url}/admin/reload`, { method: 'POST', headers: AUTH, body: { backend: 'plain', modelPath: 'a.gguf' } });
    expect(plain.status).toBe(400);
    expect(plain.json.error.code).toBe('not_reloadable');
    const broken = await sseRequest(`${t.url}/admin/reload`, { method: 'POST', headers: AUTH, body: { backend: 'swap', modelPath: 'broken.gguf' } });
    expect(broken.status).toBe(400);
    expect(broken.json.error.code).toBe('model_reload_failed');
    const noConfigFile = await sseRequest(`${t.url}/admin/reload`, { method: 'POST', headers: AUTH });
    expect(noConfigFile.status).toBe(400);
    expect(noConfigFile.json.error.code).toBe('no_config_file');
  });
});

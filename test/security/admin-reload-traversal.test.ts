/**
 * Path traversal through the real server's model reload (`POST /admin/reload {backend, modelPath}`):
 * every path that leaves the configured models directory is refused with a 400/404 envelope, the
 * message never names what lies outside, and the model that was serving keeps serving.
 */
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFromConfig, type TestServer } from '../server/harness.js';

const TOKEN = 'reload-traversal-operator';
const MODEL = '/work/shared/models/stories260K.gguf';
let abi: TestServer;
let base: string;
let modelsDir: string;

async function reload(modelPath: string): Promise<Response> {
  return fetch(`${abi.url}/admin/reload`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ backend: 'local', modelPath }),
  });
}

async function stillServing(): Promise<void> {
  const res = await fetch(`${abi.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'stories', max_tokens: 4, temperature: 0, messages: [{ role: 'user', content: 'Once upon a time' }] }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { choices: { message: { content: string } }[] };
  expect(typeof body.choices[0]!.message.content).toBe('string');
}

beforeAll(async () => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'abi-reload-')));
  modelsDir = join(base, 'models');
  mkdirSync(modelsDir);
  copyFileSync(MODEL, join(modelsDir, 'stories.gguf'));
  copyFileSync(MODEL, join(base, 'outside.gguf'));
  writeFileSync(join(base, 'secret.txt'), 'not a model');
  symlinkSync(join(base, 'outside.gguf'), join(modelsDir, 'escape.gguf'));
  abi = await startFromConfig({
    auth: { tokens: [TOKEN], apiKeysFile: join(base, 'keys.json') },
    backends: { local: { type: 'local', modelPath: 'stories.gguf', modelName: 'stories', modelsDir, drainTimeoutMs: 1000 } },
  });
}, 60_000);

afterAll(async () => {
  await abi?.close();
});

describe('POST /admin/reload {backend, modelPath} path confinement', () => {
  it.each([
    ['../outside.gguf', 400, 'path_traversal'],
    ['../../../../etc/passwd', 400, 'path_traversal'],
    ['/etc/passwd', 400, 'path_outside_root'],
    ['escape.gguf', 400, 'path_outside_root'],
    ['nope.gguf', 404, 'path_not_found'],
  ])('%j → %i %s, and the old model keeps serving', async (modelPath, status, code) => {
    const res = await reload(modelPath);
    expect(res.status).toBe(status);
    const { error } = (await res.json()) as { error: { message: string; code: string; param: string } };
    expect(error.code).toBe(code);
    expect(error.message).not.toContain(base);
    expect(error.message).not.toContain('root:');
    await stillServing();
  });

  it('an absolute path to a real model outside the models directory is refused', async () => {
    const res = await reload(join(base, 'outside.gguf'));
    expect(res.status).toBe(400);
    await res.arrayBuffer();
    await stillServing();
  });

  it('a path inside the models directory reloads', async () => {
    const res = await reload('stories.gguf');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'reloaded', backend: 'local' });
    await stillServing();
  });
});

import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TEXT } from '../../lib/models/demo-model.js';
import { spawnAbiServe, type SpawnedAbi } from '../support/spawn-abi.js';
import { storiesPath, storiesSkipReason } from './support/model-path.js';

const skip = storiesSkipReason();
if (skip) console.warn(`skipping abi serve --model tests: ${skip}`);

describe('abi serve with no model and no config serves the built-in demo model', () => {
  let dir: string;
  let abi: SpawnedAbi;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'abi-demo-'));
    abi = await spawnAbiServe(['--port', '0', '--threads', '1', '--auth-token', 'engine-test-token'], { cwd: dir, env: { ABI_MODELS_DIR: join(dir, 'models'), HOME: dir } });
  });
  afterAll(async () => {
    abi?.kill('SIGTERM');
    await abi?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  it('names the demo model in /v1/models and on start-up, and streams its sentence', async () => {
    const models = (await (await fetch(`${abi.url}/v1/models`, { headers: { authorization: 'Bearer engine-test-token' } })).json()) as { data: Array<{ id: string; owned_by: string }> };
    expect(models.data).toEqual([expect.objectContaining({ id: 'abi-demo', owned_by: 'demo' })]);
    expect(abi.stderr()).toMatch(/serving the built-in demo model 'abi-demo'.*abi serve --model/);
    const client = new OpenAI({ baseURL: `${abi.url}/v1`, apiKey: 'engine-test-token' });
    const stream = await client.chat.completions.create({ model: 'abi-demo', messages: [{ role: 'user', content: 'hello' }], stream: true, temperature: 0 });
    let text = '';
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(DEMO_TEXT);
    expect(finish).toBe('stop');
    const health = (await (await fetch(`${abi.url}/health`)).json()) as { backends: Record<string, { model_loaded: boolean; demo: boolean }> };
    expect(health.backends.demo).toMatchObject({ model_loaded: true, demo: true });
  });
});

describe.skipIf(skip)('abi serve --model PATH.gguf', () => {
  let dir: string;
  let abi: SpawnedAbi;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'abi-model-'));
    abi = await spawnAbiServe(['--port', '0', '--threads', '1', '--auth-token', 'engine-test-token', '--context-length', '256', '--model', storiesPath], { cwd: dir, env: { HOME: dir } });
  });
  afterAll(async () => {
    abi?.kill('SIGTERM');
    await abi?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the model, reports it loaded and completes with usage', async () => {
    const models = (await (await fetch(`${abi.url}/v1/models`, { headers: { authorization: 'Bearer engine-test-token' } })).json()) as { data: Array<{ id: string }> };
    expect(models.data.map((m) => m.id)).toEqual(['stories260K']);
    const health = (await (await fetch(`${abi.url}/health`)).json()) as { backends: Record<string, { model_loaded: boolean; context_length: number }> };
    expect(health.backends.local).toMatchObject({ model_loaded: true, context_length: 256 });
    const client = new OpenAI({ baseURL: `${abi.url}/v1`, apiKey: 'engine-test-token' });
    const done = await client.chat.completions.create({ model: 'stories260K', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 16, temperature: 0 });
    expect(done.choices[0]!.finish_reason).toBe('length');
    expect(done.usage).toMatchObject({ completion_tokens: 16 });
    expect(done.choices[0]!.message.content!.length).toBeGreaterThan(10);
    const again = await client.chat.completions.create({ model: 'stories260K', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 16, temperature: 0 });
    expect(again.choices[0]!.message.content).toBe(done.choices[0]!.message.content);
  });

  it('answers a prompt beyond the context with a 400 naming the limit', async () => {
    const res = await fetch(`${abi.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer engine-test-token' },
      body: JSON.stringify({ model: 'stories260K', messages: [{ role: 'user', content: 'Once upon a time '.repeat(100) }], max_tokens: 4 }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('context_length_exceeded');
    expect(body.error.message).toMatch(/context holds 256/);
  });
});

describe.skipIf(skip)('POST /admin/reload swaps the local model', () => {
  let dir: string;
  let abi: SpawnedAbi;
  const auth = { authorization: 'Bearer engine-test-token', 'content-type': 'application/json' };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'abi-reload-'));
    copyFileSync(storiesPath, join(dir, 'first.gguf'));
    copyFileSync(storiesPath, join(dir, 'second.gguf'));
    writeFileSync(join(dir, 'broken.gguf'), 'GGUF');
    abi = await spawnAbiServe(['--port', '0', '--threads', '1', '--auth-token', 'engine-test-token', '--context-length', '256', '--model', join(dir, 'first.gguf')], {
      cwd: dir,
      env: { HOME: dir },
    });
  });
  afterAll(async () => {
    abi?.kill('SIGTERM');
    await abi?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  const reload = (modelPath: string): Promise<Response> =>
    fetch(`${abi.url}/admin/reload`, { method: 'POST', headers: auth, body: JSON.stringify({ backend: 'local', modelPath }) });
  const modelIds = async (): Promise<string[]> =>
    ((await (await fetch(`${abi.url}/v1/models`, { headers: auth })).json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);

  it('loads the new file, keeps the old one on failure and confines paths to the model directory', async () => {
    expect(await modelIds()).toEqual(['first']);
    const ok = await reload('second.gguf');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ status: 'reloaded', backend: 'local', model: 'second', drained: true });
    expect(await modelIds()).toEqual(['second']);

    const bad = await reload('broken.gguf');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/previous one keeps serving.*broken\.gguf/);
    const outside = await reload('/etc/passwd');
    expect(outside.status).toBeGreaterThanOrEqual(400);
    expect(outside.status).toBeLessThan(500);
    expect(await modelIds()).toEqual(['second']);

    const health = (await (await fetch(`${abi.url}/health`, { headers: auth })).json()) as { model_loaded: boolean };
    expect(health.model_loaded).toBe(true);
    const done = await fetch(`${abi.url}/v1/chat/completions`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ model: 'second', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 8, temperature: 0 }),
    });
    expect(done.status).toBe(200);
    expect(((await done.json()) as { model: string }).model).toBe('second');
  });
});

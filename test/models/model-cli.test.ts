/** `abi model …` end to end: the built CLI (node bin/abi.js) against a local HTTP server. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meta } from '../../lib/models/gguf-writer.js';
import { writeSyntheticLlama } from '../../lib/models/synthetic-model.js';
import { spmVocab } from '../../lib/models/synthetic-vocab.js';
import { repoRoot } from './oracle.js';

let server: Server;
let base: string;
let work: string;
let modelsDir: string;
let cutOnce = true;

function abi(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'abi.js'), ...args], {
      env: { ...process.env, ABI_MODELS_DIR: modelsDir, HF_ENDPOINT: base },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'abi-model-cli-'));
  modelsDir = join(work, 'models');
  const src = join(work, 'src.gguf');
  writeSyntheticLlama(src, {
    nEmbd: 256,
    nLayer: 2,
    nHead: 4,
    nHeadKv: 2,
    nFf: 512,
    type: 'q8_0',
    contextLength: 1024,
    extraMetadata: [['tokenizer.chat_template', meta.str("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'}}{% endfor %}")]],
  });
  const model = readFileSync(src);
  server = createServer((req, res) => {
    if (req.url === '/acme/tiny/resolve/main/tiny-q8_0.gguf') {
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (m) {
        const start = Number(m[1]);
        res.writeHead(206, { 'content-range': `bytes ${start}-${model.length - 1}/${model.length}`, 'content-length': model.length - start });
        res.end(model.subarray(start));
        return;
      }
      res.writeHead(200, { 'content-length': model.length });
      if (cutOnce) {
        cutOnce = false;
        res.write(model.subarray(0, 4096), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      res.end(model);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(work, { recursive: true, force: true });
});

describe('abi model', () => {
  it('pull (interrupted, then resumed), list, info, path, rm', async () => {
    const cut = await abi(['model', 'pull', 'acme/tiny/tiny-q8_0.gguf']);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/interrupted after .*run the same command again to resume/);

    const pulled = await abi(['model', 'pull', 'acme/tiny/tiny-q8_0.gguf']);
    expect(pulled.stderr).toContain('resuming acme/tiny/tiny-q8_0.gguf at 4.1 KB');
    expect(pulled.stderr).toMatch(/pulled acme\/tiny\/tiny-q8_0\.gguf .* \(not verified: no known checksum\)/);
    expect(pulled.code).toBe(0);
    const path = pulled.stdout.trim();
    expect(path).toBe(join(modelsDir, 'acme', 'tiny', 'tiny-q8_0.gguf'));

    const list = await abi(['model', 'list']);
    expect(list.stdout).toMatch(/^acme\/tiny\/tiny-q8_0\.gguf\t[\d.]+ (KB|MB)\n$/);

    const info = await abi(['model', 'info', 'tiny-q8_0.gguf']);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/architecture\s+llama/);
    expect(info.stdout).toMatch(/quantization\s+Q8_0 \(/);
    expect(info.stdout).toMatch(/context length\s+1024/);
    expect(info.stdout).toMatch(/heads \/ kv heads\s+4 \/ 2/);
    expect(info.stdout).toMatch(/chat template\s+chatml/);
    const json = JSON.parse((await abi(['model', 'info', '--json', 'acme/tiny/tiny-q8_0.gguf'])).stdout) as { parameters: number; architecture: string };
    const nVocab = spmVocab().tokens.length;
    const perLayer = 2 * 256 + 256 * 256 * 2 + 256 * 128 * 2 + 3 * 256 * 512; // norms, q/o, k/v (GQA), gate/up/down
    expect(json.architecture).toBe('llama');
    expect(json.parameters).toBe(2 * nVocab * 256 + 256 + 2 * perLayer);

    expect((await abi(['model', 'path', 'tiny-q8_0.gguf'])).stdout.trim()).toBe(path);
    expect((await abi(['model', 'path'])).stdout.trim()).toBe(modelsDir);
    const rm = await abi(['model', 'rm', 'acme/tiny/tiny-q8_0.gguf']);
    expect(rm.stdout.trim()).toBe(`removed ${path}`);
    const gone = await abi(['model', 'info', 'tiny-q8_0.gguf']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/no model 'tiny-q8_0.gguf'/);
  });

  it('a bad source is a one-line error, not a stack trace', async () => {
    const r = await abi(['model', 'pull', 'not-a-source']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("abi: expected <owner>/<repo>/<file.gguf> or an http(s) URL, got 'not-a-source'");
  });
});

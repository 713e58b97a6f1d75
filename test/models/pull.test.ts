/**
 * `abi model pull` against a real HTTP server on 127.0.0.1 speaking Hugging Face's shapes (302 from
 * /resolve/main with x-linked-etag, Range → 206), including a transfer cut mid-body that resumes.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ModelIntegrityError, ModelPullError } from '../../lib/errors.js';
import { listModels, removeModel, resolveModel } from '../../lib/models/cache.js';
import { ProgressReporter } from '../../lib/models/progress.js';
import { pullModel, resolvePullSource, sha256FromHeaders } from '../../lib/models/pull.js';
import { writeSyntheticLlama } from '../../lib/models/synthetic-model.js';

interface Behaviour {
  /** Cut the socket after this many body bytes on the next full (non-range) response. */
  cutAfter?: number;
  /** Ignore Range headers (always 200 with the whole file). */
  ignoreRange?: boolean;
  /** Serve this instead of the model. */
  body?: Buffer;
  /** Advertised sha256 (x-linked-etag); default the real one. */
  etag?: string | null;
  /** Wait this long before answering the file request. */
  delayMs?: number;
}

let server: Server;
let base: string;
let model: Buffer;
let modelSha: string;
let behaviour: Behaviour = {};
const requests: Array<{ url: string; range?: string }> = [];
let work: string;

function serveFile(req: IncomingMessage, res: ServerResponse): void {
  const body = behaviour.body ?? model;
  const range = req.headers.range;
  const m = range && !behaviour.ignoreRange ? /^bytes=(\d+)-$/.exec(range) : null;
  if (m) {
    const start = Number(m[1]);
    if (start >= body.length) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` });
      res.end();
      return;
    }
    res.writeHead(206, { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'content-length': body.length - start });
    res.end(body.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
  if (behaviour.cutAfter !== undefined) {
    const cut = behaviour.cutAfter;
    behaviour.cutAfter = undefined;
    res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 50));
    return;
  }
  res.end(body);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'abi-pull-'));
  const src = join(work, 'src.gguf');
  writeSyntheticLlama(src, { nEmbd: 64, nLayer: 1, nHead: 2, nFf: 128 });
  model = readFileSync(src);
  modelSha = createHash('sha256').update(model).digest('hex');
  server = createServer((req, res) => {
    requests.push({ url: req.url ?? '', ...(req.headers.range ? { range: req.headers.range } : {}) });
    const url = req.url ?? '';
    if (url.startsWith('/acme/tiny/resolve/main/')) {
      // Hugging Face answers /resolve/ with a redirect to its CDN carrying the LFS sha256.
      const etag = behaviour.etag === undefined ? modelSha : behaviour.etag;
      res.writeHead(302, { location: `/cdn/${url.split('/').pop()}`, ...(etag ? { 'x-linked-etag': `"${etag}"` } : {}) });
      res.end();
    } else if (url.startsWith('/cdn/') || url.startsWith('/direct/')) {
      if (behaviour.delayMs) setTimeout(() => serveFile(req, res), behaviour.delayMs);
      else serveFile(req, res);
    } else {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(work, { recursive: true, force: true });
});

let dir: string;
const quiet = { stream: new PassThrough() };
beforeEach(() => {
  dir = mkdtempSync(join(work, 'models-'));
  behaviour = {};
  requests.length = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const env = (): NodeJS.ProcessEnv => ({ HF_ENDPOINT: base });

describe('pull sources', () => {
  it('resolves the Hugging Face shorthand and full URLs, rejecting anything else', () => {
    expect(resolvePullSource('TheBloke/TinyLlama-GGUF/tinyllama.Q4_K_M.gguf', {})).toEqual({
      url: 'https://huggingface.co/TheBloke/TinyLlama-GGUF/resolve/main/tinyllama.Q4_K_M.gguf',
      name: 'TheBloke/TinyLlama-GGUF/tinyllama.Q4_K_M.gguf',
    });
    expect(resolvePullSource('a/b/c.gguf', { HF_ENDPOINT: 'http://127.0.0.1:9/' }).url).toBe('http://127.0.0.1:9/a/b/resolve/main/c.gguf');
    expect(resolvePullSource('https://example.com/x/m.gguf?download=1', {}).name).toBe('urls/example.com/m.gguf');
    for (const bad of ['a/b', 'a/../c.gguf', 'a/b/c.bin', '../../etc/passwd.gguf', 'https://example.com/x/']) {
      expect(() => resolvePullSource(bad, {}), bad).toThrow(ModelPullError);
    }
  });

  it('reads a sha256 from x-linked-etag or etag only when it is one', () => {
    expect(sha256FromHeaders(new Headers({ 'x-linked-etag': `"${'a'.repeat(64)}"` }))).toBe('a'.repeat(64));
    expect(sha256FromHeaders(new Headers({ etag: `W/"${'B'.repeat(64)}"` }))).toBe('b'.repeat(64));
    expect(sha256FromHeaders(new Headers({ etag: '"abc123"' }))).toBeUndefined();
  });
});

describe('pullModel', () => {
  it('downloads through the redirect, verifies the sha256 from x-linked-etag and caches the file', async () => {
    const r = await pullModel('acme/tiny/tiny.gguf', { dir, env: env(), progress: quiet });
    expect(r.path).toBe(join(dir, 'acme', 'tiny', 'tiny.gguf'));
    expect(readFileSync(r.path).equals(model)).toBe(true);
    expect(r).toMatchObject({ sha256: modelSha, verified: true, resumedFrom: 0, cached: false, bytes: model.length });
    expect(listModels(dir).map((m) => m.name)).toEqual(['acme/tiny/tiny.gguf']);
    expect(resolveModel('tiny.gguf', dir)).toBe(r.path);
    const again = await pullModel('acme/tiny/tiny.gguf', { dir, env: env(), progress: quiet });
    expect(again.cached).toBe(true);
    expect(requests.filter((q) => q.url.startsWith('/cdn/'))).toHaveLength(1);
  });

  it('resumes an interrupted download with a Range request and verifies the whole file', async () => {
    const cut = Math.floor(model.length / 3);
    behaviour.cutAfter = cut;
    const first = pullModel('acme/tiny/tiny.gguf', { dir, env: env(), progress: quiet });
    await expect(first).rejects.toThrow(ModelPullError);
    await expect(first).rejects.toThrow(/run the same command again to resume/);
    const part = join(dir, 'acme', 'tiny', 'tiny.gguf.part');
    expect(statSync(part).size).toBe(cut);
    expect(existsSync(join(dir, 'acme', 'tiny', 'tiny.gguf'))).toBe(false);

    const second = await pullModel('acme/tiny/tiny.gguf', { dir, env: env(), progress: quiet });
    expect(requests.at(-1)).toEqual({ url: '/cdn/tiny.gguf', range: `bytes=${cut}-` });
    expect(second).toMatchObject({ resumedFrom: cut, verified: true, sha256: modelSha });
    expect(readFileSync(second.path).equals(model)).toBe(true);
    expect(existsSync(part)).toBe(false);
  });

  it('starts over when the server ignores Range', async () => {
    behaviour.cutAfter = 1000;
    await expect(pullModel(`${base}/direct/m.gguf`, { dir, env: env(), progress: quiet })).rejects.toThrow(ModelPullError);
    behaviour.ignoreRange = true;
    const r = await pullModel(`${base}/direct/m.gguf`, { dir, env: env(), sha256: modelSha, progress: quiet });
    expect(requests.at(-1)?.range).toBe('bytes=1000-');
    expect(r.path).toBe(join(dir, 'urls', `127.0.0.1_${new URL(base).port}`, 'm.gguf'));
    expect(readFileSync(r.path).equals(model)).toBe(true);
    expect(r.verified).toBe(true);
  });

  it('treats a complete .part (416 on resume) as done', async () => {
    mkdirSync(join(dir, 'acme', 'tiny'), { recursive: true });
    writeFileSync(join(dir, 'acme', 'tiny', 'tiny.gguf.part'), model);
    const r = await pullModel('acme/tiny/tiny.gguf', { dir, env: env(), progress: quiet });
    expect(requests.at(-1)).toEqual({ url: '/cdn/tiny.gguf', range: `bytes=${model.length}-` });
    expect(r).toMatchObject({ resumedFrom: model.length, verified: true });
    expect(readFileSync(r.path).equals(model)).toBe(true);
  });

  it('deletes the download and fails on a sha256 mismatch', async () => {
    const wrong = 'f'.repeat(64);
    const p = pullModel('acme/tiny/tiny.gguf', { dir, env: env(), sha256: wrong, progress: quiet });
    await expect(p).rejects.toThrow(ModelIntegrityError);
    await expect(p).rejects.toMatchObject({ code: 'ABI_ERR_MODEL_SHA256', expected: wrong, actual: modelSha });
    expect(existsSync(join(dir, 'acme', 'tiny', 'tiny.gguf'))).toBe(false);
    expect(existsSync(join(dir, 'acme', 'tiny', 'tiny.gguf.part'))).toBe(false);
    behaviour.etag = 'e'.repeat(64);
    await expect(pullModel('acme/tiny/tiny.gguf', { dir, env: env(), progress: quiet })).rejects.toThrow(ModelIntegrityError);
  });

  it('downloads without verification when no checksum is known, and says so', async () => {
    behaviour.etag = null;
    const r = await pullModel('acme/tiny/tiny.gguf', { dir, env: env(), progress: quiet });
    expect(r.verified).toBe(false);
    expect(r.sha256).toBe(modelSha);
  });

  it('reports HTTP errors and non-GGUF bodies clearly', async () => {
    await expect(pullModel(`${base}/nothing/here.gguf`, { dir, env: env(), progress: quiet })).rejects.toMatchObject({ code: 'ABI_ERR_MODEL_PULL', status: 404 });
    behaviour.body = Buffer.from('<html>rate limited</html>');
    behaviour.etag = null;
    await expect(pullModel('acme/tiny/tiny.gguf', { dir, env: env(), progress: quiet })).rejects.toThrow(/did not return a GGUF file/);
    await expect(pullModel('acme/tiny/x.gguf', { dir, env: { HF_ENDPOINT: 'http://127.0.0.1:1' }, progress: quiet })).rejects.toThrow(/cannot reach/);
  });

  it('sends HF_TOKEN to the Hugging Face endpoint only, never to the CDN it redirects to', async () => {
    const seen: Array<{ host: string; auth?: string }> = [];
    const cdn = createServer((req, res) => {
      seen.push({ host: 'cdn', ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
      res.writeHead(200, { 'content-length': model.length });
      res.end(model);
    });
    await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
    const cdnBase = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`;
    const hub = createServer((req, res) => {
      seen.push({ host: 'hub', ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
      res.writeHead(302, { location: `${cdnBase}/blob`, 'x-linked-etag': `"${modelSha}"` });
      res.end();
    });
    await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
    const hubBase = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
    try {
      const r = await pullModel('acme/gated/m.gguf', { dir, env: { HF_ENDPOINT: hubBase, HF_TOKEN: 'hf_secret' }, progress: quiet });
      expect(r.verified).toBe(true);
      expect(seen).toEqual([{ host: 'hub', auth: 'Bearer hf_secret' }, { host: 'cdn' }]);
    } finally {
      await Promise.all([hub, cdn].map((srv) => new Promise<void>((r) => srv.close(() => r()))));
    }
  });

  it('refuses a second concurrent pull of the same file, and takes over a stale lock', async () => {
    behaviour.delayMs = 300;
    const first = pullModel('acme/tiny/tiny.gguf', { dir, env: env(), progress: quiet });
    const lock = join(dir, 'acme', 'tiny', 'tiny.gguf.lock');
    while (!existsSync(lock)) await new Promise((r) => setTimeout(r, 5));
    await expect(pullModel('acme/tiny/tiny.gguf', { dir, env: env(), progress: quiet })).rejects.toThrow(
      new RegExp(`another 'abi model pull' \\(pid ${process.pid}\\) is downloading acme/tiny/tiny.gguf`),
    );
    expect((await first).verified).toBe(true);
    expect(existsSync(lock)).toBe(false);

    behaviour.delayMs = 0;
    const other = join(dir, 'acme', 'tiny', 'other.gguf');
    writeFileSync(`${other}.lock`, '999999999'); // a pid that cannot exist
    const r = await pullModel('acme/tiny/other.gguf', { dir, env: env(), progress: quiet });
    expect(r.path).toBe(other);
  });

  it('rm deletes a cached model and refuses paths outside the cache', async () => {
    const r = await pullModel('acme/tiny/tiny.gguf', { dir, env: env(), progress: quiet });
    expect(removeModel('acme/tiny/tiny.gguf', dir)).toBe(r.path);
    expect(existsSync(r.path)).toBe(false);
    expect(existsSync(`${r.path}.json`)).toBe(false);
    const outside = join(work, 'src.gguf');
    expect(() => removeModel(outside, dir)).toThrow(/not inside the models directory/);
    expect(existsSync(outside)).toBe(true);
  });
});

describe('progress output', () => {
  function capture(isTTY: boolean): { stream: PassThrough & { isTTY?: boolean }; text: () => string } {
    const stream = new PassThrough() as PassThrough & { isTTY?: boolean };
    stream.isTTY = isTTY;
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    return { stream, text: () => Buffer.concat(chunks).toString() };
  }

  it('draws a bar with size, speed and ETA on a TTY', async () => {
    let t = 0;
    const out = capture(true);
    const p = new ProgressReporter('m.gguf', 10_000_000, 0, { stream: out.stream, now: () => t });
    t = 1000;
    p.update(2_000_000);
    p.finish('done');
    await new Promise((r) => setImmediate(r));
    expect(out.text()).toContain('\rm.gguf [#####');
    expect(out.text()).toContain('2.0 MB / 10.0 MB 20%  2.0 MB/s  ETA 0:04');
  });

  it('writes periodic plain lines when not a TTY', async () => {
    let t = 0;
    const out = capture(false);
    const p = new ProgressReporter('m.gguf', 1_000_000, 250_000, { stream: out.stream, now: () => t, logIntervalSec: 5 });
    t = 1000;
    p.update(500_000); // within the interval: no line
    t = 5000;
    p.update(750_000);
    await new Promise((r) => setImmediate(r));
    const lines = out.text().trim().split('\n');
    expect(lines[0]).toBe('resuming m.gguf at 250.0 KB');
    expect(lines[1]).toBe('pull m.gguf: 750.0 KB / 1.0 MB 75%  100.0 KB/s  ETA 0:03');
    expect(out.text()).not.toContain('\r');
  });
});

import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { ModelIntegrityError, ModelPullError } from '../errors.js';
import { modelsDir, writeSidecar } from './cache.js';
import { ProgressReporter, formatBytes, type ProgressOptions } from './progress.js';

/**
 * `abi model pull`: download a GGUF into the models cache, resuming a partial download with an
 * HTTP Range request and verifying its sha256 when one is known.
 */

export interface PullSource {
  url: string;
  /** Path inside the models dir, `/`-separated. */
  name: string;
}

export interface PullOptions {
  /** Models directory (default modelsDir()). */
  dir?: string;
  /** Expected sha256 (hex); otherwise taken from the server's x-linked-etag/etag when that is a sha256. */
  sha256?: string;
  /** Download again even when the file is already cached. */
  force?: boolean;
  /** Environment for HF_ENDPOINT / ABI_HF_ENDPOINT / HF_TOKEN (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Progress output options. */
  progress?: ProgressOptions;
  signal?: AbortSignal;
  /** Redirects followed at most (default 5). */
  maxRedirects?: number;
}

export interface PullResult {
  path: string;
  url: string;
  bytes: number;
  sha256: string;
  /** True when sha256 was checked against a known value. */
  verified: boolean;
  /** Bytes that were already on disk from an earlier, interrupted download. */
  resumedFrom: number;
  /** True when the file was already cached and nothing was downloaded. */
  cached: boolean;
}

const SAFE_SEGMENT = /^[A-Za-z0-9._-]+$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** Hugging Face endpoint (HF_ENDPOINT is huggingface_hub's own variable). */
function hfEndpoint(env: NodeJS.ProcessEnv): string {
  return (env.ABI_HF_ENDPOINT ?? env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
}

/**
 * `<owner>/<repo>/<path/to/file.gguf>` → `<endpoint>/<owner>/<repo>/resolve/main/<path>`, or a
 * full http(s) URL. Throws ModelPullError for anything else.
 */
export function resolvePullSource(spec: string, env: NodeJS.ProcessEnv = process.env): PullSource {
  if (/^https?:\/\//i.test(spec)) {
    let url: URL;
    try {
      url = new URL(spec);
    } catch {
      throw new ModelPullError(`not a valid URL: ${spec}`);
    }
    const file = decodeURIComponent(posix.basename(url.pathname));
    if (!file.endsWith('.gguf') || !SAFE_SEGMENT.test(file)) {
      throw new ModelPullError(`the URL must name a .gguf file (got '${file || url.pathname}')`);
    }
    const host = url.host.replace(/[^A-Za-z0-9.-]/g, '_');
    return { url: url.href, name: `urls/${host}/${file}` };
  }
  const parts = spec.split('/');
  if (parts.length < 3 || parts.some((p) => !SAFE_SEGMENT.test(p) || p === '.' || p === '..')) {
    throw new ModelPullError(`expected <owner>/<repo>/<file.gguf> or an http(s) URL, got '${spec}'`);
  }
  if (!spec.endsWith('.gguf')) throw new ModelPullError(`'${spec}' does not name a .gguf file`);
  const [owner, repo, ...file] = parts;
  const url = `${hfEndpoint(env)}/${owner}/${repo}/resolve/main/${file.map(encodeURIComponent).join('/')}`;
  return { url, name: spec };
}

/** A sha256 from x-linked-etag (Hugging Face LFS files) or etag, when it is one. */
export function sha256FromHeaders(headers: Headers): string | undefined {
  for (const name of ['x-linked-etag', 'etag']) {
    const raw = headers.get(name);
    if (!raw) continue;
    const v = raw.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();
    if (SHA256.test(v)) return v;
  }
  return undefined;
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/** Follows redirects by hand so headers of every hop (e.g. HF's x-linked-etag on the 302) are seen. */
async function fetchFollowing(url: string, headers: Record<string, string>, opts: PullOptions): Promise<{ res: Response; sha?: string; finalUrl: string }> {
  let current = url;
  let sha: string | undefined;
  const origin = new URL(url).origin;
  for (let hop = 0; hop <= (opts.maxRedirects ?? 5); hop++) {
    const hopHeaders = { ...headers };
    if (new URL(current).origin !== origin) delete hopHeaders.authorization;
    let res: Response;
    try {
      res = await fetch(current, { headers: hopHeaders, redirect: 'manual', signal: opts.signal ?? null });
    } catch (err) {
      throw new ModelPullError(`cannot reach ${current}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, undefined, { cause: err });
    }
    sha ??= sha256FromHeaders(res.headers);
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      current = new URL(location, current).href;
      continue;
    }
    return { res, ...(sha ? { sha } : {}), finalUrl: current };
  }
  throw new ModelPullError(`too many redirects from ${url}`);
}

function httpError(status: number, url: string): ModelPullError {
  if (status === 404) return new ModelPullError(`not found (HTTP 404): ${url}`, status);
  if (status === 401 || status === 403) {
    return new ModelPullError(`access denied (HTTP ${status}) for ${url}: the repository may be gated or private; set HF_TOKEN`, status);
  }
  return new ModelPullError(`HTTP ${status} from ${url}`, status);
}

/** Downloads `spec` into the models cache (see module doc). */
export async function pullModel(spec: string, opts: PullOptions = {}): Promise<PullResult> {
  const env = opts.env ?? process.env;
  const source = resolvePullSource(spec, env);
  const dir = opts.dir ?? modelsDir(env);
  const dest = join(dir, ...source.name.split('/'));
  const part = `${dest}.part`;
  const expectedSha = opts.sha256?.toLowerCase();
  if (expectedSha !== undefined && !SHA256.test(expectedSha)) throw new ModelPullError(`--sha256 must be 64 hex digits, got '${opts.sha256}'`);
  if (existsSync(dest) && !opts.force) {
    const hash = createHash('sha256');
    await hashFile(dest, hash);
    const sha = hash.digest('hex');
    if (expectedSha && sha !== expectedSha) throw new ModelIntegrityError(dest, expectedSha, sha);
    return { path: dest, url: source.url, bytes: statSync(dest).size, sha256: sha, verified: expectedSha !== undefined, resumedFrom: 0, cached: true };
  }
  mkdirSync(dirname(dest), { recursive: true });
  const release = acquirePullLock(dest, source.name);
  try {
    return await download(spec, source, dest, part, expectedSha, env, opts);
  } finally {
    release();
  }
}

/**
 * One pull per file at a time: two processes appending to the same `.part` would corrupt it. The
 * lock file holds the owner's pid; a lock left by a process that no longer exists is taken over.
 */
function acquirePullLock(dest: string, name: string): () => void {
  const lock = `${dest}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(lock, 'utf8'));
      let alive = false;
      try {
        if (Number.isInteger(pid) && pid > 0) {
          process.kill(pid, 0);
          alive = true;
        }
      } catch {}
      if (alive) throw new ModelPullError(`another 'abi model pull' (pid ${pid}) is downloading ${name}; wait for it or stop it first`);
      rmSync(lock, { force: true });
    }
  }
  throw new ModelPullError(`cannot lock ${lock}`);
}

async function download(
  spec: string,
  source: PullSource,
  dest: string,
  part: string,
  expectedSha: string | undefined,
  env: NodeJS.ProcessEnv,
  opts: PullOptions,
): Promise<PullResult> {
  if (opts.force) rmSync(part, { force: true });

  let have = existsSync(part) ? statSync(part).size : 0;
  const headers: Record<string, string> = { 'user-agent': 'abi-stream model pull' };
  if (env.HF_TOKEN && source.url.startsWith(hfEndpoint(env))) headers.authorization = `Bearer ${env.HF_TOKEN}`;
  if (have > 0) headers.range = `bytes=${have}-`;
  let { res, sha: headerSha } = await fetchFollowing(source.url, headers, opts);

  let total: number | undefined;
  if (res.status === 416 && have > 0) {
    // Nothing left to send: the part is complete when its size is the whole file.
    const m = /bytes \*\/(\d+)/.exec(res.headers.get('content-range') ?? '');
    await res.body?.cancel();
    if (m && Number(m[1]) === have) {
      total = have;
    } else {
      rmSync(part, { force: true });
      have = 0;
      delete headers.range;
      ({ res, sha: headerSha } = await fetchFollowing(source.url, headers, opts));
    }
  }
  if (total === undefined) {
    if (res.status === 206) {
      const m = /bytes (\d+)-(\d+)\/(\d+|\*)/.exec(res.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== have) {
        await res.body?.cancel();
        throw new ModelPullError(`the server answered the resume request with an unexpected range '${res.headers.get('content-range')}'`);
      }
      if (m[3] !== '*') total = Number(m[3]);
    } else if (res.status === 200) {
      if (have > 0) {
        // The server ignored Range: start over.
        rmSync(part, { force: true });
        have = 0;
      }
      const len = res.headers.get('content-length');
      if (len !== null) total = Number(len);
    } else {
      await res.body?.cancel();
      throw httpError(res.status, source.url);
    }
  }

  const hash = createHash('sha256');
  if (have > 0) await hashFile(part, hash);
  const resumedFrom = have;
  const progress = new ProgressReporter(source.name, total, have, opts.progress);
  if (res.status === 200 || res.status === 206) {
    const fd = openSync(part, have > 0 ? 'a' : 'w');
    try {
      if (res.body) {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          writeSync(fd, chunk);
          hash.update(chunk);
          have += chunk.byteLength;
          progress.update(have);
        }
      }
    } catch (err) {
      throw new ModelPullError(
        `download of ${source.name} interrupted after ${formatBytes(have)}${total !== undefined ? ` of ${formatBytes(total)}` : ''}; run the same command again to resume`,
        undefined,
        { cause: err },
      );
    } finally {
      closeSync(fd);
    }
  }
  if (total !== undefined && have !== total) {
    if (have > total) {
      rmSync(part, { force: true });
      throw new ModelPullError(`the server sent ${have} bytes for a ${total}-byte file; the partial download was deleted`);
    }
    throw new ModelPullError(`connection closed after ${formatBytes(have)} of ${formatBytes(total)}; run the same command again to resume`);
  }
  const magic = Buffer.alloc(4);
  const fd = openSync(part, 'r');
  try {
    readSync(fd, magic, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (magic.toString('latin1') !== 'GGUF') {
    rmSync(part, { force: true });
    throw new ModelPullError(`${source.url} did not return a GGUF file (it starts with ${JSON.stringify(magic.toString('latin1'))}); the download was deleted`);
  }
  const sha = hash.digest('hex');
  const expected = expectedSha ?? headerSha;
  if (expected && expected !== sha) {
    rmSync(part, { force: true });
    throw new ModelIntegrityError(source.name, expected, sha);
  }
  renameSync(part, dest);
  writeSidecar(dest, { url: source.url, source: spec, sha256: sha, verified: expected !== undefined, bytes: have, pulledAt: new Date().toISOString() });
  progress.finish(`pulled ${source.name} (${formatBytes(have)}) to ${dest}; sha256 ${sha}${expected ? ' verified' : ' (not verified: no known checksum)'}`);
  return { path: dest, url: source.url, bytes: have, sha256: sha, verified: expected !== undefined, resumedFrom, cached: false };
}

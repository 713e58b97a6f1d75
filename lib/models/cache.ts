import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { ModelNotFoundError } from '../errors.js';

/**
 * The local model cache: `~/.abi/models` (override with `ABI_MODELS_DIR`). Pulled files live at
 * `<dir>/<owner>/<repo>/<file>.gguf` (Hugging Face) or `<dir>/urls/<host>/<file>.gguf`, each with a
 * `<file>.gguf.json` sidecar recording where it came from and its sha256.
 */

export { ModelNotFoundError };

/** Where a cached model came from (the sidecar JSON). */
export interface ModelSidecar {
  /** The URL it was downloaded from. */
  url: string;
  /** What the user asked for (shorthand or URL). */
  source: string;
  /** Hex sha256 of the file, verified or computed at download. */
  sha256: string;
  /** Whether sha256 was checked against a known value (flag or server header). */
  verified: boolean;
  bytes: number;
  pulledAt: string;
}

export interface CachedModel {
  /** Name to use with `abi model info|rm|path`: the path relative to the models dir, with `/`. */
  name: string;
  path: string;
  bytes: number;
  modifiedAt: Date;
  sidecar?: ModelSidecar;
}

/** The models directory (not created). */
export function modelsDir(env: NodeJS.ProcessEnv = process.env): string {
  const override = env.ABI_MODELS_DIR;
  return override ? resolve(override) : join(homedir(), '.abi', 'models');
}

function walk(dir: string, out: string[]): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && e.name.endsWith('.gguf')) out.push(p);
  }
}

function readSidecar(path: string): ModelSidecar | undefined {
  try {
    return JSON.parse(readFileSync(`${path}.json`, 'utf8')) as ModelSidecar;
  } catch {
    return undefined;
  }
}

/** Every complete `.gguf` in the cache (partial downloads are `.gguf.part` and not listed). */
export function listModels(dir = modelsDir()): CachedModel[] {
  const files: string[] = [];
  walk(dir, files);
  return files.sort().map((path) => {
    const st = statSync(path);
    const sidecar = readSidecar(path);
    return { name: relative(dir, path).split(sep).join('/'), path, bytes: st.size, modifiedAt: st.mtime, ...(sidecar ? { sidecar } : {}) };
  });
}

/**
 * Resolves a model reference to a file: an existing path, a cache name
 * (`owner/repo/file.gguf`), or a file name that matches exactly one cached model.
 */
export function resolveModel(ref: string, dir = modelsDir()): string {
  if (existsSync(ref) && statSync(ref).isFile()) return resolve(ref);
  const models = listModels(dir);
  const exact = models.find((m) => m.name === ref);
  if (exact) return exact.path;
  const byFile = models.filter((m) => m.name.split('/').pop() === ref || m.name.split('/').pop() === `${ref}.gguf`);
  if (byFile.length === 1) return byFile[0]!.path;
  if (byFile.length > 1) {
    throw new ModelNotFoundError(`'${ref}' matches ${byFile.length} cached models: ${byFile.map((m) => m.name).join(', ')}; use the full name`);
  }
  throw new ModelNotFoundError(`no model '${ref}' in ${dir} (see 'abi model list', or pull it with 'abi model pull <owner>/<repo>/<file.gguf>')`);
}

/** Deletes a cached model, its sidecar and any partial download; returns the removed path. */
export function removeModel(ref: string, dir = modelsDir()): string {
  const path = resolveModel(ref, dir);
  const rel = relative(dir, path);
  if (rel.startsWith('..') || resolve(dir, rel) !== path) {
    throw new ModelNotFoundError(`${path} is not inside the models directory ${dir}; refusing to delete it`);
  }
  rmSync(path, { force: true });
  rmSync(`${path}.json`, { force: true });
  rmSync(`${path}.part`, { force: true });
  return path;
}

/** Writes the sidecar next to a downloaded model. */
export function writeSidecar(path: string, sidecar: ModelSidecar): void {
  writeFileSync(`${path}.json`, JSON.stringify(sidecar, null, 2) + '\n');
}

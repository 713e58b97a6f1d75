/**
 * Spawns the real CLI (`node bin/abi.js …`, needs `npm run build`) and waits for its one stdout line
 * `abi listening on http://HOST:PORT`. Collects stdout/stderr for assertions and exposes the exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ABI_BIN = fileURLToPath(new URL('../../bin/abi.js', import.meta.url));

export interface SpawnedAbi {
  proc: ChildProcess;
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or signal name) once the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

export interface SpawnOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** How long to wait for the listening line (default 20 s: the first spawn on a busy machine is slow). */
  readyTimeoutMs?: number;
}

/** Runs `abi <args>` to completion (for commands that should exit, like a bad config). */
export function runAbi(args: string[], opts: SpawnOptions = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [ABI_BIN, ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`abi ${args.join(' ')} did not exit; stdout=${stdout} stderr=${stderr}`));
    }, opts.readyTimeoutMs ?? 20_000);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Spawns `abi serve <args>` and resolves once it printed its listening line. */
export function spawnAbiServe(args: string[], opts: SpawnOptions = {}): Promise<SpawnedAbi> {
  const proc = spawn(process.execPath, [ABI_BIN, 'serve', ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`abi serve did not print its listening line in time; stdout=${stdout} stderr=${stderr}`));
    }, opts.readyTimeoutMs ?? 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /^abi listening on (http:\/\/(.+):(\d+))$/m.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve({
          proc,
          url: m[1]!,
          port: Number(m[3]),
          stdout: () => stdout,
          stderr: () => stderr,
          exited,
          kill: (signal = 'SIGTERM') => void proc.kill(signal),
        });
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`abi serve exited (${code ?? signal}) before listening; stdout=${stdout} stderr=${stderr}`));
    });
  });
}

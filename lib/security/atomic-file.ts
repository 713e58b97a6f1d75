import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Steps of an atomic replace at which a crash test can freeze the process (see
 * `ABI_TEST_PAUSE_AT`): the old file is intact until `rename`, the new one complete after it.
 */
export type AtomicWriteStep = 'temp-written' | 'renamed';

/**
 * Replaces `path` with `data` so that a crash at any instant leaves either the old file or the new
 * one: write a temp file in the same directory, fsync it, rename it over the target, fsync the
 * directory so the rename itself is durable. The file is created with mode 0600.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', 0o600);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(temp);
    throw err;
  }
  closeSync(fd);
  pauseForCrashTest('temp-written');
  try {
    renameSync(temp, path);
  } catch (err) {
    unlinkSync(temp);
    throw err;
  }
  pauseForCrashTest('renamed');
  fsyncDirectory(dir);
  removeStaleTemps(dir, basename(path));
}

/**
 * Deletes temp files a crashed writer left behind (their process is gone). They are complete copies
 * of an old or new version, never read, so removing them loses nothing.
 */
function removeStaleTemps(dir: string, base: string): void {
  const prefix = `.${base}.`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (!Number.isSafeInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    try {
      unlinkSync(`${dir}/${name}`);
    } catch {}
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Crash-test hook: when `ABI_TEST_PAUSE_AT` names this step, announce it on stderr and block the
 * thread until the test kills the process. Lets a test SIGKILL a real process between the steps
 * of a write without racing a timer.
 */
function pauseForCrashTest(step: AtomicWriteStep): void {
  if (process.env.ABI_TEST_PAUSE_AT !== step) return;
  process.stderr.write(`abi-test-paused:${step}\n`);
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0);
}

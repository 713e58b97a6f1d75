import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SecretDisposedError, SecureArenaFullError } from '../../lib/errors.js';
import {
  SecureArena,
  constantTimeEqual,
  defaultArena,
  testOnlyReadDisposedRegion,
} from '../../lib/native/secure-memory.js';
import { moduleUrl, packageRoot } from './support/workers.js';

const require = createRequire(import.meta.url);
const PAGE = 4096;

/** The /proc/self/smaps entry whose range starts at `start` (hex), with the entries just before and after it. */
function smapsAround(size: number): { before: string; region: string; after: string }[] {
  const text = readFileSync('/proc/self/smaps', 'utf8');
  const blocks = text.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
  const out = [];
  for (let i = 1; i < blocks.length - 1; i++) {
    const [range] = blocks[i]!.split(' ');
    const [lo, hi] = range!.split('-').map((h) => parseInt(h, 16));
    if (hi! - lo! === size) out.push({ before: blocks[i - 1]!, region: blocks[i]!, after: blocks[i + 1]! });
  }
  return out;
}
const rangeOf = (block: string) => block.split(' ')[0]!.split('-').map((h) => parseInt(h, 16));

describe('SecureArena', () => {
  it('stores secrets behind opaque handles and reveals them only through the named copies', () => {
    const arena = SecureArena.create({ bytes: 8192 });
    const s = arena.store('sk-live-ünïcødé');
    const b = arena.store(new Uint8Array([0, 1, 2, 250]));
    expect(s.length).toBe(Buffer.byteLength('sk-live-ünïcødé'));
    expect(s.revealString()).toBe('sk-live-ünïcødé');
    expect([...b.revealBuffer()]).toEqual([0, 1, 2, 250]);
    expect(JSON.stringify(s)).not.toContain('sk-live');
    expect(Object.keys(s)).toEqual([]);
    expect(arena.capacity).toBe(8192);
    // 16-byte blocks: 19 UTF-8 bytes + the NUL native string encoding writes -> 32; 4 bytes -> 16.
    expect(arena.used).toBe(32 + 16);
  });

  it('compares in constant time against handles, strings and bytes', () => {
    const arena = SecureArena.create();
    const a = arena.store('token-123');
    const other = SecureArena.create().store('token-123');
    expect(a.equals('token-123')).toBe(true);
    expect(a.equals('token-124')).toBe(false);
    expect(a.equals('token-12')).toBe(false);
    expect(a.equals(other)).toBe(true);
    expect(a.equals(arena.store('token-999'))).toBe(false);
    expect(a.equals(new TextEncoder().encode('token-123'))).toBe(true);
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
    expect(() => constantTimeEqual('a' as never, new Uint8Array(1))).toThrow(/Uint8Array/);
  });

  it('dispose() zeroes the secret bytes in place (read back through the test-only raw reader)', () => {
    const arena = SecureArena.create();
    const secret = 'correct horse battery staple';
    const h = arena.store(secret);
    expect(() => testOnlyReadDisposedRegion(h)).toThrow(/still live/);
    h.dispose();
    const raw = testOnlyReadDisposedRegion(h);
    expect(raw.length).toBe(secret.length);
    expect([...raw].every((byte) => byte === 0)).toBe(true);
    expect(h.disposed).toBe(true);
    expect(() => h.revealString()).toThrow(SecretDisposedError);
    expect(() => h.equals('x')).toThrow(expect.objectContaining({ code: 'ABI_ERR_SECRET_DISPOSED' }));
    h.dispose(); // idempotent
    expect(arena.used).toBe(0);
  });

  it('reuses freed blocks, coalesces them, and reports a full arena clearly', () => {
    const arena = SecureArena.create({ bytes: PAGE });
    const handles = Array.from({ length: 4 }, () => arena.store(new Uint8Array(1000)));
    expect(arena.used).toBe(4 * 1008);
    expect(() => arena.store(new Uint8Array(100))).toThrow(SecureArenaFullError);
    handles[1]!.dispose();
    handles[2]!.dispose();
    const big = arena.store(new Uint8Array(2000)); // fits only in the two coalesced blocks
    expect(big.length).toBe(2000);
    expect(handles[0]!.revealBuffer().length).toBe(1000);
    expect(() => arena.store(new Uint8Array(5000))).toThrow(/no free block/);
  });

  it('arena dispose() disposes every handle and refuses new secrets', () => {
    const arena = SecureArena.create();
    const h = arena.store('x');
    arena.dispose();
    expect(h.disposed).toBe(true);
    expect(arena.disposed).toBe(true);
    expect(() => h.revealBuffer()).toThrow(SecretDisposedError);
    expect(() => arena.store('y')).toThrow(SecretDisposedError);
    h.dispose();
    arena.dispose();
  });

  it('maps data pages locked and excluded from dumps, between PROT_NONE guard pages', () => {
    const bytes = 13 * PAGE; // an unusual size to find our mapping in /proc/self/smaps
    const arena = SecureArena.create({ bytes });
    expect(arena.locked).toBe(true); // root with CAP_IPC_LOCK, or within `ulimit -l`
    expect(arena.excludedFromDumps).toBe(true);
    const candidates = smapsAround(bytes).filter((c) => / rw-p /.test(c.region) && /VmFlags:.* dd/.test(c.region));
    expect(candidates.length).toBeGreaterThan(0);
    const ours = candidates.find((c) => {
      const [lo, hi] = rangeOf(c.region);
      const [, beforeHi] = rangeOf(c.before);
      const [afterLo] = rangeOf(c.after);
      return beforeHi === lo && / ---p /.test(c.before) && afterLo === hi && / ---p /.test(c.after);
    });
    expect(ours, 'a locked, dontdump data region with guard pages on both sides').toBeDefined();
    expect(ours!.region).toMatch(/VmFlags:.* lo/);
    arena.dispose();
  });

  it('defaultArena() is one lazy process-wide arena', () => {
    expect(defaultArena()).toBe(defaultArena());
    expect(defaultArena().capacity).toBe(65536);
  });
});

describe('SecureArena outside root privileges and process-wide settings', () => {
  function isTraversableByOthers(path: string): boolean {
    for (let p = path; p !== dirname(p); p = dirname(p)) {
      if ((statSync(p).mode & 0o005) !== 0o005) return false;
    }
    return true;
  }

  it('a non-root user over RLIMIT_MEMLOCK gets locked:false and one warning, never a crash', (ctx) => {
    if (spawnSync('setpriv', ['--version']).status !== 0) return ctx.skip('setpriv (util-linux) is not installed');
    if (!isTraversableByOthers(packageRoot)) return ctx.skip(`${packageRoot} is not readable by uid 65534`);
    // The addon copy lives in a world-readable temp dir, loaded through ABI_STREAM_PREBUILD.
    const dir = mkdtempSync(join(tmpdir(), 'abi-mlock-'));
    try {
      chmodSync(dir, 0o755);
      const addon = (require('node-gyp-build') as { resolve(dir: string): string }).resolve(packageRoot);
      mkdirSync(join(dir, 'build', 'Release'), { recursive: true, mode: 0o755 });
      copyFileSync(addon, join(dir, 'build', 'Release', 'abi_stream.node'));
      chmodSync(join(dir, 'build', 'Release', 'abi_stream.node'), 0o755);
      const script = join(dir, 'mlock.mts');
      writeFileSync(
        script,
        `import { SecureArena } from ${JSON.stringify(moduleUrl('lib/native/secure-memory.ts'))};
        const warnings = [];
        process.on('warning', (w) => warnings.push({ name: w.name, code: w.code }));
        const big = SecureArena.create({ bytes: 16 << 20 });
        const bigger = SecureArena.create({ bytes: 12 << 20 });
        const small = SecureArena.create({ bytes: 64 << 10 });
        const h = big.store('still works');
        await new Promise((r) => setTimeout(r, 10));
        console.log(JSON.stringify({ uid: process.getuid(), big: big.locked, bigger: bigger.locked,
          small: small.locked, dontdump: big.excludedFromDumps, reveal: h.revealString(), warnings }));`,
      );
      chmodSync(script, 0o644);
      const r = spawnSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '--import', 'tsx', script],
        { cwd: packageRoot, encoding: 'utf8', env: { ...process.env, ABI_STREAM_PREBUILD: dir, HOME: dir } },
      );
      expect(r.status, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
      expect(result).toMatchObject({ uid: 65534, big: false, bigger: false, small: true, dontdump: true });
      expect(result.reveal).toBe('still works');
      expect(result.warnings).toEqual([{ name: 'SecurityWarning', code: 'ABI_WARN_MLOCK' }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finalisation of an unreachable arena unlocks and unmaps it (after zeroing), checked by VmLck', () => {
    const src = `
      import { readFileSync } from 'node:fs';
      import { SecureArena } from ${JSON.stringify(moduleUrl('lib/native/secure-memory.ts'))};
      const vmlck = () => Number(/VmLck:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
      const before = vmlck();
      (() => { SecureArena.create({ bytes: 13 * 4096 }).store('dropped without dispose'); })();
      const during = vmlck();
      for (let i = 0; i < 50 && vmlck() > before; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }
      console.log(JSON.stringify({ before, during, after: vmlck() }));
    `;
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', src], {
      cwd: packageRoot,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(out.during - out.before).toBe(52); // 13 locked pages, in kB
    expect(out.after).toBe(out.before); // the N-API finalizer ran ~secure_arena: zero, munlock, munmap
  });

  it('disableCoreDumps() is explicit and process-wide (checked in a child process)', () => {
    const src = `
      import { readFileSync } from 'node:fs';
      import { disableCoreDumps, SecureArena } from ${JSON.stringify(moduleUrl('lib/native/secure-memory.ts'))};
      const limit = () => readFileSync('/proc/self/limits', 'utf8').split('\\n').find((l) => l.startsWith('Max core file size'));
      SecureArena.create();
      const before = limit();
      const result = disableCoreDumps();
      console.log(JSON.stringify({ before, after: limit(), result }));
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], {
      cwd: packageRoot,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(out.result).toEqual({ ok: true, coreLimitZero: true, dumpable: false });
    expect(out.after).toMatch(/Max core file size\s+0\s+0\s/);
    // Creating an arena alone did not change the process's core limit.
    expect(out.before).not.toBe(out.after);
  });
});

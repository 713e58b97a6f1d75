/**
 * `npm run prebuilds` and loading from prebuilds/, exercised in a TEMP COPY of the package: the shared
 * build/ and prebuilds/ of the working tree are never touched.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from './support/workers.js';

const LOAD = `
  const ngb = require('node-gyp-build');
  const file = ngb.resolve(process.argv[1]);
  const b = ngb(process.argv[1]);
  console.log(JSON.stringify({ file, napi: b.napiVersion, modules: ['ring', 'breaker', 'secure'].filter((m) => m in b),
    ct: b.secure.constantTimeEqual(new Uint8Array([1]), new Uint8Array([1])) }));
`;

describe('prebuilds', () => {
  const dir = mkdtempSync(join(tmpdir(), 'abi-prebuild-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('npm run prebuilds writes prebuilds/linux-x64/node.napi.node, which loads with no build/ (PREBUILDS_ONLY)', () => {
    // The loader is what is under test, so the copy carries the addon registry and the native core
    // modules only: CMakeLists.txt globs native/**, and the engine's sources would add minutes of compile.
    for (const entry of ['package.json', 'CMakeLists.txt', 'scripts', 'native/addon', 'native/ring', 'native/breaker', 'native/secure']) {
      cpSync(join(packageRoot, entry), join(dir, entry), { recursive: true });
    }
    symlinkSync(join(packageRoot, 'node_modules'), join(dir, 'node_modules'));
    const build = spawnSync('npm', ['run', 'prebuilds'], { cwd: dir, encoding: 'utf8', env: { ...process.env } });
    expect(build.status, `${build.stdout}\n${build.stderr}`).toBe(0);
    const prebuilt = join(dir, 'prebuilds', `${process.platform}-${process.arch}`, 'node.napi.node');
    expect(existsSync(prebuilt)).toBe(true);

    rmSync(join(dir, 'build'), { recursive: true, force: true });
    const env: NodeJS.ProcessEnv = { ...process.env, PREBUILDS_ONLY: '1' };
    delete env.ABI_STREAM_PREBUILD;
    const load = spawnSync(process.execPath, ['-e', LOAD, dir], { cwd: dir, encoding: 'utf8', env });
    expect(load.status, load.stderr).toBe(0);
    const out = JSON.parse(load.stdout);
    expect(out).toEqual({ file: prebuilt, napi: 8, modules: ['ring', 'breaker', 'secure'], ct: true });
  }, 600_000);

  it('ABI_STREAM_PREBUILD points the loader at another directory, and a missing addon is one clear error', () => {
    const env = { ...process.env, ABI_STREAM_PREBUILD: dir, PREBUILDS_ONLY: '1' };
    const moved = spawnSync(process.execPath, ['-e', LOAD, packageRoot], { cwd: dir, encoding: 'utf8', env });
    expect(moved.status, moved.stderr).toBe(0);
    expect(JSON.parse(moved.stdout).file.startsWith(join(dir, 'prebuilds'))).toBe(true);

    const empty = mkdtempSync(join(tmpdir(), 'abi-noaddon-'));
    try {
      const missing = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          `import { loadBinding } from ${JSON.stringify(join(packageRoot, 'lib/native/binding.ts'))};
           try { loadBinding(); } catch (err) { console.log(err.code + '|' + err.message); }`,
        ],
        { cwd: packageRoot, encoding: 'utf8', env: { ...process.env, ABI_STREAM_PREBUILD: empty } },
      );
      const [code, message] = missing.stdout.trim().split('|');
      expect(code).toBe('ABI_ERR_NATIVE_LOAD');
      expect(message).toMatch(/native addon not found.*docs\/native\.md/s);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

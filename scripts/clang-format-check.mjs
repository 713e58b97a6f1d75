#!/usr/bin/env node
// Fails when any C++ file under native/ differs from its clang-format output.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const bin = process.env.CLANG_FORMAT || 'clang-format';
if (spawnSync(bin, ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.error(`lint: '${bin}' not found; install it (apt-get install clang-format) or set CLANG_FORMAT.`);
  process.exit(1);
}
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.(cpp|hpp|h|cu|cuh)$/.test(name)) files.push(p);
  }
})('native');
const r = spawnSync(bin, ['--dry-run', '--Werror', ...files], { encoding: 'utf8' });
if (r.status !== 0) {
  console.error(r.stderr.split('\n').slice(0, 40).join('\n'));
  console.error("lint: native/ is not clang-formatted; run 'npx clang-format -i' on the files above.");
  process.exit(1);
}
console.log(`clang-format: ${files.length} files clean`);

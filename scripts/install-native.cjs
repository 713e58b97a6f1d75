#!/usr/bin/env node
'use strict';
// Install step: use a prebuilt addon when one loads, otherwise build from source with cmake-js.
// A missing toolchain gets one clear message instead of cmake's wall of logs.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function prebuildLoads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

function has(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

if (process.env.ABI_FORCE_BUILD !== '1' && prebuildLoads()) process.exit(0);

const missing = [];
if (!has('cmake', ['--version'])) missing.push('cmake (>= 3.20)');
if (!has(process.env.CXX || 'c++', ['--version'])) missing.push('a C++20 compiler (g++ >= 10 or clang++ >= 12)');
if (missing.length) {
  console.error(
    `abi-stream: no prebuilt addon matches this platform (${process.platform}-${process.arch}) and building from source needs ` +
      `${missing.join(' and ')}. Install them (Debian/Ubuntu: apt-get install cmake g++) and run 'npm rebuild abi-stream'.`,
  );
  process.exit(1);
}

const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--log-level', 'error'], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'pipe'],
  encoding: 'utf8',
});
if (r.status !== 0) {
  const log = `${r.stdout || ''}${r.stderr || ''}`;
  const errors = log.split('\n').filter((l) => /error|Error/.test(l)).slice(0, 15);
  console.error(`abi-stream: native build failed (cmake-js exit ${r.status}). First errors:\n${errors.join('\n')}`);
  console.error("Rebuild verbosely with 'npx cmake-js compile' in the package directory; see docs/native.md.");
  process.exit(1);
}

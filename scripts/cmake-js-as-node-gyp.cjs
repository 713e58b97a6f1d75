#!/usr/bin/env node
'use strict';
// prebuildify only knows node-gyp. This shim accepts node-gyp's argument shape
// (`rebuild --target=.. --devdir=.. --arch=.. --release`) and runs cmake-js instead.
// --target and --devdir are ignored on purpose: a Node-API build takes its headers from
// node-api-headers, so the Node version prebuildify asks for does not matter.
const { spawnSync } = require('node:child_process');

const args = process.argv.slice(2);
const arch = (args.find((a) => a.startsWith('--arch=')) || '').split('=')[1] || process.arch;
const out = [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', '--arch', arch];
if (args.includes('--debug')) out.push('--debug');
if (process.env.CMAKE_JS_EXTRA) out.push(...process.env.CMAKE_JS_EXTRA.split(/\s+/).filter(Boolean));
process.exit(spawnSync(process.execPath, out, { stdio: 'inherit' }).status ?? 1);

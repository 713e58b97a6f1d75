import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { NativeLoadError } from '../errors.js';

const require = createRequire(import.meta.url);

/** Package root: two levels above both lib/native/*.ts and dist/native/*.js. */
export const packageRoot = fileURLToPath(new URL('../..', import.meta.url));

let cached: NativeBinding | undefined;

/**
 * The raw addon exports. Each native module adds its own members; the typed wrappers in
 * lib/native/ are the only code that touches them.
 */
export interface NativeBinding {
  napiVersion: number;
  [member: string]: unknown;
}

/**
 * Loads the addon through node-gyp-build from the package root: build/Release first, then
 * prebuilds/<platform>-<arch>/. Cached after the first call.
 */
export function loadBinding(): NativeBinding {
  if (cached) return cached;
  try {
    const load = require('node-gyp-build') as (dir: string) => NativeBinding;
    cached = load(packageRoot);
    return cached;
  } catch (err) {
    throw new NativeLoadError(
      `abi-stream native addon not found or failed to load from ${packageRoot}: ${(err as Error).message}. ` +
        "Run 'npm rebuild abi-stream' (needs cmake and a C++20 compiler); see docs/native.md.",
      { cause: err },
    );
  }
}

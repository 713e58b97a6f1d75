import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/native/binding.js';
import { gaussian, kernels } from './support/kernels.js';

const k = kernels();

/** activeImpl() as seen by a fresh process (the choice is made once per process). */
function activeImplIn(env: NodeJS.ProcessEnv): string {
  const script = `const k = require('node-gyp-build')(${JSON.stringify(packageRoot)}).kernels; process.stdout.write(k.activeImpl());`;
  return execFileSync(process.execPath, ['-e', script], { env, cwd: packageRoot, encoding: 'utf8' });
}

describe('kernels: run-time dispatch', () => {
  it('picks AVX2 when CPUID has AVX2+FMA+F16C, and ABI_FORCE_SCALAR=1 forces the scalar path', () => {
    const { ABI_FORCE_SCALAR: _drop, ...env } = process.env;
    expect(activeImplIn(env)).toBe(k.hasAvx2() ? 'avx2' : 'scalar');
    expect(activeImplIn({ ...env, ABI_FORCE_SCALAR: '1' })).toBe('scalar');
    expect(activeImplIn({ ...env, ABI_FORCE_SCALAR: '0' })).toBe(k.hasAvx2() ? 'avx2' : 'scalar');
  });

  it("the default impl gives the chosen implementation's result", () => {
    const type = k.types.Q4_K!;
    const w = k.quantize(type, gaussian(1024, 1));
    const x = gaussian(1024, 2);
    expect(k.vecDot(type, w, x)).toBe(k.vecDot(type, w, x, { impl: k.activeImpl() }));
  });

  it.runIf(!k.hasAvx2())('refuses impl avx2 on a CPU without it', () => {
    expect(() => k.vecDot(k.types.F32!, new Uint8Array(4), new Float32Array(1), { impl: 'avx2' })).toThrow(/lacks AVX2/);
  });
});

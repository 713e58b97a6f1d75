/** `rateLimits`: per-principal requests and tokens per minute (owned by security). */
import type { RateLimitConfig, RateLimits } from '../../security/rate-limiter.js';
import type { ConfigReader } from '../reader.js';
import type { ConfigSection } from '../registry.js';

declare module '../types.js' {
  interface AbiConfig {
    rateLimits: RateLimitConfig;
  }
}

function readLimits(r: ConfigReader): RateLimits {
  const out: RateLimits = {};
  const rpm = r.int('requestsPerMinute', undefined, { min: 1, max: 1e9 });
  const tpm = r.int('tokensPerMinute', undefined, { min: 1, max: 1e12 });
  if (rpm !== undefined) out.requestsPerMinute = rpm;
  if (tpm !== undefined) out.tokensPerMinute = tpm;
  r.done();
  return out;
}

export const rateLimitsSection: ConfigSection<RateLimitConfig> = {
  key: 'rateLimits',
  parse(input) {
    const r = input.object();
    const out: RateLimitConfig = { slots: r.int('slots', 65_536, { min: 16, max: 1 << 24 }) };
    const def = r.object('default');
    if (def) out.default = readLimits(def);
    const per = r.object('perPrincipal');
    if (per) {
      out.perPrincipal = {};
      for (const id of Object.keys(per.raw)) out.perPrincipal[id] = readLimits(per.section(id));
      per.done();
    }
    r.done();
    return out;
  },
};

/** `securityHeaders`: response hardening headers (owned by security). */
import type { SecurityHeadersConfig } from '../../security/http-hardening.js';
import type { ConfigSection } from '../registry.js';

declare module '../types.js' {
  interface AbiConfig {
    securityHeaders: SecurityHeadersConfig;
  }
}

export const securityHeadersSection: ConfigSection<SecurityHeadersConfig> = {
  key: 'securityHeaders',
  parse(input) {
    const r = input.object();
    const out: SecurityHeadersConfig = {};
    const hsts = r.int('hstsMaxAgeSec', undefined, { min: 0, max: 2 * 365 * 86_400 });
    if (hsts !== undefined) out.hstsMaxAgeSec = hsts;
    r.done();
    return out;
  },
};

/** `auth.jwt`: JWT bearer tokens (owned by security; verified by lib/security/jwt.ts). */
import { JWT_ALGORITHMS, type JwtAlgorithm, type JwtConfig } from '../../security/jwt-config.js';
import type { ConfigSection } from '../registry.js';

declare module './auth.js' {
  interface AuthSectionConfig {
    /** JWT verification; absent = JWTs are not accepted. */
    jwt?: JwtConfig;
  }
}

function stringOrList(r: import('../reader.js').ConfigReader, k: string): string | string[] | undefined {
  const v = r.raw[k];
  if (Array.isArray(v)) return r.stringArray(k);
  return r.string(k);
}

export const jwtSection: ConfigSection<JwtConfig> = {
  key: 'auth.jwt',
  parse(input) {
    const r = input.object();
    const algorithms = r.stringArray('algorithms');
    if (!algorithms || algorithms.length === 0) return r.fail('algorithms', 'is required: list the algorithms tokens may be signed with, e.g. ["RS256"]');
    algorithms.forEach((alg, i) => {
      if (alg === 'none') r.fail(`algorithms[${i}]`, '"none" cannot be listed; see allowNoneAlgorithm');
      if (!(JWT_ALGORITHMS as readonly string[]).includes(alg)) r.fail(`algorithms[${i}]`, `unknown algorithm ${JSON.stringify(alg)}; one of ${JWT_ALGORITHMS.join(', ')}`);
    });
    const out: JwtConfig = { algorithms: algorithms as JwtAlgorithm[] };
    const secret = r.secret('secret');
    if (secret) out.secret = secret;
    const pk = r.raw.publicKey;
    if (pk !== undefined && typeof pk === 'object' && pk !== null && !Array.isArray(pk)) {
      r.claim('publicKey');
      out.publicKey = pk as JwtConfig['publicKey'] & object;
    } else {
      const pem = r.string('publicKey');
      if (pem !== undefined) out.publicKey = pem;
    }
    const optionalStrings = ['publicKeyFile', 'jwksUrl', 'jwksFile', 'scopesClaim'] as const;
    for (const k of optionalStrings) {
      const v = r.string(k);
      if (v !== undefined) out[k] = v;
    }
    const issuer = stringOrList(r, 'issuer');
    if (issuer !== undefined) out.issuer = issuer;
    const audience = stringOrList(r, 'audience');
    if (audience !== undefined) out.audience = audience;
    const required = r.stringArray('requiredClaims');
    if (required) out.requiredClaims = required;
    out.clockToleranceSec = r.int('clockToleranceSec', 5, { min: 0, max: 3600 });
    out.allowNoneAlgorithm = r.bool('allowNoneAlgorithm', false);
    out.jwksCacheMaxAgeMs = r.int('jwksCacheMaxAgeMs', 600_000, { min: 1000, max: 7 * 24 * 3600 * 1000 });
    out.jwksTimeoutMs = r.int('jwksTimeoutMs', 5000, { min: 100, max: 120_000 });
    const hmac = out.algorithms.filter((a) => a.startsWith('HS'));
    if (hmac.length > 0 && !out.secret) r.fail('secret', `is required for ${hmac.join(', ')}`);
    if (out.algorithms.some((a) => !a.startsWith('HS')) && !out.publicKey && !out.publicKeyFile && !out.jwksUrl && !out.jwksFile) {
      r.fail('algorithms', 'asymmetric algorithms need publicKey, publicKeyFile, jwksUrl or jwksFile');
    }
    r.done();
    return out;
  },
};

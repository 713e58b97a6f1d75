/** `cors`: cross-origin browser access, off unless `origins` lists something (owned by security). */
import { validateCorsConfig, type CorsConfig } from '../../security/http-hardening.js';
import { ConfigError } from '../../errors.js';
import type { ConfigSection } from '../registry.js';

declare module '../types.js' {
  interface AbiConfig {
    cors: CorsConfig;
  }
}

export const corsSection: ConfigSection<CorsConfig> = {
  key: 'cors',
  parse(input) {
    const r = input.object();
    const out: CorsConfig = {
      origins: r.stringArray('origins') ?? [],
      maxAgeSec: r.int('maxAgeSec', 600, { min: 0, max: 86_400 }),
      allowCredentials: r.bool('allowCredentials', false),
    };
    const headers = r.stringArray('allowHeaders');
    if (headers) out.allowHeaders = headers;
    const methods = r.stringArray('allowMethods');
    if (methods) out.allowMethods = methods;
    r.done();
    try {
      validateCorsConfig(out, input.key);
    } catch (err) {
      const message = (err as Error).message;
      const colon = message.indexOf(': ');
      throw new ConfigError(message.slice(0, colon), message.slice(colon + 2));
    }
    return out;
  },
};

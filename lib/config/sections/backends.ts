/**
 * `backends`: named upstreams. The keys every backend has (`type`, `timeouts`, `continuation`) are read
 * here; the rest is validated by the backend type's own reader from lib/backends/registry.ts.
 */
import { getBackendType, registeredBackendTypes } from '../../backends/registry.js';
import { ConfigError } from '../../errors.js';
import { ConfigReader } from '../reader.js';
import type { ConfigSection } from '../registry.js';

export interface BackendTimeouts {
  /** TCP/TLS connect timeout. Default 10000. */
  connectMs: number;
  /** Longest wait from sending the request to the first token. Default 60000. */
  firstTokenMs: number;
  /** Longest silence between two events of a running stream. Default 30000. */
  idleMs: number;
  /** Longest whole generation. Default 600000. */
  totalMs: number;
}

export interface BackendConfigBase {
  /** Backend type: `openai`, or any type registered in lib/backends/registry.ts. */
  type: string;
  timeouts: BackendTimeouts;
  /** True when the backend accepts an assistant prefill to continue from (mid-stream failover). Default false. */
  continuation: boolean;
}

/**
 * A backend's config as stored in AbiConfig: the common keys; each type's reader returns its own
 * extension of it (e.g. OpenAIBackendConfig), which its factory receives.
 */
export type BackendConfig = BackendConfigBase;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MS_MAX = 24 * 3600 * 1000;

function readTimeouts(r: ConfigReader): BackendTimeouts {
  const t = r.section('timeouts');
  const out: BackendTimeouts = {
    connectMs: t.int('connectMs', 10_000, { min: 1, max: MS_MAX }),
    firstTokenMs: t.int('firstTokenMs', 60_000, { min: 1, max: MS_MAX }),
    idleMs: t.int('idleMs', 30_000, { min: 1, max: MS_MAX }),
    totalMs: t.int('totalMs', 600_000, { min: 1, max: MS_MAX }),
  };
  t.done();
  return out;
}

export const backendsSection: ConfigSection<Record<string, BackendConfig>> = {
  key: 'backends',
  parse(input) {
    const r = input.object();
    const out: Record<string, BackendConfig> = {};
    for (const name of Object.keys(r.raw)) {
      if (!NAME.test(name)) r.fail(name, 'backend names use 1-64 characters from A-Z a-z 0-9 . _ - and start with a letter or digit');
      const b = r.section(name);
      const type = b.requiredString('type');
      const def = getBackendType(type);
      if (!def) {
        throw new ConfigError(b.key('type'), `unknown backend type ${JSON.stringify(type)}; known types: ${registeredBackendTypes().join(', ')}`);
      }
      const base: BackendConfigBase = { type, timeouts: readTimeouts(b), continuation: b.bool('continuation', false) };
      out[name] = def.readConfig(b, base);
      b.done();
    }
    return out;
  },
};

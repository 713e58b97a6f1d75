/** `secrets`: the encrypted vault behind `"secret:NAME"` values (owned by security). */
import type { SecretsConfig } from '../../security/master-key.js';
import type { ConfigSection } from '../registry.js';

declare module '../types.js' {
  interface AbiConfig {
    secrets: SecretsConfig;
  }
}

export const secretsSection: ConfigSection<SecretsConfig> = {
  key: 'secrets',
  parse(input) {
    const r = input.object();
    const out: SecretsConfig = { requireMasterKey: r.bool('requireMasterKey', false) };
    const vaultFile = r.string('vaultFile');
    if (vaultFile !== undefined) out.vaultFile = vaultFile;
    r.done();
    return out;
  },
};

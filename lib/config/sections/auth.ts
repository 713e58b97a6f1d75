/** `auth`: who may call the server. JWT settings arrive as the `auth.jwt` extension section. */
import type { ConfigSection } from '../registry.js';

export interface AuthSectionConfig {
  /** Static bearer tokens (usually `"env:ABI_AUTH_TOKEN"`), resolved to their values. Default none. */
  tokens: string[];
  /** Scopes a static config token carries. Default `["admin"]`: config tokens belong to the operator. */
  staticTokenScopes: string[];
  /** Serve `GET /health` without credentials. Default true. */
  allowHealthWithoutAuth: boolean;
  /** API keys file written by `abi keys`; absent = `$ABI_KEYS_FILE`, else `~/.abi/keys.json`. */
  apiKeysFile?: string;
}

export const authSection: ConfigSection<AuthSectionConfig> = {
  key: 'auth',
  parse(input) {
    const r = input.object();
    const tokens = r.stringArray('tokens') ?? [];
    tokens.forEach((t, i) => {
      if (t.length === 0) r.fail(`tokens[${i}]`, 'must not be empty');
    });
    const out: AuthSectionConfig = {
      tokens,
      staticTokenScopes: r.stringArray('staticTokenScopes') ?? ['admin'],
      allowHealthWithoutAuth: r.bool('allowHealthWithoutAuth', true),
    };
    const keysFile = r.string('apiKeysFile');
    if (keysFile !== undefined) out.apiKeysFile = keysFile;
    r.done();
    return out;
  },
};

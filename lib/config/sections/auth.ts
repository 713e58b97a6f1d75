/** `auth`: who may call the server. JWT settings arrive as the `auth.jwt` extension section. */
import { joinKey, type SecretLike } from '../reader.js';
import type { ConfigSection } from '../registry.js';

export interface AuthSectionConfig {
  /**
   * Static bearer tokens (usually `"env:ABI_AUTH_TOKEN"`), kept as secret handles: the authenticator
   * keeps only their digests. Embedders may also put plain strings here. Default none.
   */
  tokens: (string | SecretLike)[];
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
    const tokens = (r.array('tokens') ?? []).map((t, i) => r.secretValue(t, joinKey(r.key('tokens'), i)));
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

import { readFileSync } from 'node:fs';
import type { SecretHandle } from '../native/secure-memory.js';
import {
  MASTER_KEY_ENV,
  checkMasterKeyRequirement,
  ephemeralMasterKey,
  readMasterKey,
  type MasterKey,
  type SecretsConfig,
} from './master-key.js';
import { PROVIDER_ENV_VARS, ProviderSecrets } from './secrets.js';
import { Vault, defaultVaultFile } from './vault.js';
import type { WarnLogger } from './jwt-config.js';

/**
 * What `abi serve` (or an embedding process) holds for the lifetime of the server: the master key
 * (to reopen the vault on reload), the provider secrets, and the resolver the config loader uses.
 */
export interface SecretsRuntime {
  /** Provider keys and every resolved `secret:NAME`, in secure memory. */
  readonly secrets: ProviderSecrets;
  /** Pass as `loadConfig(path, { env: runtime.configEnv, resolveSecret, resolveEnvSecret })`. */
  resolveSecret(name: string): SecretHandle;
  /**
   * For `env:` references in credential fields (backend `apiKey`, `auth.tokens`): the variable as a
   * handle in secure memory, so the config never holds it as a string. Undefined when it is unset.
   */
  resolveEnvSecret(name: string): SecretHandle | undefined;
  /**
   * The environment for the config loader: `process.env` without the provider variables (those now
   * live only in secure memory), plus getters for them that reveal on access, so `"env:ABI_OPENAI_API_KEY"`
   * in the config keeps working.
   */
  readonly configEnv: NodeJS.ProcessEnv;
  /** Scrubs held secrets and credential-shaped strings from text (see ProviderSecrets.scrub). */
  scrub(text: string): string;
  /** On reload: wipes the held secrets and reopens the vault, so changed values are picked up. */
  reload(): void;
  /** On shutdown: wipes everything, master key included. */
  dispose(): void;
}

/**
 * The `secrets` section of a config file, read before the full config is loaded (the vault must be
 * open to resolve `secret:NAME` values elsewhere in the same file). Missing file or section: {}.
 */
export function readSecretsSection(configPath: string | undefined): SecretsConfig {
  if (!configPath) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch {
    return {}; // the full loader reports an unreadable or invalid file with the right key
  }
  const section = (raw as { secrets?: unknown } | null)?.secrets;
  if (typeof section !== 'object' || section === null) return {};
  const out: SecretsConfig = {};
  const { requireMasterKey, vaultFile } = section as Record<string, unknown>;
  if (typeof requireMasterKey === 'boolean') out.requireMasterKey = requireMasterKey;
  if (typeof vaultFile === 'string' && !vaultFile.includes(':')) out.vaultFile = vaultFile;
  return out;
}

/**
 * Start-up for secrets: enforces `secrets.requireMasterKey` (throws MasterKeyRequiredError,
 * code MASTER_KEY_REQUIRED), reads ABI_MASTER_KEY into secure memory (or makes an ephemeral key
 * with a warning), opens the vault, and moves the provider variables into secure memory.
 */
export function openSecretsRuntime(config: SecretsConfig | undefined, deps: { env?: NodeJS.ProcessEnv; logger: WarnLogger }): SecretsRuntime {
  const env = deps.env ?? process.env;
  checkMasterKeyRequirement(config, env);
  const vaultPath = config?.vaultFile ?? defaultVaultFile(env);
  let masterKey: MasterKey | null = readMasterKey(env);
  if (!masterKey) {
    deps.logger.warn(
      { event: 'master_key_missing', vault: vaultPath },
      `${MASTER_KEY_ENV} is not set: using an ephemeral key. Secrets will not survive a restart, vault references in the config cannot be resolved, and the vault file is neither read nor written. Set ${MASTER_KEY_ENV} (and secrets.requireMasterKey: true) in production.`,
    );
    masterKey = ephemeralMasterKey();
  }
  const key = masterKey;
  const secrets = new ProviderSecrets({ env });
  let vault: Vault | null = null;
  const openVault = (): void => {
    if (vault || key.kind === 'ephemeral') return;
    vault = Vault.open(vaultPath, key);
    secrets.attachVault(vault);
    // The vault's derived keys are needed only while secret:NAME values are being resolved
    // (synchronously, by loadConfig): wipe them once the current task is done.
    queueMicrotask(() => {
      secrets.attachVault(null);
      vault?.close();
      vault = null;
    });
  };
  // Opened at once so a wrong key or a tampered vault stops start-up even when no secret is used.
  openVault();

  const configEnv: NodeJS.ProcessEnv = { ...env };
  for (const name of PROVIDER_ENV_VARS) {
    delete configEnv[name];
    Object.defineProperty(configEnv, name, {
      enumerable: false,
      get: () => {
        try {
          return secrets.resolve(`env:${name}`);
        } catch {
          return undefined;
        }
      },
    });
  }

  return {
    secrets,
    configEnv,
    resolveSecret(name: string): SecretHandle {
      openVault();
      return secrets.handleFor(`secret:${name}`);
    },
    resolveEnvSecret(name: string): SecretHandle | undefined {
      try {
        return secrets.handleFor(`env:${name}`);
      } catch {
        return undefined;
      }
    },
    scrub: (text) => secrets.scrub(text),
    reload(): void {
      secrets.releaseResolved();
      openVault();
    },
    dispose(): void {
      secrets.dispose();
      vault?.close();
      vault = null;
      key.dispose();
    },
  };
}

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultKeysFile } from './api-keys.js';
import { defaultVaultFile } from './vault.js';

/** The config file `abi serve` would read: `--config`, else `./abi.config.json` when it exists. */
function configFile(explicit: string | undefined): string | undefined {
  if (explicit !== undefined) return resolve(explicit);
  return existsSync('abi.config.json') ? resolve('abi.config.json') : undefined;
}

/** A plain string at `section.key` of the config file (env:/secret: references are not followed). */
function configString(path: string | undefined, section: string, key: string): string | undefined {
  if (!path) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  const value = (raw as Record<string, Record<string, unknown> | undefined> | null)?.[section]?.[key];
  if (typeof value !== 'string' || /^(env|secret):/.test(value)) return undefined;
  // Relative paths mean what they mean to `abi serve` run from the same directory.
  return resolve(value);
}

/**
 * The keys file the CLI manages, so that it is the one the server reads: `--file`, else the config's
 * `auth.apiKeysFile`, else `$ABI_KEYS_FILE`, else `~/.abi/keys.json`.
 */
export function cliKeysFile(opts: { file?: string; config?: string }): string {
  return opts.file ?? configString(configFile(opts.config), 'auth', 'apiKeysFile') ?? defaultKeysFile();
}

/** The vault file: `--file`, else the config's `secrets.vaultFile`, else `$ABI_VAULT_FILE`, else `~/.abi/vault.json`. */
export function cliVaultFile(opts: { file?: string; config?: string }): string {
  return opts.file ?? configString(configFile(opts.config), 'secrets', 'vaultFile') ?? defaultVaultFile();
}

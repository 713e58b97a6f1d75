import { randomBytes } from 'node:crypto';
import { AbiError } from '../errors.js';
import { defaultArena, type SecretHandle } from '../native/secure-memory.js';

/** The environment variable holding the vault master key. */
export const MASTER_KEY_ENV = 'ABI_MASTER_KEY';
/** The environment variable holding the new key during `abi secrets rotate-key`. */
export const NEW_MASTER_KEY_ENV = 'ABI_NEW_MASTER_KEY';
const MIN_PASSPHRASE_CHARS = 12;

/** The `secrets` config section. */
export interface SecretsConfig {
  /** Vault file. Default `$ABI_VAULT_FILE`, else `~/.abi/vault.json`. */
  vaultFile?: string;
  /**
   * Refuse to start without ABI_MASTER_KEY (error MASTER_KEY_REQUIRED). Default false: an ephemeral
   * key is used with a warning, and the vault file is neither read nor written.
   */
  requireMasterKey?: boolean;
}

/**
 * `secrets.requireMasterKey` is true and no master key is set. The code is the one the issue and
 * the docs name (`MASTER_KEY_REQUIRED`), and the message is the one line `abi serve` prints.
 */
export class MasterKeyRequiredError extends AbiError {
  constructor(variable = MASTER_KEY_ENV, why = 'secrets.requireMasterKey is true') {
    super(
      `MASTER_KEY_REQUIRED: ${why} but ${variable} is not set; set ${variable} to 64 hex characters (a raw 256-bit key) or a passphrase of at least ${MIN_PASSPHRASE_CHARS} characters`,
      'MASTER_KEY_REQUIRED',
    );
    this.name = 'MasterKeyRequiredError';
  }
}

/** ABI_MASTER_KEY is set but unusable (empty, whitespace-padded, too short, control characters). */
export class MasterKeyInvalidError extends AbiError {
  constructor(variable: string, why: string) {
    super(`${variable} is not usable: ${why}`, 'ABI_ERR_MASTER_KEY_INVALID');
    this.name = 'MasterKeyInvalidError';
  }
}

/**
 * A master key held in secure memory. `raw`: 32 key bytes. `passphrase`: UTF-8 passphrase bytes, to
 * be stretched with scrypt and the vault's salt. `ephemeral`: random, for this process only.
 */
export interface MasterKey {
  readonly kind: 'raw' | 'passphrase' | 'ephemeral';
  readonly secret: SecretHandle;
  /** Zeroes the key now. */
  dispose(): void;
}

/**
 * Reads the master key from `variable`. 64 hex characters are a raw key; anything else is a
 * passphrase. Absent: null. The environment string itself cannot be wiped (V8 owns it), but the
 * key is copied into secure memory and the variable is removed from `env` so child processes and
 * later code do not see it.
 */
export function readMasterKey(env: NodeJS.ProcessEnv = process.env, variable = MASTER_KEY_ENV): MasterKey | null {
  const value = env[variable];
  if (value === undefined) return null;
  if (value.length === 0) throw new MasterKeyInvalidError(variable, 'it is empty');
  if (value.trim() !== value) throw new MasterKeyInvalidError(variable, 'it has leading or trailing whitespace (a stray newline?)');
  if (/[\x00-\x1f\x7f]/.test(value)) throw new MasterKeyInvalidError(variable, 'it contains control characters');
  if (/^[0-9a-fA-F]{64}$/.test(value)) {
    const bytes = Buffer.from(value, 'hex');
    try {
      return wrap('raw', defaultArena().store(bytes));
    } finally {
      bytes.fill(0);
      delete env[variable];
    }
  }
  if ([...value].length < MIN_PASSPHRASE_CHARS) {
    throw new MasterKeyInvalidError(variable, `a passphrase needs at least ${MIN_PASSPHRASE_CHARS} characters (or give 64 hex characters for a raw key)`);
  }
  const handle = defaultArena().store(value);
  delete env[variable];
  return wrap('passphrase', handle);
}

/** A random key that lives only as long as this process. */
export function ephemeralMasterKey(): MasterKey {
  const bytes = randomBytes(32);
  try {
    return wrap('ephemeral', defaultArena().store(bytes));
  } finally {
    bytes.fill(0);
  }
}

/**
 * The start-up check `abi serve` runs before anything else: throws MasterKeyRequiredError when the
 * config requires a master key and none is set. Does not consume the key.
 */
export function checkMasterKeyRequirement(config: SecretsConfig | undefined, env: NodeJS.ProcessEnv = process.env): void {
  if (config?.requireMasterKey === true && env[MASTER_KEY_ENV] === undefined) {
    throw new MasterKeyRequiredError();
  }
}

function wrap(kind: MasterKey['kind'], secret: SecretHandle): MasterKey {
  return { kind, secret, dispose: () => secret.dispose() };
}

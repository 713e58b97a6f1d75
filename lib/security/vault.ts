import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AbiError } from '../errors.js';
import { defaultArena, type SecretHandle } from '../native/secure-memory.js';
import { writeFileAtomic } from './atomic-file.js';
import type { MasterKey } from './master-key.js';

const FORMAT = 'abi-vault';
const VERSION = 1;
/** scrypt cost for passphrases: N=2^15, r=8, p=1 takes ~100 ms and 32 MiB. */
const DEFAULT_SCRYPT = { N: 32768, r: 8, p: 1 } as const;
/** A vault header may not ask for more than this (a crafted file must not be a memory bomb). */
const MAX_SCRYPT = { N: 1 << 20, r: 16, p: 4 } as const;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const KEY_CHECK_TEXT = 'abi-vault key check v1';

/** The vault file could not be opened: wrong key, tampering, bad format, or a forbidden write. */
export class VaultError extends AbiError {
  /** `wrong_key`, `tampered`, `bad_format`, `not_found`, `ephemeral`, `invalid_name`, `io`. */
  readonly reason: string;
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message, 'ABI_ERR_VAULT', options);
    this.name = 'VaultError';
    this.reason = reason;
  }
}

interface SealedEntry {
  nonce: string;
  ciphertext: string;
  tag: string;
}

interface VaultFile {
  format: typeof FORMAT;
  version: number;
  /** How the root key came from ABI_MASTER_KEY: used as-is (`raw`) or stretched (`passphrase`). */
  keySource: 'raw' | 'passphrase';
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  /** HMAC of a fixed text under a key derived from the root key: tells a wrong key from tampering. */
  keyCheck: string;
  secrets: Record<string, SealedEntry>;
  /** HMAC over everything above: any change to the file (a removed entry, a swapped value) is detected. */
  mac: string;
}

/** `$ABI_VAULT_FILE`, else `~/.abi/vault.json`. */
export function defaultVaultFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.ABI_VAULT_FILE || join(homedir(), '.abi', 'vault.json');
}

/**
 * The derived keys of one open vault, in secure memory. Each is revealed into a Buffer only for the
 * one cipher or HMAC call that needs it, and that Buffer is zeroed right after.
 */
interface VaultKeys {
  encryption: SecretHandle;
  mac: SecretHandle;
  check: SecretHandle;
}

/**
 * An encrypted secrets file: AES-256-GCM per secret with a fresh 12-byte nonce and the secret's
 * name as associated data, keys derived (HKDF-SHA256) from ABI_MASTER_KEY, the whole file
 * authenticated by an HMAC, written atomically. Open it, use it, `close()` it: closing wipes the
 * derived keys.
 */
export class Vault {
  readonly path: string;
  /** False for an ephemeral key: nothing is ever read from or written to `path`. */
  readonly persistent: boolean;
  private file: VaultFile;
  private keys: VaultKeys | null;

  private constructor(path: string, persistent: boolean, file: VaultFile, keys: VaultKeys) {
    this.path = path;
    this.persistent = persistent;
    this.file = file;
    this.keys = keys;
  }

  /**
   * Opens (or, when the file does not exist, starts) the vault at `path` with `masterKey`. The whole
   * file is verified before anything is decrypted: a wrong key or a changed byte is an error, never
   * a partial result. An ephemeral key opens an empty in-memory vault and never touches the file.
   */
  static open(path: string, masterKey: MasterKey): Vault {
    if (masterKey.kind === 'ephemeral') {
      const file = emptyFile('raw');
      return new Vault(path, false, file, deriveKeys(masterKey, file));
    }
    let text: string | null = null;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new VaultError('io', `cannot read vault ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (text === null) {
      const file = emptyFile(masterKey.kind === 'raw' ? 'raw' : 'passphrase');
      return new Vault(path, true, file, deriveKeys(masterKey, file));
    }
    const file = parseVaultFile(text, path);
    if ((masterKey.kind === 'raw') !== (file.keySource === 'raw')) {
      throw new VaultError(
        'wrong_key',
        `vault ${path} was created with a ${file.keySource === 'raw' ? 'raw 64-hex-character key' : 'passphrase'}, but ABI_MASTER_KEY is a ${masterKey.kind === 'raw' ? 'raw key' : 'passphrase'}`,
      );
    }
    const keys = deriveKeys(masterKey, file);
    try {
      verifyFile(file, keys, path);
    } catch (err) {
      disposeKeys(keys);
      throw err;
    }
    return new Vault(path, true, file, keys);
  }

  /** Secret names, sorted. */
  list(): string[] {
    this.assertOpen();
    return Object.keys(this.file.secrets).sort();
  }

  has(name: string): boolean {
    this.assertOpen();
    return Object.hasOwn(this.file.secrets, name);
  }

  /** Decrypts one secret straight into secure memory; null when there is no such secret. */
  get(name: string): SecretHandle | null {
    const keys = this.assertOpen();
    const entry = Object.hasOwn(this.file.secrets, name) ? this.file.secrets[name] : undefined;
    if (!entry) return null;
    const plain = withKey(keys.encryption, (key) => {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(entry.nonce, 'base64'));
      decipher.setAAD(aad(name));
      decipher.setAuthTag(Buffer.from(entry.tag, 'base64'));
      try {
        return Buffer.concat([decipher.update(Buffer.from(entry.ciphertext, 'base64')), decipher.final()]);
      } catch (err) {
        throw new VaultError('tampered', `secret ${JSON.stringify(name)} in ${this.path} failed authentication`, { cause: err });
      }
    });
    try {
      return defaultArena().store(plain);
    } finally {
      plain.fill(0);
    }
  }

  /** Encrypts `value` under `name` and saves the vault. */
  set(name: string, value: string | SecretHandle): void {
    const keys = this.assertOpen();
    if (!NAME_PATTERN.test(name)) throw new VaultError('invalid_name', `invalid secret name ${JSON.stringify(name)}: use 1-128 of A-Z a-z 0-9 _ . - (starting with a letter or digit)`);
    this.refuseEphemeralWrite();
    const plain = typeof value === 'string' ? Buffer.from(value, 'utf8') : value.revealBuffer();
    try {
      this.file.secrets[name] = seal(keys, name, plain);
    } finally {
      plain.fill(0);
    }
    this.save();
  }

  /** Removes `name`; returns false when it was not there. */
  remove(name: string): boolean {
    this.assertOpen();
    if (!Object.hasOwn(this.file.secrets, name)) return false;
    this.refuseEphemeralWrite();
    delete this.file.secrets[name];
    this.save();
    return true;
  }

  /**
   * Re-encrypts every secret under `newKey` (fresh salt and nonces) and replaces the file in one
   * atomic rename: a crash leaves the old vault (old key) or the new one (new key), never a mix.
   * The vault stays open under the new key.
   */
  rotate(newKey: MasterKey): void {
    const oldKeys = this.assertOpen();
    if (newKey.kind === 'ephemeral') throw new VaultError('ephemeral', 'cannot rotate to an ephemeral key');
    this.refuseEphemeralWrite();
    const next = emptyFile(newKey.kind === 'raw' ? 'raw' : 'passphrase');
    const newKeys = deriveKeys(newKey, next);
    try {
      for (const name of Object.keys(this.file.secrets)) {
        const plain = this.get(name)!;
        const bytes = plain.revealBuffer();
        try {
          next.secrets[name] = seal(newKeys, name, bytes);
        } finally {
          bytes.fill(0);
          plain.dispose();
        }
      }
      next.mac = computeMac(next, newKeys);
      writeFileAtomic(this.path, serialize(next));
    } catch (err) {
      disposeKeys(newKeys);
      throw err;
    }
    disposeKeys(oldKeys);
    this.file = next;
    this.keys = newKeys;
  }

  /** Wipes the derived keys. Further use throws. */
  close(): void {
    if (this.keys) disposeKeys(this.keys);
    this.keys = null;
  }

  private save(): void {
    const keys = this.assertOpen();
    this.file.mac = computeMac(this.file, keys);
    writeFileAtomic(this.path, serialize(this.file));
  }

  private refuseEphemeralWrite(): void {
    if (!this.persistent) {
      throw new VaultError('ephemeral', 'ABI_MASTER_KEY is not set: the vault is running on an ephemeral key and is never written; set ABI_MASTER_KEY to store secrets');
    }
  }

  private assertOpen(): VaultKeys {
    if (!this.keys) throw new VaultError('closed', 'the vault is closed');
    return this.keys;
  }
}

function emptyFile(keySource: 'raw' | 'passphrase'): VaultFile {
  return {
    format: FORMAT,
    version: VERSION,
    keySource,
    kdf: { name: 'scrypt', ...DEFAULT_SCRYPT, salt: randomBytes(16).toString('base64') },
    keyCheck: '',
    secrets: {},
    mac: '',
  };
}

/**
 * Root key: the raw 32 bytes, or scrypt(passphrase, salt). Three independent keys are derived from
 * it with HKDF; the root and every intermediate Buffer are zeroed before returning.
 */
function deriveKeys(masterKey: MasterKey, file: VaultFile): VaultKeys {
  const material = masterKey.secret.revealBuffer();
  let root: Buffer;
  try {
    if (masterKey.kind === 'passphrase') {
      const { N, r, p, salt } = file.kdf;
      root = scryptSync(material, Buffer.from(salt, 'base64'), 32, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
    } else {
      root = Buffer.from(material);
    }
  } finally {
    material.fill(0);
  }
  const arena = defaultArena();
  const derive = (info: string): SecretHandle => {
    const bytes = Buffer.from(hkdfSync('sha256', root, Buffer.from(file.kdf.salt, 'base64'), info, 32));
    try {
      return arena.store(bytes);
    } finally {
      bytes.fill(0);
    }
  };
  try {
    const keys = { encryption: derive('abi-vault/v1/encryption'), mac: derive('abi-vault/v1/mac'), check: derive('abi-vault/v1/key-check') };
    if (!file.keyCheck) file.keyCheck = keyCheckValue(keys);
    return keys;
  } finally {
    root.fill(0);
  }
}

function disposeKeys(keys: VaultKeys): void {
  keys.encryption.dispose();
  keys.mac.dispose();
  keys.check.dispose();
}

/** Runs `fn` with the key revealed into a Buffer that is zeroed afterwards. */
function withKey<T>(handle: SecretHandle, fn: (key: Buffer) => T): T {
  const key = handle.revealBuffer();
  try {
    return fn(key);
  } finally {
    key.fill(0);
  }
}

function aad(name: string): Buffer {
  return Buffer.from(`abi-vault/v1/secret/${name}`, 'utf8');
}

function seal(keys: VaultKeys, name: string, plain: Uint8Array): SealedEntry {
  const nonce = randomBytes(12);
  return withKey(keys.encryption, (key) => {
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(aad(name));
    const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
    return { nonce: nonce.toString('base64'), ciphertext: ciphertext.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
  });
}

function keyCheckValue(keys: VaultKeys): string {
  return withKey(keys.check, (key) => createHmac('sha256', key).update(KEY_CHECK_TEXT).digest('base64'));
}

/** HMAC over a canonical encoding of every field but `mac`, entries in name order. */
function computeMac(file: VaultFile, keys: VaultKeys): string {
  const names = Object.keys(file.secrets).sort();
  const canonical = JSON.stringify([
    file.format,
    file.version,
    file.keySource,
    [file.kdf.name, file.kdf.N, file.kdf.r, file.kdf.p, file.kdf.salt],
    file.keyCheck,
    names.map((n) => [n, file.secrets[n]!.nonce, file.secrets[n]!.ciphertext, file.secrets[n]!.tag]),
  ]);
  return withKey(keys.mac, (key) => createHmac('sha256', key).update(canonical).digest('base64'));
}

function equalBase64(a: string, b: string): boolean {
  const x = Buffer.from(a, 'base64');
  const y = Buffer.from(b, 'base64');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

function verifyFile(file: VaultFile, keys: VaultKeys, path: string): void {
  if (!equalBase64(keyCheckValue(keys), file.keyCheck)) {
    throw new VaultError('wrong_key', `ABI_MASTER_KEY does not open vault ${path} (wrong key, or the vault header was altered)`);
  }
  if (!equalBase64(computeMac(file, keys), file.mac)) {
    throw new VaultError('tampered', `vault ${path} has been modified or corrupted: its integrity check failed; nothing was decrypted`);
  }
}

function parseVaultFile(text: string, path: string): VaultFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new VaultError('tampered', `vault ${path} is not valid JSON: the file is corrupted or was modified`);
  }
  const f = raw as Partial<VaultFile>;
  const bad = (what: string): never => {
    throw new VaultError('bad_format', `vault ${path}: ${what}`);
  };
  if (typeof f !== 'object' || f === null || f.format !== FORMAT) bad('not an abi vault file');
  if (f.version !== VERSION) bad(`unsupported format version ${JSON.stringify(f.version)} (this abi reads version ${VERSION})`);
  if (f.keySource !== 'raw' && f.keySource !== 'passphrase') bad('bad keySource');
  const kdf = f.kdf;
  if (!kdf || kdf.name !== 'scrypt' || typeof kdf.salt !== 'string') bad('bad kdf header');
  const { N, r, p } = kdf!;
  const isPow2 = Number.isSafeInteger(N) && N >= 2 && (N & (N - 1)) === 0;
  if (!isPow2 || N > MAX_SCRYPT.N || !Number.isSafeInteger(r) || r < 1 || r > MAX_SCRYPT.r || !Number.isSafeInteger(p) || p < 1 || p > MAX_SCRYPT.p) {
    bad('scrypt parameters out of range');
  }
  if (typeof f.keyCheck !== 'string' || typeof f.mac !== 'string') bad('missing keyCheck or mac');
  if (typeof f.secrets !== 'object' || f.secrets === null || Array.isArray(f.secrets)) bad('bad secrets table');
  for (const [name, entry] of Object.entries(f.secrets!)) {
    if (!NAME_PATTERN.test(name)) bad(`bad secret name ${JSON.stringify(name.slice(0, 40))}`);
    if (typeof entry?.nonce !== 'string' || typeof entry.ciphertext !== 'string' || typeof entry.tag !== 'string') bad(`bad entry for ${name}`);
  }
  return f as VaultFile;
}

function serialize(file: VaultFile): string {
  return `${JSON.stringify(file, null, 2)}\n`;
}

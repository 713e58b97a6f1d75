import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AbiError } from '../errors.js';
import { writeFileAtomic } from './atomic-file.js';

/**
 * Key format: `abi-<id>-<secret>`. The 12-hex-char id is public and indexes the store, so a lookup is
 * one map access; the 32-byte random secret is what makes the key unguessable. Only the SHA-256 of
 * the whole key is stored: a plain hash is enough because the key has 256 bits of entropy (a slow
 * KDF protects low-entropy passwords, which these are not).
 */
const KEY_PATTERN = /^abi-([0-9a-f]{12})-([A-Za-z0-9_-]{43})$/;
const FILE_VERSION = 1;

/** Per-key rate limits; absent fields fall back to `rateLimits.default`. */
export interface KeyLimits {
  /** Requests per minute. */
  requestsPerMinute?: number;
  /** Completion + prompt tokens per minute. */
  tokensPerMinute?: number;
}

/** One stored API key. Never holds the key itself. */
export interface ApiKeyRecord {
  /** Public id, the part after `abi-`. */
  id: string;
  /** Human name; the principal id of requests made with the key. Unique in a store. */
  name: string;
  /** Hex SHA-256 of the full key. */
  sha256: string;
  scopes: string[];
  limits?: KeyLimits;
  /** ISO time of creation. */
  createdAt: string;
}

interface KeysFile {
  version: number;
  keys: ApiKeyRecord[];
}

/** The API key store could not be read, written or asked to do something impossible. */
export class ApiKeyStoreError extends AbiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ABI_ERR_API_KEYS', options);
    this.name = 'ApiKeyStoreError';
  }
}

/** `auth.apiKeysFile`, else `ABI_KEYS_FILE`, else `~/.abi/keys.json`. */
export function defaultKeysFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.ABI_KEYS_FILE || join(homedir(), '.abi', 'keys.json');
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;
const SCOPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/**
 * API keys in a JSON file (mode 0600, atomic replace on every change). Readers pick up changes made
 * by `abi keys` in another process: `verify` re-reads the file when its mtime or size changed,
 * checked at most once per `recheckMs`.
 */
export class ApiKeyStore {
  readonly path: string;
  private byId = new Map<string, ApiKeyRecord>();
  private stamp = '';
  private checkedAt = 0;
  private readonly recheckMs: number;

  constructor(path: string, opts: { recheckMs?: number } = {}) {
    this.path = path;
    this.recheckMs = opts.recheckMs ?? 1000;
    this.reload();
  }

  /** Re-reads the file now. A missing file is an empty store. */
  reload(): void {
    const stamp = this.fileStamp();
    if (stamp === null) {
      this.byId = new Map();
      this.stamp = '';
      return;
    }
    let parsed: KeysFile;
    try {
      parsed = JSON.parse(readFileSync(this.path, 'utf8')) as KeysFile;
    } catch (err) {
      throw new ApiKeyStoreError(`cannot read API keys file ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    if (parsed?.version !== FILE_VERSION || !Array.isArray(parsed.keys)) {
      throw new ApiKeyStoreError(`${this.path} is not an abi keys file (version ${FILE_VERSION})`);
    }
    this.byId = new Map(parsed.keys.map((r) => [r.id, r]));
    this.stamp = stamp;
  }

  /** Creates a key. The returned `key` is the only time it exists in plain text. */
  create(opts: { name: string; scopes?: string[]; limits?: KeyLimits }): { key: string; record: ApiKeyRecord } {
    this.reload();
    if (!NAME_PATTERN.test(opts.name)) throw new ApiKeyStoreError(`invalid key name ${JSON.stringify(opts.name)}: use 1-64 of A-Z a-z 0-9 . _ : @ -`);
    if ([...this.byId.values()].some((r) => r.name === opts.name)) throw new ApiKeyStoreError(`a key named ${JSON.stringify(opts.name)} already exists`);
    const scopes = [...new Set(opts.scopes ?? [])];
    for (const s of scopes) if (!SCOPE_PATTERN.test(s)) throw new ApiKeyStoreError(`invalid scope ${JSON.stringify(s)}`);
    const limits = validateLimits(opts.limits);
    let id: string;
    do id = randomBytes(6).toString('hex');
    while (this.byId.has(id));
    const key = `abi-${id}-${randomBytes(32).toString('base64url')}`;
    const record: ApiKeyRecord = { id, name: opts.name, sha256: sha256Hex(key), scopes, createdAt: new Date().toISOString() };
    if (limits) record.limits = limits;
    this.byId.set(id, record);
    this.save();
    return { key, record };
  }

  /** All records, oldest first. */
  list(): ApiKeyRecord[] {
    this.reload();
    return [...this.byId.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Number of keys, re-reading the file if it changed (cheap: one stat per `recheckMs`). */
  count(): number {
    this.refreshIfChanged();
    return this.byId.size;
  }

  /** Revokes by id or name; returns the revoked record. */
  revoke(idOrName: string): ApiKeyRecord {
    this.reload();
    const record = this.byId.get(idOrName) ?? [...this.byId.values()].find((r) => r.name === idOrName);
    if (!record) throw new ApiKeyStoreError(`no key with id or name ${JSON.stringify(idOrName)}`);
    this.byId.delete(record.id);
    this.save();
    return record;
  }

  /**
   * The record for a presented key, or null. The id selects one record; the hashes are then
   * compared in constant time, so timing tells nothing about how much of the secret matched.
   */
  verify(presented: string): ApiKeyRecord | null {
    this.refreshIfChanged();
    const match = KEY_PATTERN.exec(presented);
    if (!match) return null;
    const record = this.byId.get(match[1]!);
    const presentedHash = createHash('sha256').update(presented, 'utf8').digest();
    // Compare against a dummy when the id is unknown, so hit and miss cost the same.
    const stored = record ? Buffer.from(record.sha256, 'hex') : DUMMY_HASH;
    const equal = stored.length === presentedHash.length && timingSafeEqual(stored, presentedHash);
    return equal && record ? record : null;
  }

  /** True when `token` has the shape of an abi API key (so it is not tried as a JWT). */
  static looksLikeKey(token: string): boolean {
    return KEY_PATTERN.test(token);
  }

  private refreshIfChanged(): void {
    const now = Date.now();
    if (now - this.checkedAt < this.recheckMs) return;
    this.checkedAt = now;
    if (this.fileStamp() !== (this.stamp || null)) this.reload();
  }

  private fileStamp(): string | null {
    try {
      const st = statSync(this.path);
      return `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new ApiKeyStoreError(`cannot stat API keys file ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  private save(): void {
    const file: KeysFile = { version: FILE_VERSION, keys: [...this.byId.values()] };
    writeFileAtomic(this.path, `${JSON.stringify(file, null, 2)}\n`);
    this.stamp = this.fileStamp() ?? '';
  }
}

const DUMMY_HASH = createHash('sha256').update('abi-no-such-key').digest();

function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

function validateLimits(limits: KeyLimits | undefined): KeyLimits | undefined {
  if (!limits) return undefined;
  const out: KeyLimits = {};
  for (const field of ['requestsPerMinute', 'tokensPerMinute'] as const) {
    const v = limits[field];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v <= 0) throw new ApiKeyStoreError(`${field} must be a positive integer, got ${v}`);
    out[field] = v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  MasterKeyInvalidError,
  MasterKeyRequiredError,
  checkMasterKeyRequirement,
  ephemeralMasterKey,
  readMasterKey,
  type MasterKey,
} from '../../lib/security/master-key.js';
import { Vault, VaultError } from '../../lib/security/vault.js';

const HEX_KEY = 'a'.repeat(32) + '0123456789abcdef0123456789abcdef';
const PASSPHRASE = 'correct horse battery staple';
const tempVault = () => join(mkdtempSync(join(tmpdir(), 'abi-vault-')), 'vault.json');
const key = (value: string): MasterKey => readMasterKey({ ABI_MASTER_KEY: value })!;

function reveal(vault: Vault, name: string): string | null {
  const handle = vault.get(name);
  if (!handle) return null;
  try {
    return handle.revealString();
  } finally {
    handle.dispose();
  }
}

function openError(path: string, value: string): VaultError {
  try {
    Vault.open(path, key(value)).close();
  } catch (err) {
    expect(err).toBeInstanceOf(VaultError);
    return err as VaultError;
  }
  throw new Error('expected the vault to be refused');
}

describe('master key', () => {
  it('64 hex characters are a raw key; anything else a passphrase; the variable is removed from env', () => {
    const env: NodeJS.ProcessEnv = { ABI_MASTER_KEY: HEX_KEY };
    const raw = readMasterKey(env)!;
    expect(raw.kind).toBe('raw');
    expect(raw.secret.length).toBe(32);
    expect(env.ABI_MASTER_KEY).toBeUndefined();
    expect(key(PASSPHRASE).kind).toBe('passphrase');
    expect(key('g'.repeat(64)).kind).toBe('passphrase');
    expect(readMasterKey({})).toBeNull();
  });

  it.each([
    ['', /empty/],
    [' padded-passphrase ', /whitespace/],
    [`${PASSPHRASE}\n`, /whitespace/],
    ['short', /at least 12/],
    ['pass\u0000phrase-long-enough', /control/],
  ])('refuses %j clearly', (value, message) => {
    expect(() => readMasterKey({ ABI_MASTER_KEY: value })).toThrow(MasterKeyInvalidError);
    expect(() => readMasterKey({ ABI_MASTER_KEY: value })).toThrow(message);
  });

  it('requireMasterKey without a key is MASTER_KEY_REQUIRED with a one-line message', () => {
    expect(() => checkMasterKeyRequirement({ requireMasterKey: true }, {})).toThrow(MasterKeyRequiredError);
    try {
      checkMasterKeyRequirement({ requireMasterKey: true }, {});
    } catch (err) {
      expect((err as MasterKeyRequiredError).code).toBe('MASTER_KEY_REQUIRED');
      expect((err as Error).message).not.toContain('\n');
      expect((err as Error).message).toMatch(/set ABI_MASTER_KEY/);
    }
    expect(() => checkMasterKeyRequirement({ requireMasterKey: true }, { ABI_MASTER_KEY: HEX_KEY })).not.toThrow();
    expect(() => checkMasterKeyRequirement({ requireMasterKey: false }, {})).not.toThrow();
    expect(() => checkMasterKeyRequirement(undefined, {})).not.toThrow();
  });
});

describe('Vault', () => {
  it.each([['raw key', HEX_KEY], ['passphrase', PASSPHRASE]])('round-trips secrets with a %s', (_kind, value) => {
    const path = tempVault();
    const vault = Vault.open(path, key(value));
    vault.set('OPENAI_KEY', 'sk-live-abcdef123456');
    vault.set('other', 'second value');
    vault.close();
    expect(() => vault.list()).toThrow(/closed/);

    const text = readFileSync(path, 'utf8');
    expect(text).not.toContain('sk-live');
    expect(text).not.toContain('second value');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const file = JSON.parse(text);
    expect(file).toMatchObject({ format: 'abi-vault', version: 1, kdf: { name: 'scrypt', N: 32768, r: 8, p: 1 } });
    expect(Buffer.from(file.secrets.OPENAI_KEY.nonce, 'base64')).toHaveLength(12);
    expect(file.secrets.OPENAI_KEY.nonce).not.toBe(file.secrets.other.nonce);

    const again = Vault.open(path, key(value));
    expect(again.list()).toEqual(['OPENAI_KEY', 'other']);
    expect(reveal(again, 'OPENAI_KEY')).toBe('sk-live-abcdef123456');
    expect(reveal(again, 'missing')).toBeNull();
    expect(again.remove('other')).toBe(true);
    expect(again.remove('other')).toBe(false);
    again.close();
    expect(Vault.open(path, key(value)).list()).toEqual(['OPENAI_KEY']);
  });

  it('uses a fresh nonce each time a secret is written', () => {
    const path = tempVault();
    const vault = Vault.open(path, key(HEX_KEY));
    const nonces = new Set<string>();
    for (let i = 0; i < 20; i++) {
      vault.set('same', 'same value');
      nonces.add(JSON.parse(readFileSync(path, 'utf8')).secrets.same.nonce);
    }
    expect(nonces.size).toBe(20);
  });

  it('refuses a wrong key, and a passphrase where a raw key made the vault', () => {
    const path = tempVault();
    Vault.open(path, key(PASSPHRASE)).set('a', 'value');
    expect(openError(path, 'another passphrase entirely').reason).toBe('wrong_key');
    expect(openError(path, HEX_KEY).reason).toBe('wrong_key');
  });

  it('detects a flipped byte anywhere in the file and never returns a value', () => {
    const path = tempVault();
    const vault = Vault.open(path, key(HEX_KEY));
    vault.set('api', 'sk-the-real-value');
    vault.set('b', 'another');
    vault.close();
    const original = readFileSync(path);
    let checked = 0;
    for (let i = 0; i < original.length; i += 3) {
      const tampered = Buffer.from(original);
      tampered[i] = tampered[i]! ^ 0x01;
      writeFileSync(path, tampered);
      let opened: Vault | undefined;
      try {
        opened = Vault.open(path, key(HEX_KEY));
      } catch (err) {
        expect(err).toBeInstanceOf(VaultError);
        expect(['tampered', 'bad_format', 'wrong_key']).toContain((err as VaultError).reason);
        checked++;
        continue;
      }
      // Only a flip that JSON parsing normalizes away (e.g. inside insignificant whitespace) may open,
      // and then the contents must be exactly the original ones.
      expect(reveal(opened, 'api')).toBe('sk-the-real-value');
      opened.close();
    }
    expect(checked).toBeGreaterThan(original.length / 3 - 40);
    writeFileSync(path, original);
    expect(reveal(Vault.open(path, key(HEX_KEY)), 'api')).toBe('sk-the-real-value');
  });

  it('detects ciphertexts swapped between names and removed entries', () => {
    const path = tempVault();
    const vault = Vault.open(path, key(HEX_KEY));
    vault.set('a', 'value-a');
    vault.set('b', 'value-b');
    vault.close();
    const file = JSON.parse(readFileSync(path, 'utf8'));
    const swapped = structuredClone(file);
    [swapped.secrets.a, swapped.secrets.b] = [file.secrets.b, file.secrets.a];
    writeFileSync(path, JSON.stringify(swapped));
    expect(openError(path, HEX_KEY).reason).toBe('tampered');
    const removed = structuredClone(file);
    delete removed.secrets.b;
    writeFileSync(path, JSON.stringify(removed));
    expect(openError(path, HEX_KEY).reason).toBe('tampered');
    const bomb = structuredClone(file);
    bomb.kdf.N = 2 ** 30;
    writeFileSync(path, JSON.stringify(bomb));
    expect(openError(path, HEX_KEY).reason).toBe('bad_format');
  });

  it('an ephemeral key never reads or writes the file', () => {
    const path = tempVault();
    const vault = Vault.open(path, ephemeralMasterKey());
    expect(vault.persistent).toBe(false);
    expect(() => vault.set('x', 'y')).toThrow(/ephemeral/);
    expect(existsSync(path)).toBe(false);
  });

  it('rotates to a new key: old key refused, new key opens, values intact', () => {
    const path = tempVault();
    const vault = Vault.open(path, key(PASSPHRASE));
    vault.set('one', 'first');
    vault.set('two', 'second');
    const saltBefore = JSON.parse(readFileSync(path, 'utf8')).kdf.salt;
    vault.rotate(key(HEX_KEY));
    expect(reveal(vault, 'two')).toBe('second');
    vault.close();
    expect(JSON.parse(readFileSync(path, 'utf8')).kdf.salt).not.toBe(saltBefore);
    expect(openError(path, PASSPHRASE).reason).toBe('wrong_key');
    const reopened = Vault.open(path, key(HEX_KEY));
    expect([reveal(reopened, 'one'), reveal(reopened, 'two')]).toEqual(['first', 'second']);
  });
});

describe('crash during rotation (real process, SIGKILL between steps)', () => {
  const NEW_KEY = randomBytes(32).toString('hex');

  async function rotateAndKillAt(path: string, step: 'temp-written' | 'renamed'): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'rotate-vault.ts'), path], {
      env: { ...process.env, ABI_MASTER_KEY: PASSPHRASE, ABI_NEW_MASTER_KEY: NEW_KEY, ABI_TEST_PAUSE_AT: step },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes(`abi-test-paused:${step}`)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`child exited (${code}) before pausing: ${stderr}`)));
    });
    const exited = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
  }

  function seeded(): string {
    const path = tempVault();
    const vault = Vault.open(path, key(PASSPHRASE));
    for (let i = 0; i < 5; i++) vault.set(`s${i}`, `value-${i}`);
    vault.close();
    return path;
  }

  it('killed after the temp file is written: the old vault opens with the old key', async () => {
    const path = seeded();
    await rotateAndKillAt(path, 'temp-written');
    const vault = Vault.open(path, key(PASSPHRASE));
    expect(reveal(vault, 's4')).toBe('value-4');
    expect(openError(path, NEW_KEY).reason).toBe('wrong_key');
    // The leftover temp file is complete but never read; the vault itself is untouched.
    expect(readdirSync(join(path, '..')).some((f) => f.endsWith('.tmp'))).toBe(true);
    // The next write removes the dead writer's leftover.
    vault.set('s5', 'value-5');
    expect(readdirSync(join(path, '..')).some((f) => f.endsWith('.tmp'))).toBe(false);
  }, 60_000);

  it('killed right after the rename: the new vault opens with the new key', async () => {
    const path = seeded();
    await rotateAndKillAt(path, 'renamed');
    expect(openError(path, PASSPHRASE).reason).toBe('wrong_key');
    const vault = Vault.open(path, key(NEW_KEY));
    expect(vault.list()).toHaveLength(5);
    expect(reveal(vault, 's0')).toBe('value-0');
  }, 60_000);
});

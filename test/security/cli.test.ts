/**
 * `abi keys …` and `abi secrets …` as real processes (`node bin/abi.js`, needs `npm run build`).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ABI_BIN, REPO_ROOT } from '../support/spawn-abi.js';
import { ApiKeyStore } from '../../lib/security/api-keys.js';

function abi(args: string[], opts: { env?: Record<string, string | undefined>; stdin?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
    for (const [k, v] of Object.entries(opts.env ?? {})) if (v === undefined) delete env[k];
    const proc = spawn(process.execPath, [ABI_BIN, ...args], { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stdin.end(opts.stdin ?? '');
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`abi ${args.join(' ')} hung: ${stderr}`));
    }, 20_000);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(() => {
  if (!existsSync(join(REPO_ROOT, 'dist', 'cli', 'commands', 'secrets.js'))) throw new Error('run `npm run build` first: dist/cli/commands/secrets.js is missing');
});

describe('abi keys', () => {
  it('create prints the key once, list never shows it, revoke removes it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'abi-cli-keys-')), 'keys.json');
    const created = await abi(['keys', 'create', 'team-a', '--scopes', 'chat,admin', '--rpm', '30', '--tpm', '5000', '--file', file]);
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^abi-[0-9a-f]{12}-[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toMatch(/not shown again/);
    expect(readFileSync(file, 'utf8')).not.toContain(key);
    expect(new ApiKeyStore(file).verify(key)).toMatchObject({ name: 'team-a', scopes: ['chat', 'admin'], limits: { requestsPerMinute: 30, tokensPerMinute: 5000 } });

    const listed = await abi(['keys', 'list', '--json'], { env: { ABI_KEYS_FILE: file } });
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(key);
    expect(listed.stdout).not.toContain('sha256');
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ name: 'team-a', scopes: ['chat', 'admin'] })]);

    const dup = await abi(['keys', 'create', 'team-a', '--file', file]);
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toMatch(/already exists/);

    const revoked = await abi(['keys', 'revoke', 'team-a', '--file', file]);
    expect(revoked.code).toBe(0);
    expect(new ApiKeyStore(file).verify(key)).toBeNull();
  }, 60_000);
});

describe('abi keys and secrets follow the config file', () => {
  it('writes where auth.apiKeysFile / secrets.vaultFile point, so abi serve reads the same files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'abi-cli-config-'));
    const config = join(dir, 'abi.config.json');
    writeFileSync(config, JSON.stringify({ auth: { apiKeysFile: join(dir, 'k.json') }, secrets: { vaultFile: join(dir, 'v.json') } }));
    const created = await abi(['keys', 'create', 'via-config', '--config', config], { env: { ABI_KEYS_FILE: join(dir, 'wrong.json') } });
    expect(created.code).toBe(0);
    expect(new ApiKeyStore(join(dir, 'k.json')).verify(created.stdout.trim())?.name).toBe('via-config');
    expect(existsSync(join(dir, 'wrong.json'))).toBe(false);
    const set = await abi(['secrets', 'set', 'A', '--value', 'value-a', '--config', config], { env: { ABI_MASTER_KEY: 'e'.repeat(64) } });
    expect(set.code).toBe(0);
    expect(existsSync(join(dir, 'v.json'))).toBe(true);
  }, 60_000);
});

describe('abi secrets', () => {
  const MASTER = 'a passphrase for the cli test';
  const NEW_MASTER = 'f00d'.repeat(16);

  it('set (stdin) / get / list / rm / rotate-key, and refusals with clear one-line errors', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'abi-cli-vault-')), 'vault.json');
    const env = { ABI_MASTER_KEY: MASTER, ABI_VAULT_FILE: file };
    expect((await abi(['secrets', 'set', 'OPENAI'], { env, stdin: 'sk-cli-secret-value-1234\n' })).code).toBe(0);
    expect(readFileSync(file, 'utf8')).not.toContain('sk-cli-secret-value-1234');
    expect(await abi(['secrets', 'get', 'OPENAI'], { env })).toMatchObject({ code: 0, stdout: 'sk-cli-secret-value-1234\n' });
    expect((await abi(['secrets', 'set', 'OTHER', '--value', 'v2-value'], { env })).code).toBe(0);
    expect((await abi(['secrets', 'list'], { env })).stdout).toBe('OPENAI\nOTHER\n');

    const noKey = await abi(['secrets', 'list'], { env: { ABI_VAULT_FILE: file, ABI_MASTER_KEY: undefined } });
    expect(noKey.code).not.toBe(0);
    expect(noKey.stderr.trim().split('\n')).toHaveLength(1);
    expect(noKey.stderr).toMatch(/MASTER_KEY_REQUIRED: .*set ABI_MASTER_KEY/);

    const wrong = await abi(['secrets', 'get', 'OPENAI'], { env: { ...env, ABI_MASTER_KEY: 'not the right passphrase' } });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/does not open vault/);
    expect(wrong.stdout).toBe('');

    const empty = await abi(['secrets', 'list'], { env: { ...env, ABI_MASTER_KEY: '' } });
    expect(empty.stderr).toMatch(/ABI_MASTER_KEY is not usable: it is empty/);

    const rotated = await abi(['secrets', 'rotate-key'], { env: { ...env, ABI_NEW_MASTER_KEY: NEW_MASTER } });
    expect(rotated.code).toBe(0);
    expect(rotated.stderr).toMatch(/re-encrypted 2 secrets/);
    expect((await abi(['secrets', 'get', 'OPENAI'], { env })).code).not.toBe(0);
    expect((await abi(['secrets', 'get', 'OPENAI'], { env: { ...env, ABI_MASTER_KEY: NEW_MASTER } })).stdout).toBe('sk-cli-secret-value-1234\n');

    expect((await abi(['secrets', 'rm', 'OTHER'], { env: { ...env, ABI_MASTER_KEY: NEW_MASTER } })).code).toBe(0);
    expect((await abi(['secrets', 'list'], { env: { ...env, ABI_MASTER_KEY: NEW_MASTER } })).stdout).toBe('OPENAI\n');
  }, 120_000);
});

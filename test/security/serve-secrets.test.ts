/**
 * `abi serve` start-up with secrets, as a real process (needs `npm run build`): MASTER_KEY_REQUIRED,
 * wrong key and tampered vault stop it with one stderr line and a non-zero exit; with the right key a
 * `"secret:NAME"` provider key from the vault reaches the upstream; without a key it warns and runs.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMasterKey } from '../../lib/security/master-key.js';
import { Vault } from '../../lib/security/vault.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { runAbi, spawnAbiServe } from '../support/spawn-abi.js';

const MASTER = '5eed'.repeat(16);
const UPSTREAM_KEY = 'sk-vault-held-provider-key-0123456789';
const OPERATOR = 'serve-secrets-operator-token';

describe('abi serve and the vault', () => {
  let upstream: FakeOpenAI;
  let dir: string;
  let vaultFile: string;
  const configWith = (name: string, secrets: Record<string, unknown>): string => {
    const path = join(dir, name);
    writeFileSync(
      path,
      JSON.stringify({
        secrets: { vaultFile, ...secrets },
        auth: { tokens: [OPERATOR], apiKeysFile: join(dir, 'keys.json') },
        backends: { primary: { type: 'openai', baseUrl: upstream.baseUrl, apiKey: 'secret:UPSTREAM_KEY' } },
      }),
    );
    return path;
  };

  beforeAll(async () => {
    upstream = await startFakeOpenAI({ apiKey: UPSTREAM_KEY });
    dir = mkdtempSync(join(tmpdir(), 'abi-serve-secrets-'));
    vaultFile = join(dir, 'vault.json');
    const vault = Vault.open(vaultFile, readMasterKey({ ABI_MASTER_KEY: MASTER })!);
    vault.set('UPSTREAM_KEY', UPSTREAM_KEY);
    vault.close();
  });
  afterAll(() => upstream?.close());

  it('requireMasterKey without ABI_MASTER_KEY: MASTER_KEY_REQUIRED, one stderr line, non-zero exit', async () => {
    const r = await runAbi(['serve', '--config', configWith('required.json', { requireMasterKey: true }), '--port', '0'], { env: { ABI_MASTER_KEY: undefined } });
    expect(r.code).toBe(2); // the "unusable configuration" exit code docs/deployment.md tells systemd not to restart on
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/MASTER_KEY_REQUIRED/);
    expect(lines[0]).toMatch(/set ABI_MASTER_KEY/);
  }, 60_000);

  it('a wrong key and a tampered vault stop start-up with one line each', async () => {
    const config = configWith('normal.json', { requireMasterKey: true });
    const wrong = await runAbi(['serve', '--config', config, '--port', '0'], { env: { ABI_MASTER_KEY: 'beef'.repeat(16) } });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).toMatch(/does not open vault/);

    const original = readFileSync(vaultFile, 'utf8');
    const file = JSON.parse(original);
    const ct = Buffer.from(file.secrets.UPSTREAM_KEY.ciphertext, 'base64');
    ct[0] = ct[0]! ^ 0x80;
    file.secrets.UPSTREAM_KEY.ciphertext = ct.toString('base64');
    writeFileSync(vaultFile, JSON.stringify(file));
    try {
      const tampered = await runAbi(['serve', '--config', config, '--port', '0'], { env: { ABI_MASTER_KEY: MASTER } });
      expect(tampered.code).not.toBe(0);
      expect(tampered.stderr).toMatch(/modified or corrupted/);
      expect(tampered.stderr).not.toContain(UPSTREAM_KEY);
    } finally {
      writeFileSync(vaultFile, original);
    }
  }, 60_000);

  it('with the key: the vault secret authenticates to the upstream, and a reload resolves it again', async () => {
    const abi = await spawnAbiServe(['--config', configWith('ok.json', { requireMasterKey: true }), '--port', '0'], { env: { ABI_MASTER_KEY: MASTER, ABI_LOG_LEVEL: 'debug' } });
    try {
      const headers = { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' };
      const ask = () => fetch(`${abi.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ model: 'fake-model', messages: [{ role: 'user', content: 'hi' }] }) });
      const first = await ask();
      expect(first.status).toBe(200);
      await first.arrayBuffer();
      expect(upstream.requests.at(-1)!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
      const reload = await fetch(`${abi.url}/admin/reload`, { method: 'POST', headers });
      expect(reload.status).toBe(200);
      await reload.arrayBuffer();
      const second = await ask();
      expect(second.status).toBe(200);
      await second.arrayBuffer();
      abi.kill('SIGTERM');
      expect((await abi.exited).code).toBe(0);
      expect(abi.stdout() + abi.stderr()).not.toContain(UPSTREAM_KEY);
      expect(abi.stdout() + abi.stderr()).not.toContain(MASTER);
    } finally {
      abi.kill('SIGKILL');
    }
  }, 60_000);

  it('without a key and not required: a warning, it serves, and the vault file is untouched', async () => {
    const before = readFileSync(vaultFile, 'utf8');
    const path = join(dir, 'no-secrets.json');
    writeFileSync(path, JSON.stringify({ secrets: { vaultFile }, auth: { tokens: [OPERATOR], apiKeysFile: join(dir, 'keys.json') } }));
    const abi = await spawnAbiServe(['--config', path, '--port', '0'], { env: { ABI_MASTER_KEY: undefined } });
    try {
      expect((await fetch(`${abi.url}/health`)).status).toBe(200);
      expect(abi.stderr()).toMatch(/ABI_MASTER_KEY is not set: using an ephemeral key/);
    } finally {
      abi.kill('SIGTERM');
      await abi.exited;
    }
    expect(readFileSync(vaultFile, 'utf8')).toBe(before);
  }, 60_000);
});

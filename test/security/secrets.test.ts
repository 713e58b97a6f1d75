import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config/index.js';
import { readMasterKey } from '../../lib/security/master-key.js';
import { ProviderSecrets, REDACTED, scrubPatterns } from '../../lib/security/secrets.js';
import { openSecretsRuntime, readSecretsSection } from '../../lib/security/startup.js';
import { Vault } from '../../lib/security/vault.js';

const HEX_KEY = '0123456789abcdef'.repeat(4);
const OPENAI_KEY = 'sk-proj-TESTKEY0123456789abcdefXYZ';
const quiet = { warn: () => {} };

function capture() {
  const warnings: string[] = [];
  return { warnings, warn: (_o: object, msg: string) => warnings.push(msg) };
}

function seededVault(values: Record<string, string>): string {
  const path = join(mkdtempSync(join(tmpdir(), 'abi-secrets-')), 'vault.json');
  const vault = Vault.open(path, readMasterKey({ ABI_MASTER_KEY: HEX_KEY })!);
  for (const [k, v] of Object.entries(values)) vault.set(k, v);
  vault.close();
  return path;
}

describe('ProviderSecrets', () => {
  it('moves provider variables into secure memory, hands out getters and wipes them on dispose', () => {
    const env: NodeJS.ProcessEnv = { ABI_OPENAI_API_KEY: OPENAI_KEY, ABI_OLLAMA_HOST: 'http://127.0.0.1:11434', OTHER: 'kept' };
    const secrets = new ProviderSecrets({ env });
    expect(env.ABI_OPENAI_API_KEY).toBeUndefined();
    expect(env.ABI_OLLAMA_HOST).toBeUndefined();
    expect(env.OTHER).toBe('kept');
    const getKey = secrets.getter('env:ABI_OPENAI_API_KEY');
    expect(getKey()).toBe(OPENAI_KEY);
    expect(secrets.resolve('env:OTHER')).toBe('kept');
    expect(() => secrets.getter('env:ABI_ANTHROPIC_API_KEY')).toThrow(/ABI_ANTHROPIC_API_KEY is not set/);
    expect(() => secrets.getter('secret:X')).toThrow(/no vault is open/);
    secrets.dispose();
    expect(() => getKey()).toThrow(/disposed/);
  });

  it('scrubs held secrets and credential shapes from any text', () => {
    const secrets = new ProviderSecrets({ env: { ABI_ANTHROPIC_API_KEY: 'plain-looking-secret-value-42' } });
    const upstream401 = `{"error":{"message":"Incorrect API key provided: plain-looking-secret-value-42. Also Bearer ${OPENAI_KEY}"}}`;
    const scrubbed = secrets.scrub(upstream401);
    expect(scrubbed).not.toContain('plain-looking-secret-value-42');
    expect(scrubbed).not.toContain(OPENAI_KEY);
    expect(scrubbed).toContain(REDACTED);
    expect(scrubbed).toContain('Incorrect API key provided');
    expect(secrets.scrub('nothing secret here')).toBe('nothing secret here');
    expect(secrets.scrub('x plain-looking-secret-value-4 y')).toBe('x plain-looking-secret-value-4 y');
  });

  it.each([
    [`key ${OPENAI_KEY} end`],
    ['sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123'],
    ['abi-0123456789ab-' + 'A'.repeat(43)],
    ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl'],
    ['authorization: Bearer abcdefgh12345678'],
    ['{"api_key":"zzzzzzzzzzzzzzzz"}'],
  ])('scrubPatterns hides %s', (text) => {
    const out = scrubPatterns(text);
    expect(out).toContain(REDACTED);
    for (const secret of [OPENAI_KEY, 'abcdefghijklmnopqrstuvwxyz0123', 'A'.repeat(43), 'c2lnbmF0dXJlLXZhbHVl', 'abcdefgh12345678', 'zzzzzzzzzzzzzzzz']) {
      expect(out).not.toContain(secret);
    }
  });
});

describe('openSecretsRuntime', () => {
  it('refuses to start with requireMasterKey and no key (MASTER_KEY_REQUIRED)', () => {
    expect(() => openSecretsRuntime({ requireMasterKey: true }, { env: {}, logger: quiet })).toThrow(expect.objectContaining({ code: 'MASTER_KEY_REQUIRED' }));
  });

  it('without a key: ephemeral, with a warning, and never touches the vault file', () => {
    const logger = capture();
    const path = join(mkdtempSync(join(tmpdir(), 'abi-secrets-')), 'never.json');
    const rt = openSecretsRuntime({ vaultFile: path }, { env: {}, logger });
    expect(logger.warnings.join('\n')).toMatch(/ABI_MASTER_KEY is not set: using an ephemeral key/);
    expect(() => rt.resolveSecret('X')).toThrow(/no vault is open/);
    rt.dispose();
  });

  it('stops start-up on a wrong master key', () => {
    const path = seededVault({ A: 'x' });
    expect(() => openSecretsRuntime({ vaultFile: path }, { env: { ABI_MASTER_KEY: 'f'.repeat(64) }, logger: quiet })).toThrow(/does not open vault/);
  });

  it('resolves secret:NAME and env: provider keys through the real config loader, keeping backend keys as handles', async () => {
    const vaultFile = seededVault({ OPENAI_KEY: OPENAI_KEY, JWT_SECRET: 'a-jwt-secret-of-at-least-thirty-two-bytes' });
    const dir = mkdtempSync(join(tmpdir(), 'abi-config-'));
    const configPath = join(dir, 'abi.config.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        secrets: { vaultFile, requireMasterKey: true },
        auth: { tokens: ['env:ABI_AUTH_TOKEN'], jwt: { algorithms: ['HS256'], secret: 'secret:JWT_SECRET' } },
        backends: {
          primary: { type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'secret:OPENAI_KEY' },
          second: { type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'env:ABI_OPENAI_API_KEY' },
        },
        routes: [{ model: '*', targets: [{ backend: 'primary' }] }],
        rateLimits: { default: { requestsPerMinute: 60 } },
      }),
    );
    const env: NodeJS.ProcessEnv = { ABI_MASTER_KEY: HEX_KEY, ABI_OPENAI_API_KEY: 'sk-from-env-0123456789abcdef', ABI_AUTH_TOKEN: 'op-token' };
    const section = readSecretsSection(configPath);
    expect(section).toEqual({ vaultFile, requireMasterKey: true });
    const rt = openSecretsRuntime(section, { env, logger: quiet });
    expect(env.ABI_MASTER_KEY).toBeUndefined();
    expect(env.ABI_OPENAI_API_KEY).toBeUndefined();
    const config = loadConfig(configPath, { env: rt.configEnv, resolveSecret: (n) => rt.resolveSecret(n), resolveEnvSecret: (n) => rt.resolveEnvSecret(n) });
    const token = config.auth.tokens[0] as unknown as { revealString(): string };
    expect(typeof token).toBe('object'); // a handle, not the token string
    expect(token.revealString()).toBe('op-token');
    const primary = config.backends.primary as unknown as { apiKey: { revealString(): string } };
    const second = config.backends.second as unknown as { apiKey: { revealString(): string } };
    expect(primary.apiKey.revealString()).toBe(OPENAI_KEY);
    expect(second.apiKey.revealString()).toBe('sk-from-env-0123456789abcdef');
    expect(config.rateLimits.default).toEqual({ requestsPerMinute: 60 });
    expect(config.auth.jwt?.algorithms).toEqual(['HS256']);
    expect(JSON.stringify(config)).not.toContain(OPENAI_KEY);
    expect(rt.scrub(`echo ${OPENAI_KEY}`)).toBe(`echo ${REDACTED}`);

    // Reload wipes vault-resolved secrets (old handles die) and resolves them again from the vault.
    await Promise.resolve();
    rt.reload();
    expect(() => primary.apiKey.revealString()).toThrow(/disposed/);
    const again = loadConfig(configPath, { env: rt.configEnv, resolveSecret: (n) => rt.resolveSecret(n) });
    expect((again.backends.primary as unknown as { apiKey: { revealString(): string } }).apiKey.revealString()).toBe(OPENAI_KEY);
    rt.dispose();
    expect(() => (again.backends.primary as unknown as { apiKey: { revealString(): string } }).apiKey.revealString()).toThrow(/disposed/);
    // The env: provider key reached the backend as a secure-memory handle too: wiped on dispose.
    expect(() => second.apiKey.revealString()).toThrow(/disposed/);
    expect(rt.resolveEnvSecret('NOT_SET_ANYWHERE')).toBeUndefined();
    expect(() => rt.secrets.resolve('env:ABI_OPENAI_API_KEY')).toThrow();
  });

  it('reports a missing secret by name, never a value', () => {
    const vaultFile = seededVault({ PRESENT: 'value-that-must-not-leak' });
    const rt = openSecretsRuntime({ vaultFile }, { env: { ABI_MASTER_KEY: HEX_KEY }, logger: quiet });
    expect(() =>
      loadConfig(
        { backends: { b: { type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'secret:ABSENT' } }, routes: [{ model: '*', targets: [{ backend: 'b' }] }] },
        { env: rt.configEnv, resolveSecret: (n) => rt.resolveSecret(n) },
      ),
    ).toThrow(/backends\.b\.apiKey.*ABSENT/);
    rt.dispose();
  });
});

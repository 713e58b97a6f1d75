/**
 * A provider key never shows up in what a real `abi serve` process writes (stdout, stderr at debug
 * level), in error responses, /health or /metrics — also when the upstream answers 401 and echoes
 * the key back in its error body. Needs `npm run build`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { spawnAbiServe, type SpawnedAbi } from '../support/spawn-abi.js';
import { readMasterKey } from '../../lib/security/master-key.js';
import { Vault } from '../../lib/security/vault.js';

const OPERATOR = 'leak-test-operator-token-0123456789';
const echoing401 = (PROVIDER_KEY: string) => ({
  status: 401,
  errorBody: { error: { message: `Incorrect API key provided: ${PROVIDER_KEY}. You can find your API key at https://example/keys.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } },
});

// A key with a provider's shape, and one with no recognisable shape at all.
describe.each(['sk-proj-LEAKCANARY0123456789abcdefghijklmnop', 'plainproviderkeywithoutprefix0123456789'])('key %s stays out of every output of abi serve', (PROVIDER_KEY) => {
  let upstream: FakeOpenAI;
  let abi: SpawnedAbi;

  beforeAll(async () => {
    upstream = await startFakeOpenAI({ scenario: echoing401(PROVIDER_KEY) });
    const dir = mkdtempSync(join(tmpdir(), 'abi-leak-'));
    const config = join(dir, 'abi.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        auth: { tokens: ['env:ABI_AUTH_TOKEN'], apiKeysFile: join(dir, 'keys.json') },
        backends: { primary: { type: 'openai', baseUrl: upstream.baseUrl, apiKey: 'env:ABI_OPENAI_API_KEY' } },
      }),
    );
    abi = await spawnAbiServe(['--config', config, '--port', '0'], {
      env: { ABI_LOG_LEVEL: 'debug', ABI_OPENAI_API_KEY: PROVIDER_KEY, ABI_AUTH_TOKEN: OPERATOR, ABI_MASTER_KEY: undefined },
      cwd: dir,
    });
  }, 60_000);

  afterAll(async () => {
    abi?.kill('SIGKILL');
    await upstream?.close();
  });

  it('upstream 401 echoing the key: the client error, health, metrics and all logs are clean', async () => {
    const headers = { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' };
    const bodies: string[] = [];
    for (const stream of [false, true]) {
      const res = await fetch(`${abi.url}/v1/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ model: 'fake-model', stream, messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(res.status).toBeGreaterThanOrEqual(400);
      bodies.push(await res.text());
    }
    // The key really was sent upstream (so it was available to leak).
    expect(upstream.requests.length).toBeGreaterThanOrEqual(2);
    expect(upstream.requests[0]!.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);

    bodies.push(await (await fetch(`${abi.url}/health`)).text());
    bodies.push(await (await fetch(`${abi.url}/metrics`, { headers })).text());
    bodies.push(await (await fetch(`${abi.url}/v1/models`, { headers })).text());

    abi.kill('SIGTERM');
    const exit = await abi.exited;
    expect(exit.code).toBe(0);

    const everything = [...bodies, abi.stdout(), abi.stderr()].join('\n');
    expect(abi.stderr()).toContain('answered HTTP 401'); // the echoing upstream error was logged, scrubbed
    expect(abi.stderr()).toMatch(/"level":20/); // debug lines were written
    expect(everything).not.toContain(PROVIDER_KEY);
    expect(everything).not.toContain(PROVIDER_KEY.slice(8, 30));
    expect(everything).not.toContain(OPERATOR);
  }, 60_000);
});

describe('an echoed vault secret with no recognisable shape is scrubbed by exact match', () => {
  it('the key never appears in abi serve output at debug level', async () => {
    const KEY = 'zq7Lm2Vx9Pw4Rt6Yu8Io0Pa3Sd5Fg1Hj';
    const MASTER = 'c0de'.repeat(16);
    const upstream = await startFakeOpenAI({
      scenario: { status: 401, errorBody: { error: { message: `denied (credential=${KEY}) for this organisation`, type: 'invalid_request_error', param: null, code: null } } },
    });
    const dir = mkdtempSync(join(tmpdir(), 'abi-leak-vault-'));
    const vaultFile = join(dir, 'vault.json');
    const vault = Vault.open(vaultFile, readMasterKey({ ABI_MASTER_KEY: MASTER })!);
    vault.set('ODD_KEY', KEY);
    vault.close();
    const config = join(dir, 'abi.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        secrets: { vaultFile, requireMasterKey: true },
        auth: { tokens: [OPERATOR], apiKeysFile: join(dir, 'keys.json') },
        backends: { primary: { type: 'openai', baseUrl: upstream.baseUrl, apiKey: 'secret:ODD_KEY' } },
      }),
    );
    const abi = await spawnAbiServe(['--config', config, '--port', '0'], { env: { ABI_LOG_LEVEL: 'debug', ABI_MASTER_KEY: MASTER }, cwd: dir });
    try {
      const res = await fetch(`${abi.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fake-model', messages: [{ role: 'user', content: 'hi' }] }),
      });
      const body = await res.text();
      expect(upstream.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
      abi.kill('SIGTERM');
      await abi.exited;
      expect(abi.stderr()).toContain('denied (credential=');
      expect([body, abi.stdout(), abi.stderr()].join('\n')).not.toContain(KEY);
    } finally {
      abi.kill('SIGKILL');
      await upstream.close();
    }
  }, 60_000);
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, matchRoute, type RouteConfig } from '../../lib/config/index.js';
import type { OpenAIBackendConfig } from '../../lib/backends/openai.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).code).toBe('ABI_ERR_CONFIG');
    return e as ConfigError;
  }
  throw new Error('config was accepted');
}

const backend = { type: 'openai', baseUrl: 'http://127.0.0.1:9001/v1/' };

describe('loadConfig defaults', () => {
  it('fills every default from an empty object', () => {
    const c = loadConfig({}, { env: {} });
    expect(c.server).toEqual({
      host: '127.0.0.1',
      port: 8080,
      heartbeatMs: 15000,
      maxConcurrentStreams: 100,
      maxStreamsPerConnection: 100,
      shutdownGraceMs: 30000,
      bodyLimitBytes: 1048576,
      headersTimeoutMs: 10000,
      requestTimeoutMs: 60000,
      keepAliveTimeoutMs: 5000,
      maxHeaderSize: 16384,
      maxJsonDepth: 64,
      maxMessages: 2048,
      maxTotalChars: 4194304,
      maxBufferedBytesPerStream: 1048576,
      slowClientTimeoutMs: 30000,
      wsMaxPayloadBytes: 1048576,
    });
    expect(c.auth).toEqual({ tokens: [], staticTokenScopes: ['admin'], allowHealthWithoutAuth: true });
    expect(c.backends).toEqual({});
    expect(c.routes).toEqual([]);
  });

  it('reads the issue 3 example with env references', () => {
    const c = loadConfig(
      {
        server: { host: '0.0.0.0', port: 0, heartbeatMs: 500, maxTokensCap: 4096 },
        auth: { tokens: ['env:ABI_AUTH_TOKEN'], allowHealthWithoutAuth: false },
        backends: {
          primary: { ...backend, apiKey: 'env:ABI_OPENAI_API_KEY', timeouts: { connectMs: 1000, firstTokenMs: 2000 } },
          backup: { type: 'openai', baseUrl: 'https://example.test/v1', continuation: true, headers: { 'OpenAI-Organization': 'org-1' }, models: ['a'] },
        },
        routes: [
          { model: 'gpt-4o-mini', targets: [{ backend: 'primary' }, { backend: 'backup', model: 'other-name', contextLength: 8192 }] },
          { model: '*', targets: [{ backend: 'primary' }] },
        ],
      },
      { env: { ABI_AUTH_TOKEN: 'tok', ABI_OPENAI_API_KEY: 'sk-live' } },
    );
    expect(c.server).toMatchObject({ host: '0.0.0.0', port: 0, heartbeatMs: 500, maxTokensCap: 4096 });
    expect(c.auth.tokens.map((t) => (typeof t === 'string' ? t : t.revealString()))).toEqual(['tok']);
    expect(JSON.stringify(c.auth)).not.toContain('tok"');
    const primary = c.backends.primary! as OpenAIBackendConfig;
    expect(primary.baseUrl).toBe('http://127.0.0.1:9001/v1');
    expect(primary.apiKey!.revealString()).toBe('sk-live');
    expect(JSON.stringify(primary)).not.toContain('sk-live');
    expect(primary.timeouts).toEqual({ connectMs: 1000, firstTokenMs: 2000, idleMs: 30000, totalMs: 600000 });
    expect(primary.continuation).toBe(false);
    expect(primary.maxConnections).toBe(256);
    expect(c.backends.backup).toMatchObject({ continuation: true, headers: { 'OpenAI-Organization': 'org-1' }, models: ['a'] });
    expect(c.routes[0]!.targets[1]).toEqual({ backend: 'backup', model: 'other-name', contextLength: 8192 });
  });

  it('routes every model to all backends in order when routes are absent', () => {
    const c = loadConfig({ backends: { a: backend, b: backend } }, { env: {} });
    expect(c.routes).toEqual([{ model: '*', targets: [{ backend: 'a' }, { backend: 'b' }] }]);
  });

  it('loads from a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'abi-config-'));
    const file = join(dir, 'abi.config.json');
    writeFileSync(file, JSON.stringify({ server: { port: 1234 } }));
    expect(loadConfig(file, { env: {} }).server.port).toBe(1234);
    writeFileSync(file, '{ nope');
    expect(configError(() => loadConfig(file)).message).toMatch(/not valid JSON/);
    expect(configError(() => loadConfig(join(dir, 'missing.json'))).message).toMatch(/ENOENT/);
  });
});

describe('loadConfig errors name the key', () => {
  it.each([
    [{ serve: {} }, 'serve', /unknown key/],
    [{ server: { prot: 1 } }, 'server.prot', /unknown key/],
    [{ server: { port: 70000 } }, 'server.port', /between 0 and 65535/],
    [{ server: { port: '80' } }, 'server.port', /must be a number/],
    [{ server: { heartbeatMs: 1000.5 } }, 'server.heartbeatMs', /integer/],
    [{ server: { headersTimeoutMs: 9000, requestTimeoutMs: 5000 } }, 'server.headersTimeoutMs', /requestTimeoutMs/],
    [{ server: [] }, 'server', /must be an object/],
    [{ auth: { tokens: 'x' } }, 'auth.tokens', /array/],
    [{ auth: { tokens: [''] } }, 'auth.tokens[0]', /non-empty|empty/],
    [{ auth: { tokens: [5] } }, 'auth.tokens[0]', /non-empty string/],
    [{ auth: { allowHealthWithoutAuth: 'yes' } }, 'auth.allowHealthWithoutAuth', /true or false/],
    [{ backends: { a: {} } }, 'backends.a.type', /required/],
    [{ backends: { a: { type: 'nope' } } }, 'backends.a.type', /unknown backend type "nope"; known types: openai/],
    [{ backends: { a: { type: 'openai' } } }, 'backends.a.baseUrl', /required/],
    [{ backends: { a: { type: 'openai', baseUrl: 'ftp://x' } } }, 'backends.a.baseUrl', /http or https/],
    [{ backends: { a: { type: 'openai', baseUrl: 'not a url' } } }, 'backends.a.baseUrl', /absolute/],
    [{ backends: { a: { type: 'openai', baseUrl: 'http://u:p@x/v1' } } }, 'backends.a.baseUrl', /credentials/],
    [{ backends: { a: { ...backend, timeout: {} } } }, 'backends.a.timeout', /unknown key/],
    [{ backends: { a: { ...backend, timeouts: { connect: 1 } } } }, 'backends.a.timeouts.connect', /unknown key/],
    [{ backends: { a: { ...backend, timeouts: { idleMs: 0 } } } }, 'backends.a.timeouts.idleMs', /between/],
    [{ backends: { a: { ...backend, headers: { 'bad header': 'x' } } } }, 'backends.a.headers.bad header', /header name/],
    [{ backends: { a: { ...backend, headers: { x: 'a\r\nb' } } } }, 'backends.a.headers.x', /CR, LF/],
    [{ backends: { a: { ...backend, maxTokensField: 'x' } } }, 'backends.a.maxTokensField', /one of/],
    [{ backends: { 'bad name': backend } }, 'backends.bad name', /backend names/],
    [{ backends: { a: backend }, routes: {} }, 'routes', /array/],
    [{ backends: { a: backend }, routes: [{ model: 'm', targets: [] }] }, 'routes[0].targets', /at least one/],
    [{ backends: { a: backend }, routes: [{ targets: [{ backend: 'a' }] }] }, 'routes[0].model', /required/],
    [{ backends: { a: backend }, routes: [{ model: 'm', targets: [{ backend: 'a' }] }, { model: '*', targets: [{ backend: 'b' }] }] }, 'routes[1].targets[0].backend', /route 1 names backend "b"/],
    [{ backends: { a: backend }, routes: [{ model: 'm', targets: [{ backend: 'a', weight: 1 }] }] }, 'routes[0].targets[0].weight', /unknown key/],
    [{ backends: { a: backend }, routes: [{ model: 'm', targets: [{ backend: 'a', model: '' }] }] }, 'routes[0].targets[0].model', /empty/],
  ])('%j → %s', (raw, key, message) => {
    const e = configError(() => loadConfig(raw, { env: {} }));
    expect(e.key).toBe(key);
    expect(e.message).toMatch(message);
    expect(e.message).toContain(`'${key}'`);
  });
});

describe('env: and secret: references', () => {
  it('names the key and the variable when the environment lacks it', () => {
    const e = configError(() => loadConfig({ backends: { a: { ...backend, apiKey: 'env:ABI_OPENAI_API_KEY' } } }, { env: {} }));
    expect(e.key).toBe('backends.a.apiKey');
    expect(e.message).toMatch(/ABI_OPENAI_API_KEY is not set/);
  });

  it('resolves numbers from the environment', () => {
    expect(loadConfig({ server: { port: 'env:PORT' } }, { env: { PORT: '9090' } }).server.port).toBe(9090);
    expect(configError(() => loadConfig({ server: { port: 'env:PORT' } }, { env: { PORT: 'abc' } })).key).toBe('server.port');
  });

  it('resolves secrets through resolveSecret without revealing them while loading', () => {
    let revealed = 0;
    const handle = { revealString: () => (revealed++, 'sk-from-vault') };
    const c = loadConfig({ backends: { a: { ...backend, apiKey: 'secret:openai' } } }, { env: {}, resolveSecret: (n) => (n === 'openai' ? handle : 'x') });
    expect(revealed).toBe(0);
    expect((c.backends.a! as OpenAIBackendConfig).apiKey!.revealString()).toBe('sk-from-vault');
    const [token] = loadConfig({ auth: { tokens: ['secret:tok'] } }, { resolveSecret: () => 'plain' }).auth.tokens;
    expect(typeof token === 'string' ? token : token!.revealString()).toBe('plain');
  });

  it('reports secrets that cannot be resolved', () => {
    expect(configError(() => loadConfig({ auth: { tokens: ['secret:t'] } }, { env: {} })).message).toMatch(/no secrets vault/);
    const e = configError(() =>
      loadConfig({ auth: { tokens: ['secret:t'] } }, {
        resolveSecret: () => {
          throw new Error('no such secret');
        },
      }),
    );
    expect(e.key).toBe('auth.tokens[0]');
    expect(e.message).toMatch(/secret t could not be resolved: no such secret/);
    expect(configError(() => loadConfig({ auth: { tokens: ['env:'] } }, { env: {} })).message).toMatch(/variable or secret name/);
  });
});

describe('matchRoute', () => {
  const routes: RouteConfig[] = [
    { model: 'gpt-*', targets: [{ backend: 'wild' }] },
    { model: 'gpt-4o', targets: [{ backend: 'exact' }] },
    { model: '*', targets: [{ backend: 'any' }] },
  ];
  it('prefers exact matches, then wildcards in order', () => {
    expect(matchRoute(routes, 'gpt-4o')!.targets[0]!.backend).toBe('exact');
    expect(matchRoute(routes, 'gpt-3.5')!.targets[0]!.backend).toBe('wild');
    expect(matchRoute(routes, 'llama')!.targets[0]!.backend).toBe('any');
    expect(matchRoute(routes.slice(0, 2), 'llama')).toBeUndefined();
    expect(matchRoute([{ model: 'a.b*', targets: [] }], 'axb')).toBeUndefined();
  });
});

describe('resolveEnvSecret', () => {
  it('takes env: secrets from secure memory first, falling back to the environment', () => {
    const held = { revealString: () => 'sk-held' };
    const c = loadConfig(
      { backends: { a: { ...backend, apiKey: 'env:HELD' }, b: { ...backend, apiKey: 'env:PLAIN' } } },
      { env: { HELD: 'sk-plain-copy', PLAIN: 'sk-plain' }, resolveEnvSecret: (n) => (n === 'HELD' ? held : undefined) },
    );
    expect((c.backends.a! as OpenAIBackendConfig).apiKey).toBe(held);
    expect((c.backends.b! as OpenAIBackendConfig).apiKey!.revealString()).toBe('sk-plain');
  });
});

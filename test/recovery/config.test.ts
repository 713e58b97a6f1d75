import { describe, expect, it } from 'vitest';
import { createBackend } from '../../lib/backends/registry.js';
import { loadConfig } from '../../lib/config/index.js';
import { ConfigError } from '../../lib/errors.js';

const backends = {
  claude: { type: 'anthropic', apiKey: 'env:TEST_ANTHROPIC_KEY' },
  local: { type: 'ollama', baseUrl: 'http://127.0.0.1:11434', keepAlive: '5m', timeouts: { firstTokenMs: 2000 } },
};
const env = { TEST_ANTHROPIC_KEY: 'sk-ant-test-key' };

function configError(raw: object): ConfigError {
  try {
    loadConfig(raw, { env });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('config was accepted');
}

describe('recovery config section', () => {
  it('fills every default of issue 4 when absent', () => {
    const c = loadConfig({ backends }, { env });
    expect(c.recovery).toEqual({
      retry: { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 5000, maxRetryAfterMs: 10000, jitter: 'full', deadlineMs: 60000 },
      breaker: { consecutiveFailures: 5, errorRate: 0.5, windowMs: 10000, minRequests: 20, openMs: 30000, openGrowth: 2, maxOpenMs: 300000, halfOpenProbes: 1 },
      session: { store: 'memory', ttlMs: 300000, detachedGraceMs: 30000, maxSessions: 10000, ringBytes: 131072 },
      midStream: { nonContinuation: 'regenerate' },
    });
  });

  it('reads given values and rejects bad ones naming the key', () => {
    const c = loadConfig({ recovery: { retry: { maxAttempts: 5, jitter: 'decorrelated' }, breaker: { halfOpenProbes: 3 }, session: { ttlMs: 1000 } } }, { env });
    expect(c.recovery.retry.maxAttempts).toBe(5);
    expect(c.recovery.retry.jitter).toBe('decorrelated');
    expect(c.recovery.breaker.halfOpenProbes).toBe(3);
    expect(c.recovery.session.ttlMs).toBe(1000);
    expect(configError({ recovery: { retry: { maxAttempts: 0 } } }).key).toBe('recovery.retry.maxAttempts');
    expect(configError({ recovery: { breaker: { errorRate: 1.5 } } }).key).toBe('recovery.breaker.errorRate');
    expect(configError({ recovery: { retry: { baseDelayMs: 500, maxDelayMs: 100 } } }).key).toBe('recovery.retry.maxDelayMs');
    expect(configError({ recovery: { session: { ringBytes: 100 } } }).key).toBe('recovery.session.ringBytes');
    expect(configError({ recovery: { session: { store: 'redis' } } }).key).toBe('recovery.session.store');
    expect(configError({ recovery: { retries: {} } }).key).toBe('recovery.retries');
    expect(configError({ recovery: { midStream: { nonContinuation: 'maybe' } } }).key).toBe('recovery.midStream.nonContinuation');
  });
});

describe('anthropic and ollama backend config', () => {
  it('validates each type and builds working backends; anthropic continues by default, ollama does not', async () => {
    const c = loadConfig({ backends }, { env });
    const claude = createBackend('claude', c.backends.claude!);
    const local = createBackend('local', c.backends.local!);
    expect([claude.type, claude.continuation]).toEqual(['anthropic', true]);
    expect([local.type, local.continuation]).toEqual(['ollama', false]);
    expect(c.backends.local!.timeouts).toEqual({ connectMs: 10000, firstTokenMs: 2000, idleMs: 30000, totalMs: 600000 });
    expect(JSON.stringify(c.backends.claude)).not.toContain('sk-ant-test-key');
    await claude.close();
    await local.close();
  });

  it('rejects unknown keys and bad URLs with the key path', () => {
    expect(configError({ backends: { c: { type: 'anthropic', apiKeys: 'x' } } }).key).toBe('backends.c.apiKeys');
    expect(configError({ backends: { o: { type: 'ollama', baseUrl: 'ftp://x' } } }).key).toBe('backends.o.baseUrl');
    expect(configError({ backends: { o: { type: 'ollama', headers: { 'bad header': 'x' } } } }).key).toBe('backends.o.headers.bad header');
    const explicit = loadConfig({ backends: { c: { type: 'anthropic', continuation: false } } }, { env });
    expect(createBackend('c', explicit.backends.c!).continuation).toBe(false);
  });
});

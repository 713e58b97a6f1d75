import { describe, expect, it } from 'vitest';
import { BackendError } from '../../lib/backends/errors.js';
import { endpointPath, toBackendError } from '../../lib/backends/http-client.js';
import { createBackend, getBackendType, registerBackendType, registeredBackendTypes } from '../../lib/backends/registry.js';
import { ConfigError } from '../../lib/errors.js';

const live = new AbortController().signal;
const ctx = { backend: 'b', signal: live, responseStarted: false, afterFirstToken: false };
const withCode = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('toBackendError', () => {
  it.each([
    [withCode('ECONNREFUSED'), ctx, 'connect'],
    [withCode('ECONNRESET'), ctx, 'connect'],
    [withCode('ECONNRESET'), { ...ctx, responseStarted: true }, 'cut'],
    [withCode('UND_ERR_SOCKET'), { ...ctx, responseStarted: true }, 'cut'],
    [withCode('UND_ERR_CONNECT_TIMEOUT'), ctx, 'timeout'],
    [withCode('UND_ERR_HEADERS_TIMEOUT'), ctx, 'timeout'],
    [withCode('UND_ERR_BODY_TIMEOUT'), { ...ctx, responseStarted: true }, 'timeout'],
    [new Error('wrapped', { cause: withCode('ENOTFOUND') }), ctx, 'connect'],
    [withCode('UND_ERR_ABORTED'), ctx, 'aborted'],
    [new Error('weird'), { ...ctx, responseStarted: true }, 'cut'],
    [new Error('weird'), ctx, 'connect'],
    [withCode('UND_ERR_ABORTED'), { ...ctx, timedOut: true }, 'timeout'],
    [withCode('ECONNRESET'), { ...ctx, signal: AbortSignal.abort() }, 'aborted'],
  ])('%s → %s', (err, c, kind) => {
    const e = toBackendError(err, c);
    expect(e).toBeInstanceOf(BackendError);
    expect(e.kind).toBe(kind);
    expect(e.backend).toBe('b');
    expect(e.retryable).toBe(kind !== 'aborted');
    expect(e.cause).toBe(err);
  });

  it('passes BackendErrors through, marking output already sent', () => {
    const original = new BackendError('x', { kind: 'http', status: 500 });
    expect(toBackendError(original, { ...ctx, afterFirstToken: true })).toBe(original);
    expect(original.afterFirstToken).toBe(true);
  });

  it('joins base paths and endpoints', () => {
    expect(endpointPath(new URL('http://h/v1'), '/chat/completions')).toBe('/v1/chat/completions');
    expect(endpointPath(new URL('http://h/v1/'), '/models')).toBe('/v1/models');
    expect(endpointPath(new URL('http://h'), '/models')).toBe('/models');
    expect(endpointPath(new URL('http://h/openai/v1?api-version=2'), '/models')).toBe('/openai/v1/models?api-version=2');
  });
});

describe('backend registry', () => {
  it('knows openai and refuses duplicates and unknown types', () => {
    expect(registeredBackendTypes()).toContain('openai');
    expect(getBackendType('openai')).toBeDefined();
    const def = getBackendType('openai')!;
    expect(() => registerBackendType('openai', def.create, def.readConfig)).toThrow(/registered twice/);
    expect(() => createBackend('x', { type: 'nope', timeouts: { connectMs: 1, firstTokenMs: 1, idleMs: 1, totalMs: 1 }, continuation: false })).toThrow(ConfigError);
  });
});

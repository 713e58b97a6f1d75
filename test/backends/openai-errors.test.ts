import { describe, expect, it } from 'vitest';
import { BackendError, classifyHttpError, parseRetryAfter, scrubSecrets } from '../../lib/backends/errors.js';
import { toApiError } from '../../lib/protocol/errors.js';

const oa = (code: string | null, type = 'invalid_request_error', message = 'msg') => JSON.stringify({ error: { message, type, param: null, code } });

describe('parseRetryAfter', () => {
  it('reads retry-after-ms, seconds and HTTP dates', () => {
    expect(parseRetryAfter({ 'retry-after-ms': '1500.5', 'retry-after': '9' })).toBe(1500.5);
    expect(parseRetryAfter({ 'retry-after': '2' })).toBe(2000);
    expect(parseRetryAfter(new Headers({ 'retry-after': '0.5' }))).toBe(500);
    const now = Date.parse('2026-11-25T12:00:00Z');
    expect(parseRetryAfter({ 'retry-after': 'Wed, 25 Nov 2026 12:00:03 GMT' }, now)).toBe(3000);
    expect(parseRetryAfter({ 'retry-after': 'Wed, 25 Nov 2026 11:00:00 GMT' }, now)).toBe(0);
    expect(parseRetryAfter({ 'retry-after': 'soon' })).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after-ms': 'x', 'retry-after': '1' })).toBe(1000);
    expect(parseRetryAfter({})).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after': ['3', '4'] })).toBe(3000);
  });
});

describe('classifyHttpError', () => {
  it.each([
    [408, true],
    [409, true],
    [429, true],
    [500, true],
    [502, true],
    [503, true],
    [504, true],
    [529, true],
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [422, false],
    [501, false],
  ])('status %i retryable=%s', (status, retryable) => {
    const e = classifyHttpError(status, {}, oa(null));
    expect(e).toBeInstanceOf(BackendError);
    expect(e.code).toBe('ABI_ERR_BACKEND');
    expect(e.kind).toBe('http');
    expect(e.status).toBe(status);
    expect(e.retryable).toBe(retryable);
    expect(e.afterFirstToken).toBe(false);
  });

  it('never retries final provider codes, even when x-should-retry says so', () => {
    const quota = classifyHttpError(429, { 'x-should-retry': 'true' }, oa('insufficient_quota', 'insufficient_quota'));
    expect(quota.providerCode).toBe('insufficient_quota');
    expect(quota.retryable).toBe(false);
    expect(classifyHttpError(400, {}, oa('context_length_exceeded')).retryable).toBe(false);
    expect(classifyHttpError(400, {}, oa('content_policy_violation')).providerCode).toBe('content_policy_violation');
  });

  it('honours x-should-retry otherwise', () => {
    expect(classifyHttpError(500, { 'x-should-retry': 'false' }, '').retryable).toBe(false);
    expect(classifyHttpError(400, { 'x-should-retry': 'true' }, '').retryable).toBe(true);
  });

  it('reads Anthropic and Ollama error bodies and recognises context-length messages', () => {
    const an = classifyHttpError(529, { 'retry-after': '3' }, JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
    expect(an).toMatchObject({ providerCode: 'overloaded_error', providerMessage: 'Overloaded', retryAfterMs: 3000, retryable: true });
    const long = classifyHttpError(400, {}, JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 300000 tokens > 200000 maximum' } }));
    expect(long.providerCode).toBe('context_length_exceeded');
    const ol = classifyHttpError(404, {}, JSON.stringify({ error: 'model "x" not found, try pulling it first' }));
    expect(ol.providerMessage).toMatch(/not found/);
    expect(classifyHttpError(502, {}, '<html>bad gateway</html>').providerMessage).toBe('<html>bad gateway</html>');
  });

  it('scrubs echoed credentials from messages', () => {
    const key = 'sk-proj-abcdefghijklmnop1234';
    const body = oa('invalid_api_key', 'invalid_request_error', `Incorrect API key provided: ${key}. Header was Bearer ${key}`);
    const e = classifyHttpError(401, {}, body, { backend: 'main', secrets: [key] });
    const everything = `${e.message} ${e.providerMessage} ${JSON.stringify(toApiError(e).toEnvelope())}`;
    expect(everything).not.toContain('abcdefghijklmnop');
    expect(e.message).toContain("backend 'main' answered HTTP 401");
    expect(scrubSecrets('Incorrect API key provided: sk-abc***xyz')).not.toContain('abc');
    expect(scrubSecrets('{"x-api-key":"secret123","other":"ok"}')).toBe('{"x-api-key":[REDACTED],"other":"ok"}');
    expect(scrubSecrets('my-custom-token-value is here', ['my-custom-token-value'])).toBe('[REDACTED] is here');
    expect(new BackendError('failed with Bearer abc.def', { kind: 'connect' }).message).toBe('failed with Bearer [REDACTED]');
  });
});

describe('BackendError -> client error', () => {
  const api = (e: BackendError) => toApiError(e);
  it.each([
    [new BackendError('x', { kind: 'timeout' }), 504],
    [new BackendError('x', { kind: 'connect' }), 502],
    [new BackendError('x', { kind: 'cut' }), 502],
    [new BackendError('x', { kind: 'protocol' }), 502],
    [classifyHttpError(400, {}, oa('context_length_exceeded')), 400],
    [classifyHttpError(400, {}, oa('content_policy_violation')), 400],
    [classifyHttpError(401, {}, oa('invalid_api_key')), 502],
    [classifyHttpError(404, {}, oa('model_not_found')), 404],
    [classifyHttpError(429, { 'retry-after': '2' }, oa('rate_limit_exceeded', 'requests')), 429],
    [classifyHttpError(429, {}, oa('insufficient_quota', 'insufficient_quota')), 502],
    [classifyHttpError(529, {}, ''), 503],
    [classifyHttpError(500, {}, ''), 502],
    [classifyHttpError(504, {}, ''), 504],
  ])('%#', (err, status) => {
    expect(api(err).status).toBe(status);
  });

  it('keeps the provider reason for merit rejections and Retry-After for rate limits', () => {
    const e = api(classifyHttpError(400, {}, oa('context_length_exceeded', 'invalid_request_error', 'too long: 9000 > 8192'), { backend: 'b' }));
    expect(e.toEnvelope().error).toEqual({ message: "Upstream backend 'b' rejected the request: too long: 9000 > 8192", type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' });
    expect(api(classifyHttpError(429, { 'retry-after-ms': '1200' }, '')).headers).toEqual({ 'retry-after': '2' });
  });
});

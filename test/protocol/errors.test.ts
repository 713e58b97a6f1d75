import { describe, expect, it } from 'vitest';
import { AbiError } from '../../lib/errors.js';
import {
  ApiError,
  badGateway,
  badRequest,
  gatewayTimeout,
  internalError,
  methodNotAllowed,
  notFound,
  payloadTooLarge,
  rateLimited,
  serviceUnavailable,
  toApiError,
  toEnvelope,
  unauthorized,
  unsupportedMediaType,
} from '../../lib/protocol/errors.js';

describe('ApiError factories', () => {
  it.each([
    [badRequest('bad', 'messages'), 400, 'invalid_request_error'],
    [unauthorized(), 401, 'authentication_error'],
    [notFound('nope'), 404, 'not_found_error'],
    [methodNotAllowed('PUT', ['POST']), 405, 'invalid_request_error'],
    [payloadTooLarge(10), 413, 'invalid_request_error'],
    [unsupportedMediaType('text/plain'), 415, 'invalid_request_error'],
    [rateLimited('slow down', { retryAfterSec: 2 }), 429, 'requests'],
    [rateLimited('tokens', { kind: 'tokens' }), 429, 'tokens'],
    [internalError(), 500, 'server_error'],
    [badGateway('up'), 502, 'server_error'],
    [serviceUnavailable('busy', { retryAfterSec: 1.2 }), 503, 'server_error'],
    [gatewayTimeout('slow'), 504, 'timeout_error'],
  ])('%#: status and type', (err, status, type) => {
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toBeInstanceOf(AbiError);
    expect(err.code).toBe('ABI_ERR_API');
    expect(err.status).toBe(status);
    expect(err.type).toBe(type);
    const env = err.toEnvelope();
    expect(Object.keys(env.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  });

  it('carries param, code and headers', () => {
    expect(badRequest('x', 'messages[0].role', 'invalid_value').toEnvelope()).toEqual({
      error: { message: 'x', type: 'invalid_request_error', param: 'messages[0].role', code: 'invalid_value' },
    });
    expect(rateLimited('x', { retryAfterSec: 1.2 }).headers).toEqual({ 'retry-after': '2' });
    expect(serviceUnavailable('x', { retryAfterSec: 3 }).headers).toEqual({ 'retry-after': '3' });
    expect(methodNotAllowed('GET', ['POST']).headers).toEqual({ allow: 'POST' });
    expect(JSON.parse(JSON.stringify(badRequest('y')))).toEqual(badRequest('y').toEnvelope());
  });
});

describe('toApiError', () => {
  it('passes ApiErrors through', () => {
    const e = badRequest('x');
    expect(toApiError(e)).toBe(e);
  });

  it('turns unknown errors into a generic 500 without leaking their message', () => {
    const secret = new Error('db password is hunter2 at /srv/app.js:10');
    const api = toApiError(secret);
    expect(api.status).toBe(500);
    expect(api.cause).toBe(secret);
    const text = JSON.stringify(toEnvelope(secret));
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('app.js');
    for (const thrown of [undefined, null, 'str', 42, { status: 400 }, new TypeError('x')]) {
      expect(toApiError(thrown).status).toBe(500);
    }
  });

  it('uses toApiError() of convertible errors', () => {
    const err = Object.assign(new Error('x'), { toApiError: () => gatewayTimeout('late') });
    expect(toApiError(err).status).toBe(504);
  });

  it('maps AbiErrors with a 4xx status (e.g. AuthError) by their status and reason', () => {
    class AuthLike extends AbiError {
      status = 401;
      reason = 'token_expired';
      constructor() {
        super('Token expired.', 'ABI_ERR_AUTH');
      }
    }
    expect(toEnvelope(new AuthLike())).toEqual({
      error: { message: 'Token expired.', type: 'authentication_error', param: null, code: 'token_expired' },
    });
    class FiveHundred extends AbiError {
      status = 500;
    }
    expect(toApiError(new FiveHundred('internal detail', 'ABI_ERR_X')).message).not.toContain('internal detail');
  });
});

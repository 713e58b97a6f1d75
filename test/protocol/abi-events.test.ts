import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ApiError, badGateway } from '../../lib/protocol/errors.js';
import { abiEnd, abiError, abiStart, abiToken, validateAbiRequest, validateWsClientMessage } from '../../lib/protocol/abi-events.js';

const limits = { maxMessages: 4, maxTotalChars: 50, maxTokensCap: 100 };

function param(fn: () => unknown): string | null {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(400);
    return (e as ApiError).param;
  }
  throw new Error('accepted');
}

describe('ABI events', () => {
  it('serialise to the documented shapes', () => {
    expect(JSON.parse(abiStart('r1', 'm', 1700000000000))).toEqual({ type: 'start', request_id: 'r1', model: 'm', timestamp: 1700000000000 });
    expect(JSON.parse(abiToken('a"b\n', 3))).toEqual({ type: 'token', content: 'a"b\n', index: 3 });
    expect(JSON.parse(abiEnd('r1', 7, 'length'))).toEqual({ type: 'end', request_id: 'r1', total_tokens: 7, finish_reason: 'length' });
    expect(JSON.parse(abiError('r1', badGateway('upstream died').toEnvelope()))).toEqual({
      type: 'error',
      request_id: 'r1',
      error: { message: 'upstream died', type: 'server_error', param: null, code: 'upstream_error' },
    });
    expect(JSON.parse(abiToken('x', 0, 's-1'))).toEqual({ type: 'token', content: 'x', index: 0, id: 's-1' });
    expect(JSON.parse(abiError(null, badGateway('x').toEnvelope(), 's'))).toMatchObject({ request_id: null, id: 's' });
  });
});

describe('validateAbiRequest', () => {
  it('accepts prompt or messages', () => {
    expect(validateAbiRequest({ prompt: 'hi', model: 'm', backend: 'b', max_tokens: 5, temperature: 0 }, limits)).toEqual({
      model: 'm',
      backend: 'b',
      request: { model: 'm', messages: [{ role: 'user', content: 'hi' }], maxTokens: 5, temperature: 0 },
    });
    expect(validateAbiRequest({ messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'u' }] }, limits)).toEqual({
      request: { model: '', messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'u' }] },
    });
  });

  it.each([
    [[1], 'body'],
    [{}, 'prompt'],
    [{ prompt: 'a', messages: [] }, 'messages'],
    [{ prompt: '' }, 'prompt'],
    [{ prompt: 5 }, 'prompt'],
    [{ prompt: 'x'.repeat(51) }, 'prompt'],
    [{ messages: [{ role: 'x', content: 'a' }] }, 'messages[0].role'],
    [{ messages: Array(5).fill({ role: 'user', content: 'a' }) }, 'messages'],
    [{ prompt: 'a', model: '' }, 'model'],
    [{ prompt: 'a', backend: 3 }, 'backend'],
    [{ prompt: 'a', max_tokens: 0 }, 'max_tokens'],
    [{ prompt: 'a', max_tokens: 101 }, 'max_tokens'],
    [{ prompt: 'a', temperature: 3 }, 'temperature'],
    [{ prompt: 'a', stream: true }, 'stream'],
  ])('rejects %j at %s', (body, p) => {
    expect(param(() => validateAbiRequest(body, limits))).toBe(p);
  });
});

describe('validateWsClientMessage', () => {
  it('accepts request, cancel and resume', () => {
    expect(validateWsClientMessage({ type: 'request', id: 'a.1', prompt: 'hi' }, limits)).toEqual({
      type: 'request',
      id: 'a.1',
      request: { model: '', messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(validateWsClientMessage({ type: 'request', prompt: 'hi', model: 'm' }, limits)).toMatchObject({ type: 'request', model: 'm' });
    expect(validateWsClientMessage({ type: 'cancel', id: 'a' }, limits)).toEqual({ type: 'cancel', id: 'a' });
    expect(validateWsClientMessage({ type: 'resume', id: 'a', after: 4 }, limits)).toEqual({ type: 'resume', id: 'a', after: 4 });
    expect(validateWsClientMessage({ type: 'resume', id: 'a' }, limits)).toEqual({ type: 'resume', id: 'a', after: -1 });
  });

  it.each([
    ['x', 'message'],
    [{}, 'type'],
    [{ type: 'nope' }, 'type'],
    [{ type: 'request', id: 'has space', prompt: 'a' }, 'id'],
    [{ type: 'request', id: 'x'.repeat(129), prompt: 'a' }, 'id'],
    [{ type: 'request', prompt: 'a', extra: 1 }, 'extra'],
    [{ type: 'cancel' }, 'id'],
    [{ type: 'cancel', id: 'a', x: 1 }, 'x'],
    [{ type: 'resume', id: 'a', after: -2 }, 'after'],
    [{ type: 'resume', id: 'a', after: 1.5 }, 'after'],
  ])('rejects %j at %s', (msg, p) => {
    expect(param(() => validateWsClientMessage(msg, limits))).toBe(p);
  });

  it('never throws anything but ApiError 400 (fuzz)', () => {
    const arb = fc.oneof(
      fc.jsonValue(),
      fc.record({ type: fc.constantFrom('request', 'cancel', 'resume'), id: fc.jsonValue(), after: fc.jsonValue(), prompt: fc.jsonValue(), messages: fc.jsonValue() }, { requiredKeys: ['type'] }),
    );
    fc.assert(
      fc.property(arb, (m) => {
        try {
          validateWsClientMessage(m, limits);
        } catch (e) {
          expect(e).toBeInstanceOf(ApiError);
          expect((e as ApiError).status).toBe(400);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ApiError } from '../../lib/protocol/errors.js';
import { jsonNestingDepth, parseJsonBody } from '../../lib/protocol/json.js';

const limits = { maxDepth: 8 };

function apiErr(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('parseJsonBody', () => {
  it('parses bytes and strings', () => {
    expect(parseJsonBody(Buffer.from('{"a":[1,{"b":"é"}]}'), limits)).toEqual({ a: [1, { b: 'é' }] });
    expect(parseJsonBody('[1]', limits)).toEqual([1]);
  });

  it('rejects invalid UTF-8 with a 400', () => {
    const e = apiErr(() => parseJsonBody(Uint8Array.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), limits));
    expect(e.status).toBe(400);
    expect(e.apiCode).toBe('invalid_encoding');
  });

  it('rejects malformed and empty JSON with a 400', () => {
    for (const body of ['{', '', '   ', '{"a":}', 'nul']) {
      const e = apiErr(() => parseJsonBody(body, limits));
      expect(e.status).toBe(400);
      expect(e.apiCode).toBe('invalid_json');
    }
  });

  it('enforces the depth limit, ignoring brackets inside strings', () => {
    expect(parseJsonBody('[[[[[[[[1]]]]]]]]', limits)).toBeDefined();
    expect(apiErr(() => parseJsonBody('[[[[[[[[[1]]]]]]]]]', limits)).apiCode).toBe('json_too_deep');
    expect(parseJsonBody('{"a":"[[[[[[[[[[[[[[[[\\"[[[["}', limits)).toEqual({ a: '[[[[[[[[[[[[[[[["[[[[' });
    const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    expect(apiErr(() => parseJsonBody(deep, limits)).status).toBe(400);
  });

  it('depth scan agrees with the real nesting of arbitrary JSON', () => {
    const realDepth = (v: unknown): number =>
      typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(realDepth)) : 0;
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(jsonNestingDepth(JSON.stringify(v))).toBe(realDepth(v));
      }),
    );
  });

  it('never throws anything but ApiError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          parseJsonBody(bytes, limits);
        } catch (e) {
          expect(e).toBeInstanceOf(ApiError);
        }
      }),
    );
  });
});

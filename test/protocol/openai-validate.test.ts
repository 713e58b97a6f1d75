import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ApiError } from '../../lib/protocol/errors.js';
import { validateChatCompletionRequest, type ChatValidationLimits } from '../../lib/protocol/openai.js';

const limits: ChatValidationLimits = { maxMessages: 8, maxTotalChars: 100, maxTokensCap: 1000 };
const base = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

function reject(body: unknown, lim: ChatValidationLimits = limits): ApiError {
  try {
    validateChatCompletionRequest(body, lim);
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(400);
    return e as ApiError;
  }
  throw new Error(`accepted ${JSON.stringify(body)}`);
}

describe('validateChatCompletionRequest', () => {
  it('accepts a minimal request and produces a ChatRequest', () => {
    const v = validateChatCompletionRequest(base, limits);
    expect(v).toEqual({ model: 'gpt-4o-mini', stream: false, includeUsage: false, request: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } });
  });

  it('maps every sampling field', () => {
    const v = validateChatCompletionRequest(
      { ...base, temperature: 0.5, top_p: 1, max_tokens: 10, stop: 'x', n: 1, seed: -3, stream: true, stream_options: { include_usage: true }, user: 'u', backend: 'b' },
      limits,
    );
    expect(v.stream).toBe(true);
    expect(v.includeUsage).toBe(true);
    expect(v.backend).toBe('b');
    expect(v.request).toMatchObject({ temperature: 0.5, topP: 1, maxTokens: 10, stop: ['x'], seed: -3, user: 'u' });
    expect(v.request.passthrough).toBeUndefined();
    expect(validateChatCompletionRequest({ ...base, max_tokens: 5, max_completion_tokens: 7 }, limits).request.maxTokens).toBe(7);
    expect(validateChatCompletionRequest({ ...base, stop: ['a', 'b', 'c', 'd'] }, limits).request.stop).toEqual(['a', 'b', 'c', 'd']);
  });

  it('treats null optional fields as absent', () => {
    const v = validateChatCompletionRequest({ ...base, temperature: null, stop: null, stream_options: null, user: null, seed: null }, limits);
    expect(v.request).toEqual({ model: 'gpt-4o-mini', messages: base.messages });
  });

  it('preserves unknown and passthrough fields unchanged', () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }];
    const extra = {
      tools,
      tool_choice: 'auto',
      response_format: { type: 'json_object' },
      logprobs: true,
      top_logprobs: 3,
      presence_penalty: 0.5,
      frequency_penalty: -1,
      parallel_tool_calls: false,
      metadata: { a: 1 },
      some_vendor_field: [1, 2],
    };
    expect(validateChatCompletionRequest({ ...base, ...extra }, limits).request.passthrough).toEqual(extra);
  });

  it.each([
    [[], 'body'],
    ['x', 'body'],
    [{ messages: base.messages }, 'model'],
    [{ ...base, model: '' }, 'model'],
    [{ ...base, model: 3 }, 'model'],
    [{ model: 'm' }, 'messages'],
    [{ model: 'm', messages: [] }, 'messages'],
    [{ model: 'm', messages: {} }, 'messages'],
    [{ ...base, temperature: 2.01 }, 'temperature'],
    [{ ...base, temperature: -0.1 }, 'temperature'],
    [{ ...base, temperature: '1' }, 'temperature'],
    [{ ...base, top_p: 0 }, 'top_p'],
    [{ ...base, top_p: 1.5 }, 'top_p'],
    [{ ...base, max_tokens: 0 }, 'max_tokens'],
    [{ ...base, max_tokens: 1.5 }, 'max_tokens'],
    [{ ...base, max_tokens: 1001 }, 'max_tokens'],
    [{ ...base, max_completion_tokens: -1 }, 'max_completion_tokens'],
    [{ ...base, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    [{ ...base, stop: 5 }, 'stop'],
    [{ ...base, stop: ['a', 1] }, 'stop[1]'],
    [{ ...base, n: 2 }, 'n'],
    [{ ...base, n: 0 }, 'n'],
    [{ ...base, seed: 1.5 }, 'seed'],
    [{ ...base, stream: 'true' }, 'stream'],
    [{ ...base, stream_options: true }, 'stream_options'],
    [{ ...base, stream_options: { include_usage: 1 } }, 'stream_options.include_usage'],
    [{ ...base, user: 1 }, 'user'],
    [{ ...base, backend: '' }, 'backend'],
    [{ ...base, backend: 1 }, 'backend'],
    [{ ...base, presence_penalty: 3 }, 'presence_penalty'],
    [{ ...base, top_logprobs: 21 }, 'top_logprobs'],
    [{ ...base, logprobs: 'yes' }, 'logprobs'],
    [{ ...base, tools: {} }, 'tools'],
    [{ ...base, tools: [{}] }, 'tools[0].type'],
    [{ ...base, response_format: 'json' }, 'response_format'],
    [{ ...base, tool_choice: 1 }, 'tool_choice'],
  ])('rejects %j naming param %s', (body, param) => {
    expect(reject(body).param).toBe(param);
  });

  it('says that n must be 1', () => {
    for (const n of [3, 0, -1]) expect(reject({ ...base, n }).message).toMatch(/'n' must be 1/);
  });

  describe('messages', () => {
    const msg = (...messages: unknown[]) => ({ model: 'm', messages });

    it('accepts every role and content shape', () => {
      const v = validateChatCompletionRequest(
        msg(
          { role: 'system', content: 'sys' },
          { role: 'developer', content: [{ type: 'text', text: 'dev' }] },
          { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:x', detail: 'low' } }, { type: 'input_audio', input_audio: {} }], name: 'ann' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
          { role: 'tool', tool_call_id: 'c1', content: 'result' },
          { role: 'assistant', content: [{ type: 'refusal', refusal: 'no' }] },
        ),
        limits,
      );
      expect(v.request.messages.map((m) => m.role)).toEqual(['system', 'developer', 'user', 'assistant', 'tool', 'assistant']);
      expect(v.request.messages[2]!.name).toBe('ann');
      expect(v.request.messages[3]).toEqual({ role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] });
      expect(v.request.messages[4]!.tool_call_id).toBe('c1');
    });

    it.each([
      [msg(1), 'messages[0]'],
      [msg({ content: 'x' }), 'messages[0].role'],
      [msg({ role: 'robot', content: 'x' }), 'messages[0].role'],
      [msg({ role: 'user' }), 'messages[0].content'],
      [msg({ role: 'user', content: 5 }), 'messages[0].content'],
      [msg({ role: 'user', content: [5] }), 'messages[0].content[0]'],
      [msg({ role: 'user', content: [{ text: 'x' }] }), 'messages[0].content[0].type'],
      [msg({ role: 'user', content: [{ type: 'text' }] }), 'messages[0].content[0].text'],
      [msg({ role: 'user', content: [{ type: 'image_url', image_url: {} }] }), 'messages[0].content[0].image_url.url'],
      [msg({ role: 'system', content: [{ type: 'image_url', image_url: { url: 'x' } }] }), 'messages[0].content[0].type'],
      [msg({ role: 'user', content: [{ type: 'refusal', refusal: 'x' }] }), 'messages[0].content[0].type'],
      [msg({ role: 'user', content: 'x', name: 1 }), 'messages[0].name'],
      [msg({ role: 'tool', content: 'x' }), 'messages[0].tool_call_id'],
      [msg({ role: 'assistant' }), 'messages[0].content'],
      [msg({ role: 'assistant', content: null, tool_calls: {} }), 'messages[0].tool_calls'],
      [msg({ role: 'assistant', tool_calls: [{ type: 'function', function: { name: 'f', arguments: '' } }] }), 'messages[0].tool_calls[0].id'],
      [msg({ role: 'assistant', tool_calls: [{ id: 'a', type: 'x', function: { name: 'f', arguments: '' } }] }), 'messages[0].tool_calls[0].type'],
      [msg({ role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { arguments: '' } }] }), 'messages[0].tool_calls[0].function.name'],
      [msg({ role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: {} } }] }), 'messages[0].tool_calls[0].function.arguments'],
      [msg({ role: 'user', content: 'ok' }, { role: 'user', content: null }), 'messages[1].content'],
    ])('rejects %j at %s', (body, param) => {
      expect(reject(body).param).toBe(param);
    });

    it('enforces message count and total characters', () => {
      const many = Array.from({ length: 9 }, () => ({ role: 'user', content: 'x' }));
      expect(reject(msg(...many)).param).toBe('messages');
      expect(validateChatCompletionRequest(msg(...many.slice(1)), limits).request.messages).toHaveLength(8);
      expect(validateChatCompletionRequest(msg({ role: 'user', content: 'x'.repeat(100) }), limits)).toBeDefined();
      const tooLong = reject(msg({ role: 'user', content: 'x'.repeat(60) }, { role: 'user', content: [{ type: 'text', text: 'y'.repeat(41) }] }));
      expect(tooLong.param).toBe('messages[1].content[0].text');
      expect(tooLong.apiCode).toBe('request_too_large');
      const args = reject(msg({ role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: 'z'.repeat(101) } }] }));
      expect(args.param).toBe('messages[0].tool_calls[0].function.arguments');
    });
  });

  it('never throws anything but ApiError 400 on arbitrary JSON (fuzz)', () => {
    const message = fc.record(
      {
        role: fc.oneof(fc.constantFrom('system', 'developer', 'user', 'assistant', 'tool'), fc.jsonValue()),
        content: fc.oneof(fc.string(), fc.constant(null), fc.array(fc.record({ type: fc.constantFrom('text', 'image_url', 'refusal'), text: fc.jsonValue() }, { requiredKeys: ['type'] })), fc.jsonValue()),
        tool_call_id: fc.jsonValue(),
        tool_calls: fc.jsonValue(),
        name: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          model: fc.oneof(fc.string(), fc.jsonValue()),
          messages: fc.oneof(fc.array(message, { maxLength: 10 }), fc.jsonValue()),
          temperature: fc.jsonValue(),
          top_p: fc.oneof(fc.double(), fc.jsonValue()),
          max_tokens: fc.oneof(fc.integer(), fc.jsonValue()),
          stop: fc.jsonValue(),
          n: fc.oneof(fc.integer(), fc.jsonValue()),
          stream: fc.jsonValue(),
          stream_options: fc.jsonValue(),
          tools: fc.jsonValue(),
          backend: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(body, (b) => {
        try {
          const v = validateChatCompletionRequest(b, limits);
          expect(typeof v.model).toBe('string');
          expect(v.request.messages.length).toBeGreaterThan(0);
        } catch (e) {
          expect(e).toBeInstanceOf(ApiError);
          expect((e as ApiError).status).toBe(400);
          expect((e as ApiError).param).not.toBeNull();
        }
      }),
      { numRuns: 3000 },
    );
  });
});

it('keeps a JSON "__proto__" field as plain passthrough data', () => {
  const body = JSON.parse('{"model":"m","messages":[{"role":"user","content":"x"}],"__proto__":{"polluted":true}}');
  const v = validateChatCompletionRequest(body, limits);
  expect(Object.getPrototypeOf(v.request.passthrough)).toBe(Object.prototype);
  expect((v.request.passthrough as any).polluted).toBeUndefined();
  expect(JSON.stringify(v.request.passthrough)).toBe('{"__proto__":{"polluted":true}}');
});

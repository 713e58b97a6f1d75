import { describe, expect, it } from 'vitest';
import type { BackendEvent } from '../../lib/backends/types.js';
import { ChunkBuilder, CompletionAccumulator } from '../../lib/protocol/openai.js';

describe('ChunkBuilder', () => {
  it('produces the reference stream byte for byte (include_usage)', () => {
    // shared/reference/provider-streams.md §2 sample stream, with our id/model.
    const b = new ChunkBuilder({ model: 'gpt-4o-mini', includeUsage: true, id: 'chatcmpl-7xQ', created: 1767225600 });
    const lines = [b.role(), b.content('Hel'), b.content('lo!'), b.finish('stop'), b.usage({ prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 })];
    expect(lines).toEqual([
      '{"id":"chatcmpl-7xQ","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}',
      '{"id":"chatcmpl-7xQ","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}],"usage":null}',
      '{"id":"chatcmpl-7xQ","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"lo!"},"logprobs":null,"finish_reason":null}],"usage":null}',
      '{"id":"chatcmpl-7xQ","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}',
      '{"id":"chatcmpl-7xQ","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}',
    ]);
  });

  it('omits usage:null without include_usage, fixes id/created, and follows the answering model', () => {
    const before = Math.floor(Date.now() / 1000);
    const b = new ChunkBuilder({ model: 'requested' });
    expect(b.id).toMatch(/^chatcmpl-[A-Za-z0-9]{20}$/);
    expect(b.created).toBeGreaterThanOrEqual(before);
    expect(new ChunkBuilder({ model: 'x' }).id).not.toBe(b.id);
    const first = JSON.parse(b.role());
    expect('usage' in first).toBe(false);
    expect(b.forEvent({ type: 'start', model: 'actual-"model"' })).toBeUndefined();
    const c = JSON.parse(b.forEvent({ type: 'content', text: 'a"\n\u2028' })!);
    expect(c).toMatchObject({ id: b.id, created: first.created, model: 'actual-"model"', object: 'chat.completion.chunk' });
    expect(c.choices[0].delta).toEqual({ content: 'a"\n\u2028' });
  });

  it('relays tool_calls, refusal and logprobs intact', () => {
    const b = new ChunkBuilder({ model: 'm' });
    const tc = [{ index: 0, id: 'call_1', type: 'function' as const, function: { name: 'get', arguments: '{"a' } }];
    expect(JSON.parse(b.forEvent({ type: 'tool_calls', toolCalls: tc })!).choices[0].delta).toEqual({ tool_calls: tc });
    expect(JSON.parse(b.forEvent({ type: 'refusal', text: 'no' })!).choices[0].delta).toEqual({ refusal: 'no' });
    const logprobs = { content: [{ token: 'a', logprob: -0.1, bytes: [97], top_logprobs: [] }], refusal: null };
    expect(JSON.parse(b.forEvent({ type: 'content', text: 'a', logprobs })!).choices[0].logprobs).toEqual(logprobs);
    const fin = JSON.parse(b.forEvent({ type: 'finish', reason: 'tool_calls' })!);
    expect(fin.choices).toEqual([{ index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' }]);
    expect(JSON.parse(b.forEvent({ type: 'usage', usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } })!).choices).toEqual([]);
  });
});

describe('CompletionAccumulator', () => {
  const feed = (events: BackendEvent[]) => {
    const b = new ChunkBuilder({ model: 'asked', id: 'chatcmpl-1', created: 5 });
    const acc = new CompletionAccumulator(b);
    for (const e of events) acc.add(e);
    return acc.toCompletion();
  };

  it('concatenates content and carries usage and the answering model', () => {
    expect(
      feed([
        { type: 'start', model: 'answered' },
        { type: 'content', text: 'Hel' },
        { type: 'content', text: 'lo' },
        { type: 'finish', reason: 'stop' },
        { type: 'usage', usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } },
      ]),
    ).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 5,
      model: 'answered',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    });
  });

  it('merges tool-call fragments by index, keeps refusals and logprobs', () => {
    const c = feed([
      { type: 'tool_calls', toolCalls: [{ index: 0, id: 'a', type: 'function', function: { name: 'f', arguments: '{"x"' } }] },
      { type: 'tool_calls', toolCalls: [{ index: 1, id: 'b', type: 'function', function: { name: 'g', arguments: '' } }, { index: 0, function: { arguments: ':1}' } }] },
      { type: 'tool_calls', toolCalls: [{ index: 1, function: { arguments: '{}' } }] },
      { type: 'finish', reason: 'tool_calls' },
    ]);
    expect(c.choices[0].message).toEqual({
      role: 'assistant',
      content: null,
      refusal: null,
      tool_calls: [
        { id: 'a', type: 'function', function: { name: 'f', arguments: '{"x":1}' } },
        { id: 'b', type: 'function', function: { name: 'g', arguments: '{}' } },
      ],
    });
    expect(c.usage).toBeUndefined();
    const r = feed([{ type: 'refusal', text: 'I ' }, { type: 'refusal', text: 'cannot' }, { type: 'finish', reason: 'stop' }]);
    expect(r.choices[0].message).toEqual({ role: 'assistant', content: null, refusal: 'I cannot' });
    const lp = feed([
      { type: 'content', text: 'a', logprobs: { content: [{ token: 'a' }], refusal: null } },
      { type: 'content', text: 'b', logprobs: { content: [{ token: 'b' }], refusal: null } },
    ]);
    expect(lp.choices[0].logprobs).toEqual({ content: [{ token: 'a' }, { token: 'b' }], refusal: null });
    expect(lp.choices[0].finish_reason).toBeNull();
  });
});

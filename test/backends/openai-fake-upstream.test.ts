import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';

// The fake upstream is only useful if the official SDK accepts what it sends.
describe('fake-openai speaks the format the official SDK reads', () => {
  let fake: FakeOpenAI;
  let client: OpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-test' });
    client = new OpenAI({ baseURL: fake.baseUrl, apiKey: 'sk-test', maxRetries: 0 });
  });
  afterAll(() => fake.close());

  it('streams content, tool calls and usage', async () => {
    fake.enqueue({
      tokens: ['a', 'b'],
      toolCalls: [[{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"x"' } }], [{ index: 0, function: { arguments: ':1}' } }]],
      lineEnding: '\r\n',
      splitEveryBytes: 7,
    });
    const stream = await client.chat.completions.create({
      model: 'm1',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('ab');
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)!.usage).toEqual({ prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 });
    expect(fake.requests.at(-1)!.body.model).toBe('m1');
  });

  it('non-stream completion and mid-stream error', async () => {
    const done = await client.chat.completions.create({ model: 'm2', messages: [{ role: 'user', content: 'hi' }] });
    expect(done.choices[0]!.message.content).toBe('Hello, world!');
    fake.enqueue({ errorAfterTokens: 1 });
    const s = await client.chat.completions.create({ model: 'm2', messages: [{ role: 'user', content: 'hi' }], stream: true });
    await expect(async () => {
      for await (const _ of s);
    }).rejects.toThrow(/server had an error/);
  });

  it('error statuses, 401 and recording aborts', async () => {
    fake.enqueue({ status: 429, headers: { 'retry-after': '0' } });
    await expect(client.chat.completions.create({ model: 'm', messages: [] })).rejects.toMatchObject({ status: 429 });
    const bad = new OpenAI({ baseURL: fake.baseUrl, apiKey: 'wrong', maxRetries: 0 });
    await expect(bad.models.list()).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
    fake.enqueue({ stallAfterTokens: 1 });
    const ac = new AbortController();
    const s = await client.chat.completions.create({ model: 'm', messages: [], stream: true }, { signal: ac.signal });
    const it = s[Symbol.asyncIterator]();
    await it.next();
    await it.next();
    ac.abort();
    const rec = fake.requests.at(-1)!;
    await rec.closed;
    expect(rec.aborted).toBe(true);
  });
});

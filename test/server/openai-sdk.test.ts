/**
 * The official openai SDK (v6) against createAbiServer in front of the fake OpenAI upstream: stream
 * and non-stream, usage only when asked, tool calls and logprobs relayed intact, backend selection,
 * in-band failures after the stream started.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { payloads, sseRequest } from '../support/clients.js';
import { startFromConfig, upstreamConfig, type TestServer } from './harness.js';

const AUTH = { authorization: 'Bearer test-token-1' };
const messages = [{ role: 'user' as const, content: 'Say hello' }];

describe('openai SDK through abi', () => {
  let a: FakeOpenAI;
  let b: FakeOpenAI;
  let t: TestServer;
  let client: OpenAI;

  beforeAll(async () => {
    a = await startFakeOpenAI({ models: ['model-a'] });
    b = await startFakeOpenAI({ models: ['model-b'], scenario: { tokens: ['from', ' b'] } });
    t = await startFromConfig(upstreamConfig([a.baseUrl, b.baseUrl]));
    client = new OpenAI({ apiKey: 'test-token-1', baseURL: `${t.url}/v1`, maxRetries: 0 });
  });
  afterAll(async () => {
    await t.close();
    await a.close();
    await b.close();
  });

  it('non-stream: a chat.completion with usage and x-abi-backend', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'gpt-x', messages }).withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.id).toMatch(/^chatcmpl-/);
    expect(data.model).toBe('gpt-x');
    expect(data.choices[0]!.message.content).toBe('Hello, world!');
    expect(data.choices[0]!.finish_reason).toBe('stop');
    expect(data.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 });
    expect(response.headers.get('x-abi-backend')).toBe('a');
  });

  it('stream: role chunk first, content deltas, finish on the last, no usage chunk unless asked', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-x', messages, stream: true });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    const ids = new Set(chunks.map((c) => c.id));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^chatcmpl-/);
    for (const c of chunks) {
      expect(c.object).toBe('chat.completion.chunk');
      expect(Number.isInteger(c.created)).toBe(true);
      expect(c.model).toBe('gpt-x');
      expect(c.choices).toHaveLength(1);
    }
    expect(chunks.map((c) => c.choices[0]!.delta.content ?? '').join('')).toBe('Hello, world!');
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    expect(chunks.slice(0, -1).every((c) => c.choices[0]!.finish_reason === null)).toBe(true);
    expect(chunks.some((c) => c.usage)).toBe(false);
  });

  it('stream with include_usage: a usage chunk with empty choices before [DONE]', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-x', messages, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it('raw SSE: id on every event, x-abi-stream-id, [DONE] last', async () => {
    const r = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: { model: 'gpt-x', messages, stream: true } });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(r.headers['x-abi-stream-id']).toBeTruthy();
    expect(r.headers['x-abi-backend']).toBe('a');
    expect(r.events.map((e) => e.id)).toEqual(r.events.map((_, i) => String(i)));
    expect(r.events.at(-1)!.data).toBe('[DONE]');
  });

  it('tool_calls, tools passthrough and logprobs are relayed intact', async () => {
    const toolCalls = [
      [{ index: 0, id: 'call_1', type: 'function' as const, function: { name: 'get_weather', arguments: '' } }],
      [{ index: 0, function: { arguments: '{"city":' } }],
      [{ index: 0, function: { arguments: '"Paris"}' } }],
    ];
    a.enqueue({ tokens: [], toolCalls });
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const stream = await client.chat.completions.create({ model: 'gpt-x', messages, stream: true, tools, tool_choice: 'auto' });
    const deltas = [];
    let finish: string | null = null;
    for await (const c of stream) {
      if (c.choices[0]?.delta.tool_calls) deltas.push(...c.choices[0].delta.tool_calls);
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(deltas).toEqual(toolCalls.flat());
    expect(finish).toBe('tool_calls');
    const upstreamBody = a.requests.at(-1)!.body;
    expect(upstreamBody.tools).toEqual(tools);
    expect(upstreamBody.tool_choice).toBe('auto');

    a.enqueue({ tokens: [], toolCalls });
    const full = await client.chat.completions.create({ model: 'gpt-x', messages, tools });
    expect(full.choices[0]!.message.tool_calls).toEqual([{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
    expect(full.choices[0]!.finish_reason).toBe('tool_calls');

    a.enqueue({ tokens: ['Hi'], logprobs: true });
    const lp = await client.chat.completions.create({ model: 'gpt-x', messages, stream: true, logprobs: true });
    const lpChunks = [];
    for await (const c of lp) lpChunks.push(c);
    const withLogprobs = lpChunks.find((c) => c.choices[0]?.logprobs);
    expect(withLogprobs!.choices[0]!.logprobs!.content![0]).toMatchObject({ token: 'Hi', logprob: -0.25 });
  });

  it('the backend field selects a backend and x-abi-backend names it', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-x', messages, stream: true, backend: 'b' } as OpenAI.ChatCompletionCreateParamsStreaming)
      .withResponse();
    let text = '';
    for await (const c of data) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe('from b');
    expect(response.headers.get('x-abi-backend')).toBe('b');
    expect(b.requests.at(-1)!.body.backend).toBeUndefined();
  });

  it('an unknown backend is a 400 naming the param', async () => {
    const err = await client.chat.completions.create({ model: 'gpt-x', messages, backend: 'zzz' } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('backend');
  });

  it('a failure after the stream started is an in-band error, without [DONE] or a success finish', async () => {
    a.enqueue({ tokenCount: 5, errorAfterTokens: 2, streamError: { message: 'upstream exploded', type: 'server_error', code: 'boom' } });
    // Every target is tried before the stream fails; b also fails so the failure is final.
    b.enqueue({ tokenCount: 5, errorAfterTokens: 0, streamError: { message: 'b too', type: 'server_error' } });
    const r = await sseRequest(`${t.url}/v1/chat/completions`, { headers: AUTH, body: { model: 'gpt-x', messages, stream: true } });
    expect(r.status).toBe(200);
    const p = payloads(r.events);
    expect(p).not.toContain('[DONE]');
    expect(p.at(-1).error).toMatchObject({ type: expect.any(String), message: expect.any(String) });
    expect(p.some((x) => x.choices?.[0]?.finish_reason)).toBe(false);

    a.enqueue({ tokenCount: 5, errorAfterTokens: 2 });
    b.enqueue({ tokenCount: 5, errorAfterTokens: 0 });
    const stream = await client.chat.completions.create({ model: 'gpt-x', messages, stream: true });
    const err = await (async () => {
      for await (const _ of stream);
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
  });

  it('GET /v1/models lists what the backends report', async () => {
    const list = await client.models.list();
    const ids = list.data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['model-a', 'model-b']));
  });
});

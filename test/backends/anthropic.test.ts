import { describe, expect, it } from 'vitest';
import { AnthropicBackend, type AnthropicBackendConfig } from '../../lib/backends/anthropic.js';
import { backendSetup, collect, failure, requestFor, signal, text } from '../support/backend-harness.js';
import { startFakeAnthropic, type FakeAnthropicOptions } from '../support/fake-anthropic.js';

const setup = backendSetup(
  (opts: FakeAnthropicOptions) => startFakeAnthropic(opts),
  (baseUrl, deps, opts: Partial<AnthropicBackendConfig>) => new AnthropicBackend('claude', { baseUrl, apiKey: 'sk-ant-secret-123456', ...opts }, deps),
);
const req = requestFor('claude-x');

describe('anthropic backend', () => {
  it('streams text with start, finish and usage, sending the Messages API headers and body', async () => {
    const { fake, backend } = await setup();
    const events = await collect(backend.stream(req({ maxTokens: 50, temperature: 0.2, stop: ['END'], user: 'u1' }), signal()));
    expect(events[0]).toEqual({ type: 'start', model: 'claude-x' });
    expect(text(events)).toBe('Hello, world!');
    expect(events.slice(-2)).toEqual([
      { type: 'finish', reason: 'stop' },
      { type: 'usage', usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 } },
    ]);
    const r = fake.requests[0]!;
    expect(r.url).toBe('/v1/messages');
    expect(r.headers['x-api-key']).toBe('sk-ant-secret-123456');
    expect(r.headers['anthropic-version']).toBe('2023-06-01');
    expect(r.headers.authorization).toBeUndefined();
    expect(r.body).toEqual({
      model: 'claude-x',
      max_tokens: 50,
      system: 'Be brief.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Say hello' }] }],
      stream: true,
      temperature: 0.2,
      stop_sequences: ['END'],
      metadata: { user_id: 'u1' },
    });
  });

  it('maps stop reasons: max_tokens → length, refusal → content_filter', async () => {
    const { backend } = await setup({ scenarios: { long: { finishReason: 'length' }, refused: { finishReason: 'content_filter' } } });
    expect((await collect(backend.stream(req({ model: 'long' }), signal()))).find((e) => e.type === 'finish')).toEqual({ type: 'finish', reason: 'length' });
    expect((await collect(backend.stream(req({ model: 'refused' }), signal()))).find((e) => e.type === 'finish')).toEqual({
      type: 'finish',
      reason: 'content_filter',
    });
  });

  it('translates tools both ways and streams input_json_delta as tool_calls deltas', async () => {
    const { fake, backend } = await setup({
      defaultScenario: {
        tokens: ['Checking'],
        toolCalls: [{ id: 'toolu_01', name: 'get_weather', argumentChunks: ['{"city":', '"Paris"}'] }],
      },
    });
    const events = await collect(
      backend.stream(
        {
          model: 'claude-x',
          messages: [
            { role: 'user', content: 'Weather in Rome?' },
            { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_00', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }] },
            { role: 'tool', tool_call_id: 'toolu_00', content: '18C' },
            { role: 'user', content: 'And Paris?' },
          ],
          passthrough: {
            tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
            tool_choice: { type: 'function', function: { name: 'get_weather' } },
          },
        },
        signal(),
      ),
    );
    const body = fake.requests[0]!.body;
    expect(body.tools).toEqual([{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }]);
    expect(body.tool_choice).toEqual({ type: 'tool', name: 'get_weather' });
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Rome?' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_00', name: 'get_weather', input: { city: 'Rome' } }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_00', content: '18C' },
          { type: 'text', text: 'And Paris?' },
        ],
      },
    ]);
    const calls = events.filter((e) => e.type === 'tool_calls');
    expect(calls).toEqual([
      { type: 'tool_calls', toolCalls: [{ index: 0, id: 'toolu_01', type: 'function', function: { name: 'get_weather', arguments: '' } }] },
      { type: 'tool_calls', toolCalls: [{ index: 0, function: { arguments: '{"city":' } }] },
      { type: 'tool_calls', toolCalls: [{ index: 0, function: { arguments: '"Paris"}' } }] },
    ]);
    expect(events.find((e) => e.type === 'finish')).toEqual({ type: 'finish', reason: 'tool_calls' });
  });

  it('continues an assistant prefill, trimming trailing whitespace the API would reject', async () => {
    const { fake, backend } = await setup();
    const events = await collect(backend.stream(req({ prefill: 'Hello, ' }), signal()));
    expect(fake.requests[0]!.body.messages.at(-1)).toEqual({ role: 'assistant', content: [{ type: 'text', text: 'Hello,' }] });
    expect('Hello, ' + text(events)).toBe('Hello, world!');
  });

  it('529 overloaded_error is retryable; prompt too long is a final context_length_exceeded', async () => {
    const { backend } = await setup({
      scenarios: {
        busy: { status: 529, errorCode: 'overloaded_error', errorMessage: 'Overloaded' },
        big: { status: 400, errorCode: 'context_length_exceeded' },
        slow: { status: 429, retryAfter: '2' },
      },
    });
    const busy = await failure(backend.stream(req({ model: 'busy' }), signal()));
    expect(busy.error).toMatchObject({ kind: 'http', status: 529, providerCode: 'overloaded_error', retryable: true });
    const big = await failure(backend.stream(req({ model: 'big' }), signal()));
    expect(big.error).toMatchObject({ kind: 'http', status: 400, providerCode: 'context_length_exceeded', retryable: false });
    const slow = await failure(backend.stream(req({ model: 'slow' }), signal()));
    expect(slow.error).toMatchObject({ status: 429, retryAfterMs: 2000, retryable: true });
  });

  it('an `event: error` mid-stream fails the stream after the tokens already sent', async () => {
    const { backend } = await setup({ defaultScenario: { errorAfterTokens: 2, errorCode: 'overloaded_error', errorMessage: 'Overloaded' } });
    const { error, events } = await failure(backend.stream(req(), signal()));
    expect(text(events)).toBe('Hello,');
    expect(error).toMatchObject({ status: 529, providerCode: 'overloaded_error', retryable: true });
  });

  it('skips an unparseable event and logs it; a cut stream is a cut error', async () => {
    const { backend, warnings, malformed } = await setup({ scenarios: { bad: { malformedAfterTokens: 1 }, cut: { cutAfterTokens: 2 } } });
    const events = await collect(backend.stream(req({ model: 'bad' }), signal()));
    expect(text(events)).toBe('Hello, world!');
    expect(warnings).toHaveLength(1);
    expect(malformed()).toBe(1);
    const cut = await failure(backend.stream(req({ model: 'cut' }), signal()));
    expect(cut.error.kind).toBe('cut');
    expect(text(cut.events)).toBe('Hello,');
  });

  it('finalises at the stop reason even when message_stop never comes', async () => {
    const { backend } = await setup({ defaultScenario: { noDone: true } });
    const events = await collect(backend.stream(req(), signal()));
    expect(events.find((e) => e.type === 'finish')).toEqual({ type: 'finish', reason: 'stop' });
  });

  it('never puts the API key in an error message', async () => {
    const { backend } = await setup({ defaultScenario: { status: 401, errorMessage: 'invalid x-api-key: sk-ant-secret-123456' } });
    const { error } = await failure(backend.stream(req(), signal()));
    expect(error.message).not.toContain('sk-ant-secret-123456');
    expect(JSON.stringify(error.toApiError().toEnvelope())).not.toContain('secret-123456');
  });
});

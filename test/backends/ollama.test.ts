import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { OllamaBackend, type OllamaBackendConfig } from '../../lib/backends/ollama.js';
import { backendSetup, collect, failure, requestFor, signal, text } from '../support/backend-harness.js';
import { startFakeOllama } from '../support/fake-ollama.js';

const setup = backendSetup(
  (opts: Parameters<typeof startFakeOllama>[0]) => startFakeOllama(opts),
  (baseUrl, deps, opts: Partial<OllamaBackendConfig>) => new OllamaBackend('local-ollama', { baseUrl, keepAlive: '5m', ...opts }, deps),
);
const req = requestFor('llama3.2');

describe('ollama backend', () => {
  it('streams /api/chat NDJSON into content, finish and usage from eval counts', async () => {
    const { fake, backend } = await setup();
    const events = await collect(backend.stream(req({ maxTokens: 20, temperature: 0.5, seed: 7, stop: ['\n\n'] }), signal()));
    expect(events[0]).toEqual({ type: 'start', model: 'llama3.2' });
    expect(text(events)).toBe('Hello, world!');
    expect(events.slice(-2)).toEqual([
      { type: 'finish', reason: 'stop' },
      { type: 'usage', usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 } },
    ]);
    expect(fake.requests[0]!.url).toBe('/api/chat');
    expect(fake.requests[0]!.body).toEqual({
      model: 'llama3.2',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Say hello' },
      ],
      stream: true,
      options: { num_predict: 20, temperature: 0.5, stop: ['\n\n'], seed: 7 },
      keep_alive: '5m',
    });
  });

  it('done_reason length → finish length', async () => {
    const { backend } = await setup({ defaultScenario: { finishReason: 'length' } });
    expect((await collect(backend.stream(req(), signal()))).find((e) => e.type === 'finish')).toEqual({ type: 'finish', reason: 'length' });
  });

  it('maps tool calls both ways', async () => {
    const { fake, backend } = await setup({
      defaultScenario: { tokens: [], toolCalls: [{ id: 'x', name: 'get_weather', argumentChunks: ['{"city":"Paris"}'] }] },
    });
    const events = await collect(
      backend.stream(
        {
          model: 'llama3.2',
          messages: [
            { role: 'user', content: 'Weather?' },
            { role: 'assistant', content: '', tool_calls: [{ id: 'c0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }] },
            { role: 'tool', tool_call_id: 'c0', content: '18C' },
          ],
          passthrough: { tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] },
        },
        signal(),
      ),
    );
    const body = fake.requests[0]!.body;
    expect(body.messages[1]).toEqual({ role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Rome' } } }] });
    expect(body.messages[2]).toEqual({ role: 'tool', content: '18C', tool_name: 'get_weather' });
    expect(body.tools).toHaveLength(1);
    expect(events.filter((e) => e.type === 'tool_calls')).toEqual([
      { type: 'tool_calls', toolCalls: [{ index: 0, id: 'call_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    ]);
    expect(events.find((e) => e.type === 'finish')).toEqual({ type: 'finish', reason: 'tool_calls' });
  });

  it('an error body before the stream and an error line mid-stream become BackendErrors', async () => {
    const { backend } = await setup({
      scenarios: {
        missing: { status: 404 },
        busy: { status: 503, retryAfter: '1' },
        mid: { errorAfterTokens: 1, errorMessage: 'model runner crashed' },
      },
    });
    expect((await failure(backend.stream(req({ model: 'missing' }), signal()))).error).toMatchObject({ status: 404, retryable: false });
    expect((await failure(backend.stream(req({ model: 'busy' }), signal()))).error).toMatchObject({ status: 503, retryable: true, retryAfterMs: 1000 });
    const mid = await failure(backend.stream(req({ model: 'mid' }), signal()));
    expect(text(mid.events)).toBe('Hello');
    expect(mid.error.afterFirstToken).toBe(true);
    expect(mid.error.message).toContain('model runner crashed');
  });

  it('skips an unparseable line (logged); EOF without done is a cut', async () => {
    const { backend, warnings, malformed } = await setup({ scenarios: { bad: { malformedAfterTokens: 2 }, cut: { cutAfterTokens: 3 }, nofinish: { finishReason: null } } });
    expect(text(await collect(backend.stream(req({ model: 'bad' }), signal())))).toBe('Hello, world!');
    expect(warnings).toHaveLength(1);
    expect(malformed()).toBe(1);
    expect((await failure(backend.stream(req({ model: 'cut' }), signal()))).error.kind).toBe('cut');
    expect((await failure(backend.stream(req({ model: 'nofinish' }), signal()))).error.kind).toBe('cut');
  });

  it('reads lines split across reads (inside a multi-byte character) and a last line without its newline', async () => {
    const lines = [
      '{"model":"llama3.2","message":{"role":"assistant","content":"hé"},"done":false}\n',
      '{"model":"llama3.2","message":{"role":"assistant","content":"llo"},"done":false}\n',
      '{"model":"llama3.2","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":2}',
    ];
    const bytes = Buffer.from(lines.join(''));
    const cut = bytes.indexOf(0xc3) + 1; // between the two bytes of "é"
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(bytes.subarray(0, cut));
      setTimeout(() => res.end(bytes.subarray(cut)), 10);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const backend = new OllamaBackend('raw', { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, keepAlive: '5m' }, {});
    try {
      const events = await collect(backend.stream(req({}), signal()));
      expect(text(events)).toBe('héllo');
      expect(events.at(-2)).toEqual({ type: 'finish', reason: 'stop' });
      expect(events.at(-1)).toEqual({ type: 'usage', usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } });
    } finally {
      await backend.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('sends a prefill as a trailing assistant message and streams only the continuation', async () => {
    const { fake, backend } = await setup({}, { continuation: true });
    const events = await collect(backend.stream(req({ prefill: 'Hello,' }), signal()));
    expect(fake.requests[0]!.body.messages.at(-1)).toEqual({ role: 'assistant', content: 'Hello,' });
    expect(text(events)).toBe(' world!');
    expect(backend.continuation).toBe(true);
  });
});

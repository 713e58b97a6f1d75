/**
 * A fake Ollama upstream: `startFaultUpstream` speaking `/api/chat` NDJSON byte for byte
 * (provider-streams.md §4): one JSON object per line, `done:false` content lines, a final `done:true`
 * line with done_reason and metrics (nanosecond durations, prompt_eval_count, eval_count), errors as
 * `{"error":"…"}` (HTTP body before the stream, an extra line mid-stream).
 */
import { openaiWire, startFaultUpstream, type FaultUpstream, type FaultUpstreamOptions, type StreamContext, type WireFormat } from './fault-upstream.js';

function line(ctx: StreamContext, extra: Record<string, unknown>): string {
  return `${JSON.stringify({ model: ctx.model, created_at: '2026-01-01T00:00:00.1Z', ...extra })}\n`;
}

export const ollamaWire: WireFormat = {
  name: 'ollama',
  paths: ['/api/chat'],
  contentType: 'application/x-ndjson',
  // Ollama's chat messages have the same shape as OpenAI's.
  prefillOf: openaiWire.prefillOf,
  head: () => [],
  token: (ctx, text) => [line(ctx, { message: { role: 'assistant', content: text }, done: false })],
  toolCall: (ctx, _i, call) => [
    line(ctx, {
      message: { role: 'assistant', content: '', tool_calls: [{ function: { name: call.name, arguments: JSON.parse(call.argumentChunks.join('')) } }] },
      done: false,
    }),
  ],
  finish(ctx, reason, usage) {
    if (reason === null) return [];
    return [
      line(ctx, {
        message: { role: 'assistant', content: '' },
        done: true,
        done_reason: reason === 'length' ? 'length' : 'stop',
        total_duration: 412000000,
        load_duration: 1300000,
        prompt_eval_count: usage.prompt,
        prompt_eval_duration: 34000000,
        eval_count: usage.completion,
        eval_duration: 36000000,
      }),
    ];
  },
  terminator: () => [],
  midStreamError: (_ctx, _code, message) => [`${JSON.stringify({ error: message })}\n`],
  malformed: () => '{"model":"x","message":{"role":\n',
  errorResponse(status, code, message) {
    if (code === 'context_length_exceeded') message = 'the input length exceeds the context length';
    if (status === 404) message = `model not found, try pulling it first`;
    return { body: { error: message } };
  },
};

export function startFakeOllama(opts: Omit<FaultUpstreamOptions, 'wire'> = {}): Promise<FaultUpstream> {
  return startFaultUpstream({ ...opts, wire: ollamaWire });
}

/**
 * A fake Anthropic Messages upstream: `startFaultUpstream` speaking the Messages streaming format byte
 * for byte (provider-streams.md §3): `event:` + `data:` frames, message_start → content blocks → ping →
 * message_delta (stop_reason, cumulative usage) → message_stop; tool_use blocks with input_json_delta;
 * errors as `{"type":"error","error":{type,message},"request_id"}` with a `request-id` header, mid-stream
 * as `event: error`. Like the real API it rejects a final assistant message that ends in whitespace.
 */
import { lastAssistantMessage, startFaultUpstream, type FaultUpstream, type FaultUpstreamOptions, type StreamContext, type WireFormat } from './fault-upstream.js';

const STOP_REASONS: Record<string, string> = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', content_filter: 'refusal' };

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

function frame(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

/** Opens the text block lazily and closes whatever block is open before another starts. */
function closeOpenBlock(ctx: StreamContext): string[] {
  if (ctx.state.open === undefined) return [];
  const index = ctx.state.open as number;
  ctx.state.open = undefined;
  return [frame('content_block_stop', { index })];
}

function nextIndex(ctx: StreamContext): number {
  const i = (ctx.state.next as number | undefined) ?? 0;
  ctx.state.next = i + 1;
  ctx.state.open = i;
  return i;
}

export const anthropicWire: WireFormat = {
  name: 'anthropic',
  paths: ['/v1/messages'],
  contentType: 'text/event-stream; charset=utf-8',
  prefillOf(body) {
    const last = lastAssistantMessage(body);
    if (last === undefined) return undefined;
    if (typeof last.content === 'string') return last.content;
    if (Array.isArray(last.content) && last.content.every((b: any) => b.type === 'text')) return last.content.map((b: any) => b.text).join('');
    return undefined;
  },
  head: (ctx) => [
    frame('message_start', {
      message: {
        id: `msg_${ctx.id}`,
        type: 'message',
        role: 'assistant',
        content: [],
        model: ctx.model,
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 9, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
      },
    }),
  ],
  token(ctx, text) {
    const frames: string[] = [];
    if (ctx.state.textBlock === undefined) {
      const index = nextIndex(ctx);
      ctx.state.textBlock = index;
      frames.push(frame('content_block_start', { index, content_block: { type: 'text', text: '' } }));
      frames.push(frame('ping', {}));
    }
    frames.push(frame('content_block_delta', { index: ctx.state.textBlock, delta: { type: 'text_delta', text } }));
    return frames;
  },
  toolCall(ctx, _i, call) {
    const frames = closeOpenBlock(ctx);
    const index = nextIndex(ctx);
    frames.push(frame('content_block_start', { index, content_block: { type: 'tool_use', id: call.id, name: call.name, input: {} } }));
    for (const partial_json of call.argumentChunks) frames.push(frame('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json } }));
    return frames;
  },
  finish(ctx, reason, usage) {
    const frames = closeOpenBlock(ctx);
    if (reason === null) return frames;
    frames.push(
      frame('message_delta', {
        delta: { stop_reason: STOP_REASONS[reason] ?? reason, stop_sequence: null },
        usage: { output_tokens: usage.completion },
      }),
    );
    return frames;
  },
  terminator: () => [frame('message_stop', {})],
  midStreamError: (_ctx, code, message) => [frame('error', { error: { type: code, message } })],
  malformed: () => 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{\n\n',
  errorResponse(status, code, message) {
    let type = ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
    if (code === 'overloaded_error') type = 'overloaded_error';
    if (code === 'context_length_exceeded') message = 'prompt is too long: 9120 tokens > 8192 maximum';
    return { body: { type: 'error', error: { type, message }, request_id: 'req_fault01' }, headers: { 'request-id': 'req_fault01' } };
  },
};

export interface FakeAnthropicOptions extends Omit<FaultUpstreamOptions, 'wire'> {
  /** Reject final assistant messages ending in whitespace as the real API does (default true). */
  strictPrefill?: boolean;
}

export async function startFakeAnthropic(opts: FakeAnthropicOptions = {}): Promise<FaultUpstream> {
  const strict = opts.strictPrefill ?? true;
  const wire: WireFormat = strict
    ? {
        ...anthropicWire,
        prefillOf: (body) => {
          const p = anthropicWire.prefillOf(body);
          if (p !== undefined && /\s$/.test(p)) throw new Error('final assistant content cannot end with trailing whitespace');
          return p;
        },
      }
    : anthropicWire;
  return startFaultUpstream({ ...opts, wire });
}

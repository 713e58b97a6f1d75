import type { FinishReason } from '../backends/types.js';
import { abiEnd, abiError, abiStart, abiToken } from '../protocol/abi-events.js';
import type { ApiError } from '../protocol/errors.js';
import { COMPACT_CONTENT, type OutputEvent, type StreamEncoder } from './stream-run.js';

/**
 * ABI events (`start`, `token`, `end`, `error`). Content deltas become tokens; tool calls and
 * refusals have no ABI event and are not sent (the ABI format is for plain text streaming; use
 * /v1/chat/completions for tools). Over WebSocket every event carries the stream `id`.
 */
export class AbiStreamEncoder implements StreamEncoder {
  private index = 0;
  private finishReason: FinishReason = 'stop';
  private completionTokens: number | undefined;

  constructor(
    private readonly requestId: string,
    private readonly streamId?: string,
  ) {}

  start(model: string): string[] {
    return [abiStart(this.requestId, model, Date.now(), this.streamId)];
  }

  event(event: OutputEvent): string | typeof COMPACT_CONTENT | undefined {
    switch (event.type) {
      case 'content':
        if (event.text === '') return undefined;
        this.index++;
        return COMPACT_CONTENT;
      case 'finish':
        this.finishReason = event.reason;
        return undefined;
      case 'usage':
        this.completionTokens = event.usage.completion_tokens;
        return undefined;
      default:
        return undefined;
    }
  }

  /** `start` is the stream's only record before its tokens (seq 0), so token n has seq n + 1. */
  renderContent(text: string, seq: number): string {
    return abiToken(text, seq - 1, this.streamId);
  }

  finish(): string[] {
    return [abiEnd(this.requestId, this.completionTokens ?? this.index, this.finishReason, this.streamId)];
  }

  error(err: ApiError): string[] {
    return [abiError(this.requestId, err.toEnvelope(), this.streamId)];
  }
}

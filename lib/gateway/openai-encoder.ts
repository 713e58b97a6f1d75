import type { Usage } from '../backends/types.js';
import { ChunkBuilder } from '../protocol/chunks.js';
import type { ApiError } from '../protocol/errors.js';
import { COMPACT_CONTENT, type OutputEvent, type StreamEncoder } from './stream-run.js';

/**
 * OpenAI `chat.completion.chunk` payloads: role chunk first, deltas, the finish chunk, the usage
 * chunk only when the client asked for it (`include_usage`), then `[DONE]`. A failure is one
 * `{"error":{…}}` payload and no `[DONE]`, which the official SDK raises as an APIError.
 */
export class OpenAIStreamEncoder implements StreamEncoder {
  private readonly builder: ChunkBuilder;
  private usage: Usage | undefined;

  constructor(
    requestedModel: string,
    private readonly includeUsage: boolean,
  ) {
    this.builder = new ChunkBuilder({ model: requestedModel, includeUsage });
  }

  start(model: string): string[] {
    this.builder.setModel(model);
    return [this.builder.role()];
  }

  event(event: OutputEvent): string | typeof COMPACT_CONTENT | undefined {
    if (event.type === 'usage') {
      this.usage = event.usage;
      return undefined;
    }
    if (event.type === 'content' && event.logprobs === undefined) return COMPACT_CONTENT;
    return this.builder.forEvent(event);
  }

  renderContent(text: string): string {
    return this.builder.content(text);
  }

  finish(): string[] {
    return this.includeUsage && this.usage ? [this.builder.usage(this.usage), '[DONE]'] : ['[DONE]'];
  }

  error(err: ApiError): string[] {
    return [JSON.stringify(err.toEnvelope())];
  }
}

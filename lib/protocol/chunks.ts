/**
 * OpenAI `chat.completion.chunk` payloads (one per SSE `data:` line) and the non-stream
 * `chat.completion` object, built from BackendEvents.
 *
 * Chunks are serialised straight to JSON text: the constant head of every chunk (id, object, created,
 * model) is encoded once per completion, so a content token costs one JSON.stringify of its text and
 * a few string concatenations, not an object graph per token (this is the relay's hot path).
 */
import { randomBytes } from 'node:crypto';
import type { BackendEvent, FinishReason, ToolCall, ToolCallDelta, Usage } from '../backends/types.js';

/** What identifies one completion across all its chunks. */
export interface ChunkIdentity {
  readonly id: string;
  /** Unix seconds, fixed for the whole completion. */
  readonly created: number;
  /** The model that actually answered (updated when the backend's start event names it). */
  readonly model: string;
}

export interface ChunkBuilderOptions {
  /** Model named until `setModel` is called (normally the requested one). */
  model: string;
  /** Put `"usage":null` on every chunk, as OpenAI does when the client set `stream_options.include_usage`. */
  includeUsage?: boolean;
  /** Fixed id (tests, resumed streams); default a fresh `chatcmpl-…`. */
  id?: string;
  /** Fixed creation time in unix seconds; default now. */
  created?: number;
}

/** Random bytes for completion ids, drawn from the OS 4 KiB at a time: one syscall per ~270 ids, not one each. */
const idEntropy = { bytes: Buffer.alloc(0), used: 0 };

export function newCompletionId(): string {
  if (idEntropy.used + 15 > idEntropy.bytes.length) {
    idEntropy.bytes = randomBytes(4096);
    idEntropy.used = 0;
  }
  const bytes = idEntropy.bytes.subarray(idEntropy.used, idEntropy.used + 15);
  idEntropy.used += 15;
  return `chatcmpl-${bytes.toString('base64url').replace(/[-_]/g, 'x')}`;
}

export class ChunkBuilder implements ChunkIdentity {
  readonly id: string;
  readonly created: number;
  private currentModel: string;
  private head = '';
  private readonly tail: string;

  constructor(opts: ChunkBuilderOptions) {
    this.id = opts.id ?? newCompletionId();
    this.created = opts.created ?? Math.floor(Date.now() / 1000);
    this.currentModel = opts.model;
    this.tail = opts.includeUsage ? ',"usage":null}' : '}';
    this.rebuildHead();
  }

  get model(): string {
    return this.currentModel;
  }

  /** Names the model that actually answers; every later chunk carries it. */
  setModel(model: string): void {
    if (model === this.currentModel) return;
    this.currentModel = model;
    this.rebuildHead();
  }

  private rebuildHead(): void {
    this.head = `{"id":${JSON.stringify(this.id)},"object":"chat.completion.chunk","created":${this.created},"model":${JSON.stringify(this.currentModel)},"choices":`;
  }

  private choice(delta: string, logprobs: string, finish: string): string {
    return `${this.head}[{"index":0,"delta":{${delta}},"logprobs":${logprobs},"finish_reason":${finish}}]${this.tail}`;
  }

  /** The first chunk: `delta.role` "assistant" with empty content. */
  role(): string {
    return this.choice('"role":"assistant","content":""', 'null', 'null');
  }

  content(text: string, logprobs?: unknown): string {
    return this.choice(`"content":${JSON.stringify(text)}`, logprobs === undefined || logprobs === null ? 'null' : JSON.stringify(logprobs), 'null');
  }

  refusal(text: string): string {
    return this.choice(`"refusal":${JSON.stringify(text)}`, 'null', 'null');
  }

  toolCalls(toolCalls: ToolCallDelta[]): string {
    return this.choice(`"tool_calls":${JSON.stringify(toolCalls)}`, 'null', 'null');
  }

  /** The last choice chunk: empty delta and the finish reason. */
  finish(reason: FinishReason): string {
    return this.choice('', 'null', JSON.stringify(reason));
  }

  /** The usage chunk, with empty `choices`; sent after the finish chunk and before [DONE]. */
  usage(usage: Usage): string {
    return `${this.head}[],"usage":${JSON.stringify(usage)}}`;
  }

  /**
   * The chunk for one backend event, or undefined for events that carry no chunk of their own
   * (`start` only updates the model). Usage chunks are produced whether or not the client asked for
   * them: the caller decides whether to send them.
   */
  forEvent(event: BackendEvent): string | undefined {
    switch (event.type) {
      case 'start':
        this.setModel(event.model);
        return undefined;
      case 'content':
        return this.content(event.text, event.logprobs);
      case 'refusal':
        return this.refusal(event.text);
      case 'tool_calls':
        return this.toolCalls(event.toolCalls);
      case 'finish':
        return this.finish(event.reason);
      case 'usage':
        return this.usage(event.usage);
    }
  }
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [
    {
      index: 0;
      message: { role: 'assistant'; content: string | null; refusal: string | null; tool_calls?: ToolCall[] };
      logprobs: { content: unknown[] | null; refusal: unknown[] | null } | null;
      finish_reason: FinishReason | null;
    },
  ];
  usage?: Usage;
}

/** Collects a streamed answer into one non-stream `chat.completion`. */
export class CompletionAccumulator {
  private content: string | null = null;
  private refusal: string | null = null;
  private readonly toolCalls: ToolCall[] = [];
  private logprobContent: unknown[] | null = null;
  private logprobRefusal: unknown[] | null = null;
  private finishReason: FinishReason | null = null;
  private lastUsage: Usage | undefined;
  private answeringModel: string | undefined;

  constructor(private readonly identity: ChunkIdentity) {}

  add(event: BackendEvent): void {
    switch (event.type) {
      case 'start':
        this.answeringModel = event.model;
        break;
      case 'content':
        this.content = (this.content ?? '') + event.text;
        this.addLogprobs(event.logprobs);
        break;
      case 'refusal':
        this.refusal = (this.refusal ?? '') + event.text;
        break;
      case 'tool_calls':
        for (const d of event.toolCalls) this.mergeToolCall(d);
        break;
      case 'finish':
        this.finishReason = event.reason;
        break;
      case 'usage':
        this.lastUsage = event.usage;
        break;
    }
  }

  private addLogprobs(logprobs: unknown): void {
    if (typeof logprobs !== 'object' || logprobs === null) return;
    const { content, refusal } = logprobs as { content?: unknown; refusal?: unknown };
    if (Array.isArray(content)) (this.logprobContent ??= []).push(...content);
    if (Array.isArray(refusal)) (this.logprobRefusal ??= []).push(...refusal);
  }

  /** Fragments share an `index`: id/type/name arrive once, `arguments` arrives in pieces to concatenate. */
  private mergeToolCall(d: ToolCallDelta): void {
    const call = (this.toolCalls[d.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
    if (d.id) call.id = d.id;
    if (d.function?.name) call.function.name = d.function.name;
    if (d.function?.arguments) call.function.arguments += d.function.arguments;
  }

  toCompletion(): ChatCompletion {
    const toolCalls = this.toolCalls.filter((t) => t !== undefined);
    const message: ChatCompletion['choices'][0]['message'] = {
      role: 'assistant',
      content: this.content ?? (toolCalls.length > 0 || this.refusal !== null ? null : ''),
      refusal: this.refusal,
    };
    if (toolCalls.length > 0) message.tool_calls = toolCalls;
    const logprobs = this.logprobContent || this.logprobRefusal ? { content: this.logprobContent, refusal: this.logprobRefusal } : null;
    const completion: ChatCompletion = {
      id: this.identity.id,
      object: 'chat.completion',
      created: this.identity.created,
      model: this.answeringModel ?? this.identity.model,
      choices: [{ index: 0, message, logprobs, finish_reason: this.finishReason }],
    };
    if (this.lastUsage) completion.usage = this.lastUsage;
    return completion;
  }
}

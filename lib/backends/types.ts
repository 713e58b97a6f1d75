/**
 * The one contract between the gateway and every provider (openai, anthropic, ollama, local).
 * A backend knows nothing of HTTP serving, routes or other backends: it turns a ChatRequest into
 * a stream of BackendEvents and stops as soon as the AbortSignal fires.
 */

/** One content part of a message (OpenAI shape). */
export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: string } }
  | { type: string; [key: string]: unknown };

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

/** A validated chat request, already resolved to one target model of one backend. */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop?: string[];
  seed?: number;
  user?: string;
  /**
   * Text the assistant has already produced (mid-stream failover). A backend with
   * `continuation: true` sends it as an assistant prefill and streams only what follows.
   */
  prefill?: string;
  /** Request fields the gateway does not interpret (tools, response_format, ...), passed through to upstreams that accept them. */
  passthrough?: Record<string, unknown>;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  [detail: string]: unknown;
}

/** Streamed tool-call fragment, OpenAI `delta.tool_calls[i]` shape. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export type BackendEvent =
  /** The upstream accepted the request; `model` is the model that actually answers. */
  | { type: 'start'; model: string }
  | { type: 'content'; text: string; logprobs?: unknown }
  | { type: 'refusal'; text: string }
  | { type: 'tool_calls'; toolCalls: ToolCallDelta[] }
  | { type: 'finish'; reason: FinishReason }
  | { type: 'usage'; usage: Usage };

export interface Backend {
  /** Configured name (the key under `backends`). */
  readonly name: string;
  /** Backend type: 'openai' | 'anthropic' | 'ollama' | 'local'. */
  readonly type: string;
  /** True when the backend accepts an assistant prefill to continue from. */
  readonly continuation: boolean;
  /**
   * Streams one chat completion. Throws a BackendError (lib/backends/errors.ts) before or during the
   * stream; a stream that ends without a `finish` event is a cut stream, never a success.
   */
  stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<BackendEvent>;
  /**
   * Optional: the same stream as `stream`, in batches (e.g. every event of one network read). The
   * gateway prefers it: one async step per batch instead of one per token. Same contract otherwise;
   * a batch is never empty.
   */
  streamBatches?(request: ChatRequest, signal: AbortSignal): AsyncIterable<BackendEvent[]>;
  /** Models this backend can serve, for GET /v1/models. */
  models?(): Promise<string[]> | string[];
  /** Backend-specific health details merged into /health. */
  health?(): Record<string, unknown>;
  /** Releases pools, models and secrets. */
  close(): Promise<void>;
}

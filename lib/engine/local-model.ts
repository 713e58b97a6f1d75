/**
 * LocalModel: a GGUF model loaded into the native engine. Generation runs on the model's native
 * worker thread and streams text into a TokenRing; iterating a Generation reads the ring (no JS
 * callback per token). Requests share the model through a bounded queue.
 */
import { EngineBusyError, EngineError, GgufError, InvalidArgumentError } from '../errors.js';
import { TokenRing } from '../native/token-ring.js';
import { toEngineError } from './inspect.js';
import { engineBinding, type NativeGenerateOptions, type NativeModel, type NativeModelInfo, type NativeModelStats, type NativeRequest } from './native.js';

export interface LocalModelOptions {
  /** KV cache positions; default the model's trained context length, then capped by maxContextLength. */
  contextLength?: number;
  /** Upper bound on the context (memory cap). Default 4096. */
  maxContextLength?: number;
  /** Compute threads. Default: the machine's physical cores. */
  threads?: number;
  /** Prompt tokens per forward batch. Default 256. */
  batchSize?: number;
  /** Requests that may wait behind the running one; more are rejected with EngineBusyError. Default 8. */
  maxQueue?: number;
  /** Longest wait in the queue before a request fails with EngineBusyError. Default 30000 ms. */
  queueTimeoutMs?: number;
}

export interface GenerateOptions {
  /** Prompt text (tokenized with the model's tokenizer). */
  prompt?: string;
  /** Pre-tokenized prompt; takes precedence over `prompt`. */
  promptTokens?: Int32Array | number[];
  /** Add BOS/EOS as the vocabulary asks. Default true. */
  addSpecial?: boolean;
  /** Treat control-token text in the prompt (e.g. `<|im_start|>`) as control tokens. Default true. */
  parseSpecial?: boolean;
  /**
   * UTF-8 byte ranges [start, end) of `prompt` whose control-token text stays plain text even with
   * parseSpecial — the message text of a rendered chat (applyChatTemplate's `literalRanges`), so a
   * user who types `<|im_start|>` cannot open a real turn.
   */
  literalRanges?: Array<[number, number]>;
  /** Most tokens to generate; 0 = until the context is full. Default 256. */
  maxTokens?: number;
  /** Sampling temperature; 0 = greedy. Default 0.8. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 = off. Default 40. */
  topK?: number;
  /** Nucleus sampling mass; 1 = off. Default 0.95. */
  topP?: number;
  /** Drop tokens below minP × the top probability; 0 = off. Default 0.05. */
  minP?: number;
  /** llama.cpp repetition penalty; 1 = off. Default 1. */
  repeatPenalty?: number;
  /** Subtracted per occurrence in the penalty window. Default 0. */
  frequencyPenalty?: number;
  /** Subtracted once for tokens in the penalty window. Default 0. */
  presencePenalty?: number;
  /** Penalty window in tokens; -1 = the whole sequence. Default 64. */
  penaltyLastN?: number;
  /** PRNG seed: the same seed and input give the same tokens. Default 0. */
  seed?: number;
  /** Stop strings; generation ends before the first one and it is not returned. */
  stop?: string[];
  /** Report each token's log-probability and this many alternatives (0..20). Off when undefined. */
  logprobs?: number;
  /** Keep generating past end-of-generation tokens. Default false. */
  ignoreEos?: boolean;
  /** Drop the tokenizer's space prefix before the first generated word. Default false. */
  stripLeadingSpace?: boolean;
  /** Aborting cancels the generation within one token. */
  signal?: AbortSignal;
  /** Ring capacity in bytes (power of two). Default 64 KiB. */
  ringCapacityBytes?: number;
  /** Fail when the reader leaves the ring full this long. Default 60000 ms. */
  stallTimeoutMs?: number;
}

export interface TokenLogprob {
  id: number;
  token: string;
  logprob: number;
}

export interface GenerationChunk {
  text: string;
  /** With `logprobs`: the token behind this chunk, its log-probability and the top alternatives. */
  logprob?: TokenLogprob & { top: TokenLogprob[] };
}

export interface GenerationResult {
  finishReason: 'stop' | 'length' | 'cancelled';
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  /** Cancelled generations: tokens the native worker had generated when cancel() was first called. */
  generatedAtCancel?: number;
  tokens: number[];
  timings: { queueMs: number; promptMs: number; decodeMs: number };
}

interface LogprobRecord {
  t: string;
  id?: number;
  p?: string;
  lp?: number;
  top?: Array<{ id: number; p: string; lp: number }>;
}

/** One running generation: async-iterate it for text chunks, then read `result()`. */
export class Generation implements AsyncIterable<GenerationChunk> {
  readonly #request: NativeRequest;
  readonly #ring: TokenRing;
  readonly #logprobs: boolean;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.cancel();
  #iterated = false;

  constructor(request: NativeRequest, ring: TokenRing, logprobs: boolean, signal: AbortSignal | undefined) {
    this.#request = request;
    this.#ring = ring;
    this.#logprobs = logprobs;
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Stops the generation before its next token (or removes it from the queue). */
  cancel(): void {
    this.#request.cancel();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerationChunk> {
    if (this.#iterated) throw new InvalidArgumentError('a Generation can be iterated once');
    this.#iterated = true;
    let seq = -1;
    try {
      for (;;) {
        const records = this.#ring.read(seq, 64);
        for (const record of records) {
          seq = record.seq;
          const chunk = this.#decode(record.text());
          if (chunk) yield chunk;
        }
        if (records.length > 0) continue;
        const state = await this.#ring.wait(seq, 1000);
        if (state === 'closed') break;
      }
      this.#throwIfFailed();
    } finally {
      // A consumer that stops early (break, error) must not leave the model generating.
      if (this.#request.result().state !== 'done') this.cancel();
      this.#signal?.removeEventListener('abort', this.#onAbort);
    }
  }

  /** How the generation ended; waits for it to finish (reading nothing from the ring). */
  async result(): Promise<GenerationResult> {
    for (;;) {
      const r = this.#request.result();
      if (r.state === 'done') {
        this.#throwIfFailed();
        return {
          finishReason: r.finishReason as GenerationResult['finishReason'],
          promptTokens: r.promptTokens ?? 0,
          cachedTokens: r.cachedTokens ?? 0,
          completionTokens: r.completionTokens ?? 0,
          ...(r.generatedAtCancel !== undefined ? { generatedAtCancel: r.generatedAtCancel } : {}),
          tokens: Array.from(r.tokens ?? []),
          timings: r.timings ?? { queueMs: 0, promptMs: 0, decodeMs: 0 },
        };
      }
      // The worker marks the request done before it closes the ring, so each wait ends at the next
      // record or at the close, after which the state above is final.
      await this.#ring.wait(this.#ring.nextSeq - 1, 1000);
    }
  }

  #throwIfFailed(): void {
    const r = this.#request.result();
    if (r.state === 'done' && r.finishReason === 'error' && r.error) {
      if (r.error.code === 'ABI_ERR_ENGINE_BUSY') throw new EngineBusyError(r.error.message, 1000);
      throw new EngineError(r.error.message, r.error.code);
    }
  }

  #decode(payload: string): GenerationChunk | undefined {
    if (!this.#logprobs) return { text: payload };
    const rec = JSON.parse(payload) as LogprobRecord;
    if (rec.id === undefined) return rec.t ? { text: rec.t } : undefined;
    return {
      text: rec.t,
      logprob: {
        id: rec.id,
        token: rec.p ?? '',
        logprob: rec.lp ?? 0,
        top: (rec.top ?? []).map((t) => ({ id: t.id, token: t.p, logprob: t.lp })),
      },
    };
  }
}

export class LocalModel {
  readonly path: string;
  readonly info: NativeModelInfo;
  #native: NativeModel | undefined;

  private constructor(path: string, native: NativeModel) {
    this.path = path;
    this.#native = native;
    this.info = native.info();
  }

  /**
   * Maps the GGUF file and starts the model's generation worker. Throws GgufError (naming the file
   * and key/tensor) for a bad or unsupported file.
   */
  static load(path: string, options: LocalModelOptions = {}): LocalModel {
    if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError('LocalModel.load: path must be a non-empty string');
    try {
      return new LocalModel(path, new (engineBinding().Model)(path, options));
    } catch (err) {
      throw toEngineError(err);
    }
  }

  get loaded(): boolean {
    return this.#native !== undefined;
  }

  stats(): NativeModelStats {
    return this.#native?.stats() ?? { loaded: false };
  }

  /** `literalRanges`: as in GenerateOptions. */
  tokenize(text: string, addSpecial = true, parseSpecial = true, literalRanges?: Array<[number, number]>): Int32Array {
    return this.#model().tokenize(text, addSpecial, parseSpecial, literalRanges?.flat());
  }

  detokenize(ids: Int32Array | number[]): string {
    return this.#model().detokenize(Int32Array.from(ids));
  }

  /** Synchronous logits of the last token (tests and tools); `reset` starts a new sequence. */
  evaluate(tokens: Int32Array | number[], reset: boolean): Float32Array {
    return this.#model().evaluate(Int32Array.from(tokens), reset);
  }

  /**
   * Queues a generation. Throws EngineBusyError (with retryAfterMs) when the queue is full; errors
   * during generation (e.g. a prompt longer than the context) surface from iteration or result().
   */
  generate(options: GenerateOptions): Generation {
    const native = this.#model();
    const ring = TokenRing.create({ capacityBytes: options.ringCapacityBytes ?? 64 * 1024 });
    const { signal, ringCapacityBytes: _ring, promptTokens, literalRanges, ...rest } = options;
    const nativeOptions: NativeGenerateOptions = { ...rest };
    if (promptTokens !== undefined) nativeOptions.promptTokens = Int32Array.from(promptTokens);
    if (literalRanges !== undefined) nativeOptions.literalRanges = literalRanges.flat();
    if (signal?.aborted) throw new EngineError('the generation was aborted before it started', 'ABI_ERR_ABORTED');
    let request: NativeRequest;
    try {
      request = native.generate(nativeOptions, ring.nativeView);
    } catch (err) {
      const e = err as { code?: string; message: string; retryAfterMs?: number };
      if (e.code === 'ABI_ERR_ENGINE_BUSY') throw new EngineBusyError(e.message, e.retryAfterMs ?? 1000);
      throw toEngineError(err);
    }
    return new Generation(request, ring, options.logprobs !== undefined, signal);
  }

  /** Cancels running and queued generations, waits for the worker, and unmaps the file. */
  close(): void {
    this.#native?.close();
    this.#native = undefined;
  }

  #model(): NativeModel {
    if (!this.#native) throw new EngineError(`model ${this.path} is closed`, 'ABI_ERR_MODEL_CLOSED');
    return this.#native;
  }
}

export { GgufError };

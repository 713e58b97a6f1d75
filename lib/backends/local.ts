/**
 * The `local` backend: a GGUF model run by the package's own C++ engine. Chat messages are rendered
 * with the model's chat template, generated on the engine's native worker and streamed back through
 * the token ring. A full queue becomes a retryable 503 with Retry-After; `reloadModel` swaps in a new
 * file beside the old one and drains the old one's streams before freeing it.
 */
import { basename } from 'node:path';
import type { Logger } from 'pino';
import type { ConfigReader } from '../config/reader.js';
import type { BackendConfigBase } from '../config/sections/backends.js';
import { applyChatTemplate, type ChatTemplateFamily } from '../engine/chat-template.js';
import { inspectGguf } from '../engine/inspect.js';
import { type GenerateOptions, LocalModel } from '../engine/local-model.js';
import { AbiError, EngineBusyError, EngineError, GgufError } from '../errors.js';
import { confinePath } from '../security/http-hardening.js';
import { BackendError } from './errors.js';
import type { BackendTypeDefinition } from './registry.js';
import type { Backend, BackendEvent, ChatRequest } from './types.js';

export interface LocalBackendConfig extends BackendConfigBase {
  type: 'local';
  /** GGUF file to serve. Relative paths resolve against `modelsDir` when that is set. */
  modelPath: string;
  /** Model id listed by /v1/models and reported in responses. Default: the file name without `.gguf`. */
  modelName?: string;
  /** KV cache positions. Default: the model's trained context length, capped by maxContextLength. */
  contextLength?: number;
  /** Upper bound on the context (memory cap). Default 4096. */
  maxContextLength: number;
  /** Compute threads. Default: physical cores. */
  threads?: number;
  /** Prompt tokens per forward batch. Default 256. */
  batchSize: number;
  /** Requests that may wait behind the running one; beyond it requests get 503 + Retry-After. Default 8. */
  maxQueue: number;
  /** Longest wait in the queue before a request fails with 503. Default 30000. */
  queueTimeoutMs: number;
  /** Directory that /admin/reload model paths are confined to. Unset: reload by path is refused. */
  modelsDir?: string;
  /** How long a reload waits for streams on the old model before cancelling them. Default 30000. */
  drainTimeoutMs: number;
  /** `max_tokens` when the request gives none. Default 512. */
  defaultMaxTokens: number;
  /** Marks the built-in demo model (named as such in /v1/models). */
  demo: boolean;
}

/** A model swap was refused; the old model keeps serving. */
export class ModelReloadError extends AbiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ABI_ERR_MODEL_RELOAD', options);
    this.name = 'ModelReloadError';
  }
}

interface LoadedModel {
  model: LocalModel;
  name: string;
  chatTemplate: string | undefined;
  bosText: string | undefined;
  eosText: string | undefined;
  /** SPM vocabulary with a space prefix: a fresh answer's leading space is dropped, so a prefill gets it back. */
  spacePrefix: boolean;
  /** Streams running on this model, for draining on reload. */
  active: number;
  idle: Array<() => void>;
  family?: ChatTemplateFamily;
}

function modelNameFor(path: string): string {
  return basename(path).replace(/\.gguf$/i, '');
}

export class LocalBackend implements Backend {
  readonly type = 'local';
  readonly continuation = true;
  #current: LoadedModel;
  #reloading = false;
  readonly #config: LocalBackendConfig;
  readonly #logger: Logger | undefined;

  constructor(
    readonly name: string,
    config: LocalBackendConfig,
    deps: { logger?: Logger } = {},
  ) {
    this.#config = config;
    this.#logger = deps.logger;
    this.#current = this.#load(this.#resolveStartPath(config.modelPath));
  }

  #resolveStartPath(path: string): string {
    return this.#config.modelsDir !== undefined && !path.startsWith('/') ? confinePath(this.#config.modelsDir, path) : path;
  }

  #load(path: string, name?: string): LoadedModel {
    const info = inspectGguf(path);
    const model = LocalModel.load(path, {
      contextLength: this.#config.contextLength,
      maxContextLength: this.#config.maxContextLength,
      threads: this.#config.threads,
      batchSize: this.#config.batchSize,
      maxQueue: this.#config.maxQueue,
      queueTimeoutMs: this.#config.queueTimeoutMs,
    });
    const tokens = info.metadata['tokenizer.ggml.tokens'] as string[] | undefined;
    const idText = (key: string): string | undefined => {
      const id = info.metadata[key];
      return typeof id === 'number' && tokens && id < tokens.length ? tokens[id] : undefined;
    };
    const template = info.metadata['tokenizer.chat_template'];
    const loaded: LoadedModel = {
      model,
      name: name ?? this.#config.modelName ?? modelNameFor(path),
      chatTemplate: typeof template === 'string' ? template : undefined,
      bosText: idText('tokenizer.ggml.bos_token_id') ?? '<s>',
      eosText: idText('tokenizer.ggml.eos_token_id') ?? '</s>',
      spacePrefix: info.metadata['tokenizer.ggml.model'] === 'llama' && info.metadata['tokenizer.ggml.add_space_prefix'] !== false,
      active: 0,
      idle: [],
    };
    for (const warning of model.info.warnings) this.#logger?.warn({ model: loaded.name, path }, warning);
    this.#logger?.info(
      { model: loaded.name, path, architecture: model.info.architecture, weightType: model.info.weightType, contextLength: model.info.contextLength, threads: model.stats().threads, demo: this.#config.demo },
      this.#config.demo ? 'demo model loaded' : 'local model loaded',
    );
    return loaded;
  }

  models(): string[] {
    return [this.#current.name];
  }

  health(): Record<string, unknown> {
    const stats = this.#current.model.stats();
    return {
      model_loaded: this.#current.model.loaded,
      model: this.#current.name,
      model_path: this.#current.model.path,
      demo: this.#config.demo,
      queued: stats.queued ?? 0,
      generating: stats.running ?? false,
      context_length: stats.contextLength,
      threads: stats.threads,
    };
  }

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<BackendEvent> {
    const target = this.#current;
    target.active++;
    try {
      yield* this.#generate(target, request, signal);
    } finally {
      target.active--;
      if (target.active === 0) for (const resolve of target.idle.splice(0)) resolve();
    }
  }

  async *#generate(target: LoadedModel, request: ChatRequest, signal: AbortSignal): AsyncIterable<BackendEvent> {
    // The client saw the first word without the SPM space prefix (stripLeadingSpace below); put it
    // back so the continued prompt tokenizes as the original answer did.
    const prefill = request.prefill && target.spacePrefix && !/^\s/.test(request.prefill) ? ` ${request.prefill}` : request.prefill;
    const rendered = applyChatTemplate(target.chatTemplate, request.messages, { bos: target.bosText, eos: target.eosText, prefill });
    if (target.family !== rendered.family) {
      target.family = rendered.family;
      this.#logger?.info({ model: target.name, family: rendered.family, fromFile: target.chatTemplate !== undefined }, 'chat template family in use');
    }
    const options: GenerateOptions = {
      prompt: rendered.prompt,
      addSpecial: true,
      // The template's markers become control tokens; the same text inside messages stays text.
      parseSpecial: true,
      literalRanges: rendered.literalRanges,
      maxTokens: request.maxTokens ?? this.#config.defaultMaxTokens,
      // OpenAI's defaults: temperature 1 and top_p 1, with no top-k or min-p cut.
      temperature: request.temperature ?? 1,
      topP: request.topP ?? 1,
      topK: 0,
      minP: 0,
      stop: [...(request.stop ?? []), ...rendered.stop],
      // A fresh assistant turn starts without the tokenizer's space prefix; a continuation keeps it.
      stripLeadingSpace: request.prefill === undefined || request.prefill === '',
      signal,
    };
    if (request.seed !== undefined) options.seed = request.seed;
    // OpenAI fields the gateway passes through untouched (validated by lib/protocol/openai.ts).
    const extra = request.passthrough ?? {};
    if (extra.logprobs === true) options.logprobs = typeof extra.top_logprobs === 'number' ? extra.top_logprobs : 0;
    if (typeof extra.frequency_penalty === 'number') options.frequencyPenalty = extra.frequency_penalty;
    if (typeof extra.presence_penalty === 'number') options.presencePenalty = extra.presence_penalty;
    if (signal.aborted) throw new BackendError('The request was cancelled before it started.', { kind: 'aborted', backend: this.name });
    let generation;
    try {
      generation = target.model.generate(options);
    } catch (err) {
      throw this.#toBackendError(err, false);
    }
    yield { type: 'start', model: target.name };
    let sent = false;
    try {
      for await (const chunk of generation) {
        if (chunk.logprob) {
          // OpenAI's chat logprobs shape: one entry per generated token.
          const entry = (t: { token: string; logprob: number }): { token: string; logprob: number; bytes: number[] } => ({
            token: t.token,
            logprob: t.logprob,
            bytes: [...Buffer.from(t.token, 'utf8')],
          });
          const top = chunk.logprob.top.map(entry);
          sent = sent || chunk.text.length > 0;
          yield { type: 'content', text: chunk.text, logprobs: { content: [{ ...entry(chunk.logprob), top_logprobs: top }] } };
          continue;
        }
        if (chunk.text.length === 0) continue;
        sent = true;
        yield { type: 'content', text: chunk.text };
      }
      const result = await generation.result();
      if (result.finishReason === 'cancelled') {
        throw new BackendError('The generation was cancelled.', { kind: 'aborted', backend: this.name, afterFirstToken: sent });
      }
      yield { type: 'finish', reason: result.finishReason };
      yield {
        type: 'usage',
        usage: { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens },
      };
    } catch (err) {
      throw this.#toBackendError(err, sent);
    } finally {
      generation.cancel();
    }
  }

  #toBackendError(err: unknown, afterFirstToken: boolean): BackendError {
    if (err instanceof BackendError) return err;
    if (err instanceof EngineBusyError) {
      return new BackendError(err.message, { kind: 'http', status: 503, retryAfterMs: err.retryAfterMs, backend: this.name, providerCode: 'engine_busy', afterFirstToken, cause: err });
    }
    if (err instanceof EngineError && err.code === 'ABI_ERR_CONTEXT_LENGTH') {
      return new BackendError(err.message, { kind: 'http', status: 400, providerCode: 'context_length_exceeded', providerMessage: err.message, backend: this.name, afterFirstToken, cause: err });
    }
    const message = err instanceof Error ? err.message : String(err);
    return new BackendError(`local engine failed: ${message}`, { kind: 'http', status: 500, backend: this.name, afterFirstToken, cause: err });
  }

  /**
   * Loads `modelPath` (confined to `modelsDir`) beside the serving model, then makes it the one new
   * requests use, waits up to drainTimeoutMs for streams on the old model and frees it (cancelling
   * what is still running). On any failure the old model keeps serving and the error says why.
   */
  async reloadModel(modelPath: string): Promise<{ model: string; path: string; drained: boolean }> {
    if (this.#config.modelsDir === undefined) {
      throw new ModelReloadError(`backend '${this.name}' has no modelsDir configured, so it cannot load models by path`);
    }
    if (this.#reloading) throw new ModelReloadError(`backend '${this.name}' is already reloading a model`);
    this.#reloading = true;
    try {
      const path = confinePath(this.#config.modelsDir, modelPath);
      let next: LoadedModel;
      try {
        next = this.#load(path, this.#config.modelName === undefined ? modelNameFor(path) : this.#config.modelName);
      } catch (err) {
        const why = err instanceof GgufError || err instanceof Error ? err.message : String(err);
        throw new ModelReloadError(`the new model could not be loaded; the previous one keeps serving: ${why}`, { cause: err });
      }
      const old = this.#current;
      this.#current = next;
      const drained = await this.#drain(old);
      old.model.close();
      this.#logger?.info({ model: next.name, path, previous: old.name, drained }, 'local model swapped');
      return { model: next.name, path, drained };
    } finally {
      this.#reloading = false;
    }
  }

  async #drain(old: LoadedModel): Promise<boolean> {
    if (old.active === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => old.idle.push(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.#config.drainTimeoutMs);
    });
    try {
      return await Promise.race([idle, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.#current.model.close();
  }
}

export function readLocalConfig(r: ConfigReader, base: BackendConfigBase): LocalBackendConfig {
  const config: LocalBackendConfig = {
    ...base,
    type: 'local',
    modelPath: r.requiredString('modelPath'),
    maxContextLength: r.int('maxContextLength', 4096, { min: 16, max: 1 << 20 }),
    batchSize: r.int('batchSize', 256, { min: 1, max: 8192 }),
    maxQueue: r.int('maxQueue', 8, { min: 0, max: 100_000 }),
    queueTimeoutMs: r.int('queueTimeoutMs', 30_000, { min: 1, max: 24 * 3600 * 1000 }),
    drainTimeoutMs: r.int('drainTimeoutMs', 30_000, { min: 0, max: 24 * 3600 * 1000 }),
    defaultMaxTokens: r.int('defaultMaxTokens', 512, { min: 1, max: 1 << 20 }),
    demo: r.bool('demo', false),
    // The engine continues an assistant prefill after the template's assistant header.
    continuation: true,
  };
  const contextLength = r.int('contextLength', undefined, { min: 16, max: 1 << 20 });
  if (contextLength !== undefined) config.contextLength = contextLength;
  const threads = r.int('threads', undefined, { min: 1, max: 1024 });
  if (threads !== undefined) config.threads = threads;
  const modelName = r.string('modelName');
  if (modelName !== undefined) config.modelName = modelName;
  const modelsDir = r.string('modelsDir');
  if (modelsDir !== undefined) config.modelsDir = modelsDir;
  return config;
}

export const localBackendType: BackendTypeDefinition<LocalBackendConfig> = {
  type: 'local',
  create: (name, config, deps) => new LocalBackend(name, config, deps),
  readConfig: readLocalConfig,
};

/**
 * Backend types by name. Each backend module exports its type definition and is listed once at the
 * bottom of this file; the config loader validates `backends.<name>` with the type's `readConfig`,
 * and `createBackend` builds the instance.
 */
import type { Logger } from 'pino';
import type { ConfigReader } from '../config/reader.js';
import type { BackendConfig, BackendConfigBase } from '../config/sections/backends.js';
import { ConfigError } from '../errors.js';
import { anthropicBackendType } from './anthropic.js';
import { localBackendType } from './local.js';
import { ollamaBackendType } from './ollama.js';
import { openaiBackendType } from './openai.js';
import type { Backend } from './types.js';

/** What a backend may use from the server around it. */
export interface BackendDeps {
  /** Structured logger (a child with the backend name is made for each backend). */
  logger?: Logger;
  /** Called when a backend skipped unparseable upstream chunks (for `abi_upstream_malformed_chunks_total`). */
  onMalformedChunks?: (backend: string, count: number) => void;
}

export type BackendFactory<C extends BackendConfigBase = BackendConfig> = (name: string, config: C, deps: BackendDeps) => Backend;

/**
 * Reads the type's own keys from `reader` (the common `type`, `timeouts`, `continuation` are already
 * in `base`) and returns the full config. Must not call `reader.done()`: the caller does, so every key
 * the type did not read is reported as unknown.
 */
export type BackendConfigValidator<C extends BackendConfigBase = BackendConfig> = (reader: ConfigReader, base: BackendConfigBase) => C;

export interface BackendTypeDefinition<C extends BackendConfigBase = BackendConfig> {
  type: string;
  create: BackendFactory<C>;
  readConfig: BackendConfigValidator<C>;
}

const types = new Map<string, BackendTypeDefinition>();

export function registerBackendType<C extends BackendConfigBase>(type: string, create: BackendFactory<C>, readConfig: BackendConfigValidator<C>): void {
  if (types.has(type)) throw new Error(`backend type '${type}' is registered twice`);
  types.set(type, { type, create, readConfig } as unknown as BackendTypeDefinition);
}

export function getBackendType(type: string): BackendTypeDefinition | undefined {
  return types.get(type);
}

export function registeredBackendTypes(): string[] {
  return [...types.keys()];
}

/** Builds the backend `name` from its validated config. */
export function createBackend(name: string, config: BackendConfig, deps: BackendDeps = {}): Backend {
  const def = types.get(config.type);
  if (!def) throw new ConfigError(`backends.${name}.type`, `unknown backend type ${JSON.stringify(config.type)}`);
  return def.create(name, config, { ...deps, logger: deps.logger?.child({ backend: name }) });
}

// Built-in backend types, one line each.
registerBackendType(openaiBackendType.type, openaiBackendType.create, openaiBackendType.readConfig);
registerBackendType(anthropicBackendType.type, anthropicBackendType.create, anthropicBackendType.readConfig);
registerBackendType(ollamaBackendType.type, ollamaBackendType.create, ollamaBackendType.readConfig);
registerBackendType(localBackendType.type, localBackendType.create, localBackendType.readConfig);

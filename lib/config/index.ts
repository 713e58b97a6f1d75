/**
 * `loadConfig`: the JSON config file (or an object) → a validated AbiConfig with every default
 * filled in. Unknown keys anywhere are errors naming their dotted path; `"env:NAME"` values read the
 * environment and `"secret:NAME"` values the secrets vault.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { ResolveContext, SecretLike } from './reader.js';
import { configSections, SectionInput } from './registry.js';
import './sections/index.js';
import type { AbiConfig } from './types.js';

export { ConfigError } from '../errors.js';
export { ConfigReader, plainSecret, type ResolveContext, type SecretLike } from './reader.js';
export { registerConfigSection, SectionInput, type ConfigSection } from './registry.js';
export type { AuthSectionConfig } from './sections/auth.js';
export type { BackendConfig, BackendConfigBase, BackendTimeouts } from './sections/backends.js';
export { matchRoute, type RouteConfig, type RouteTargetConfig } from './sections/routes.js';
export type { ServerConfig } from './sections/server.js';
export type { AbiConfig } from './types.js';

export interface LoadConfigOptions {
  /** Environment for `"env:NAME"` values. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Resolves `"secret:NAME"` values (the security module's vault); absent = such values are errors. */
  resolveSecret?: (name: string) => string | SecretLike;
  /** For `"env:NAME"` in secret-bearing keys: the variable as held in secure memory (see ResolveContext). */
  resolveEnvSecret?: (name: string) => SecretLike | undefined;
}

function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('', `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError('', `config file ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Loads and validates a config: `source` is a file path or an already-parsed object. Throws
 * ConfigError (code ABI_ERR_CONFIG, `.key` = dotted path) on the first problem found.
 */
export function loadConfig(source: string | object, opts: LoadConfigOptions = {}): AbiConfig {
  const raw = typeof source === 'string' ? readJsonFile(source) : source;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError('', 'the config must be a JSON object');
  const ctx: ResolveContext = { env: opts.env ?? process.env };
  if (opts.resolveSecret) ctx.resolveSecret = opts.resolveSecret;
  if (opts.resolveEnvSecret) ctx.resolveEnvSecret = opts.resolveEnvSecret;
  const root = raw as Record<string, unknown>;
  const sections = configSections();
  const topLevel = sections.filter((s) => !s.key.includes('.'));
  const known = new Set(topLevel.map((s) => s.key));
  for (const key of Object.keys(root)) if (!known.has(key)) throw new ConfigError(key, 'unknown key');

  const config: Record<string, unknown> = {};
  for (const section of topLevel) {
    const value = root[section.key];
    const extensions = sections.filter((s) => s.key.startsWith(`${section.key}.`));
    // Extension keys are parsed by their own section: hide them from the parent's unknown-key check.
    let parentValue = value;
    if (extensions.length > 0 && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      parentValue = { ...value };
      for (const ext of extensions) delete (parentValue as Record<string, unknown>)[ext.key.slice(section.key.length + 1)];
    }
    const parsed = section.parse(new SectionInput(parentValue, section.key, ctx), config as Partial<AbiConfig>);
    for (const ext of extensions) {
      const child = ext.key.slice(section.key.length + 1);
      const childValue = (value as Record<string, unknown> | undefined)?.[child];
      if (childValue === undefined) continue;
      (parsed as Record<string, unknown>)[child] = ext.parse(new SectionInput(childValue, ext.key, ctx), config as Partial<AbiConfig>);
    }
    config[section.key] = parsed;
  }
  return config as unknown as AbiConfig;
}

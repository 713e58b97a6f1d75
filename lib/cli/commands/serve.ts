/**
 * `abi serve`: loads the config, starts the server, prints exactly one stdout line when ready
 * (`abi listening on http://HOST:PORT`; logs go to stderr), and drains gracefully on SIGTERM/SIGINT.
 * A config that cannot be used exits with code 2 and one stderr line naming the key and why.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { loadConfig } from '../../config/index.js';
import { DEMO_MODEL_NAME, ensureDemoModel } from '../../models/demo-model.js';
import { createLogger } from '../../observability/logger.js';
import { scrubPatterns } from '../../security/secrets.js';
import { openSecretsRuntime, readSecretsSection, type SecretsRuntime } from '../../security/startup.js';
import { createAbiServer, type AbiServerConfig } from '../../server/index.js';

export interface ServeOptions {
  /** Config file; default ./abi.config.json when it exists. */
  config?: string;
  /** Interface to bind (overrides `server.host`). */
  host?: string;
  /** Port to bind, 0 for a free one (overrides `server.port`). */
  port?: number;
  /** GGUF model to serve with the local engine, without a config file. */
  model?: string;
  /** Compute threads for --model or the demo model (default: physical cores). */
  threads?: number;
  /** Context length for --model (default: the model's, capped at 4096). */
  contextLength?: number;
  /** Extra static bearer token accepted next to the config's `auth.tokens`. */
  authToken?: string;
  /** Heartbeat interval in ms (overrides `server.heartbeatMs`). */
  heartbeat?: number;
}

const DEFAULT_CONFIG_FILE = 'abi.config.json';
/** Exit code for a configuration the server cannot start with. */
const EXIT_BAD_CONFIG = 2;

function parseIntOption(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}.`);
    return n;
  };
}

/**
 * The config used when there is no config file and no --model: the built-in demo model (a real GGUF
 * written offline on first use and run by the local engine), so `abi serve` works on a fresh machine.
 */
export function defaultConfigWithoutFile(opts: ServeOptions = {}): Record<string, unknown> {
  const modelPath = ensureDemoModel();
  return {
    backends: {
      demo: { type: 'local', modelPath, modelName: DEMO_MODEL_NAME, demo: true, contextLength: 512, ...(opts.threads !== undefined ? { threads: opts.threads } : {}) },
    },
  };
}

/** `abi serve --model PATH.gguf`: one local backend, reloadable from the model's directory. */
export function configForModel(modelPath: string, opts: ServeOptions = {}): Record<string, unknown> {
  const path = resolve(modelPath);
  return {
    backends: {
      local: {
        type: 'local',
        modelPath: path,
        modelsDir: dirname(path),
        ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
        ...(opts.contextLength !== undefined ? { contextLength: opts.contextLength } : {}),
      },
    },
  };
}

/** Applies command-line overrides on top of a loaded, validated config. */
function applyOverrides(config: AbiServerConfig, opts: ServeOptions): AbiServerConfig {
  const server = { ...config.server };
  if (opts.host !== undefined) server.host = opts.host;
  if (opts.port !== undefined) server.port = opts.port;
  if (opts.heartbeat !== undefined) server.heartbeatMs = opts.heartbeat;
  const out: AbiServerConfig = { ...config, server };
  if (opts.authToken !== undefined) out.auth = { ...config.auth, tokens: [...(config.auth?.tokens ?? []), opts.authToken] };
  return out;
}

/** Errors that mean "this configuration (or its secrets) cannot be used": exit 2 with one line. */
const START_UP_CODES = new Set(['ABI_ERR_CONFIG', 'MASTER_KEY_REQUIRED', 'ABI_ERR_VAULT', 'ABI_ERR_MASTER_KEY_INVALID']);

function isConfigError(err: unknown): err is Error & { key?: string } {
  return err instanceof Error && START_UP_CODES.has(String((err as { code?: unknown }).code));
}

function failConfig(err: Error): never {
  const code = (err as { code?: unknown }).code;
  const line = code === 'ABI_ERR_CONFIG' ? `abi: invalid configuration: ${err.message}` : `abi: ${err.message}`;
  process.stderr.write(`${line.split('\n')[0]}\n`);
  process.exit(EXIT_BAD_CONFIG);
}

export async function serve(opts: ServeOptions): Promise<void> {
  if (opts.model !== undefined && opts.config !== undefined) {
    failConfig(new Error('--model serves one model without a config file; to combine it with --config, add a "local" backend to the config instead'));
  }
  if (opts.model !== undefined && !existsSync(opts.model)) failConfig(new Error(`model file ${opts.model} does not exist`));
  const configPath =
    opts.config !== undefined ? resolve(opts.config) : opts.model === undefined && existsSync(DEFAULT_CONFIG_FILE) ? resolve(DEFAULT_CONFIG_FILE) : undefined;
  if (opts.config !== undefined && !existsSync(configPath!)) failConfig(new Error(`config file ${opts.config} does not exist`));

  let secrets: SecretsRuntime | undefined;
  // Log text is scrubbed of credential shapes, and once the vault is open of the exact secrets it holds.
  const logger = createLogger({ scrub: (text) => (secrets ? secrets.scrub(text) : scrubPatterns(text)) });
  let config: AbiServerConfig;
  // The vault opens before the config is read, so "secret:NAME" values resolve from it; provider
  // keys move into secure memory and reach the config only through secrets.configEnv.
  const load = (path: string | undefined): AbiServerConfig =>
    applyOverrides(
      loadConfig(path ?? (opts.model !== undefined ? configForModel(opts.model, opts) : defaultConfigWithoutFile(opts)), {
        env: secrets!.configEnv,
        resolveSecret: (name) => secrets!.resolveSecret(name),
        // env: values of provider keys and tokens stay handles in secure memory instead of strings.
        resolveEnvSecret: (name) => secrets!.resolveEnvSecret(name),
      }) as unknown as AbiServerConfig,
      opts,
    );
  // Start-up warnings wait until the config is known to be good: a bad config prints one line only.
  const startupWarnings: [object, string][] = [];
  try {
    secrets = openSecretsRuntime(readSecretsSection(configPath), { logger: { warn: (obj, msg) => void startupWarnings.push([obj, msg]) } });
    config = load(configPath);
  } catch (err) {
    if (isConfigError(err)) failConfig(err);
    throw err;
  }
  for (const [obj, msg] of startupWarnings) logger.warn(obj, msg);

  const server = createAbiServer(config, {
    logger,
    ...(configPath !== undefined
      ? {
          configPath,
          loadConfig: async (p: string) => {
            secrets!.reload();
            return load(p);
          },
        }
      : {}),
  });
  try {
    await server.ready();
  } catch (err) {
    if (isConfigError(err)) failConfig(err);
    throw err;
  }
  const { url } = await server.listen();
  process.stdout.write(`abi listening on ${url}\n`);
  if (configPath === undefined && opts.model === undefined) {
    logger.warn(
      { model: DEMO_MODEL_NAME },
      `serving the built-in demo model '${DEMO_MODEL_NAME}' (synthetic weights that only print a fixed sentence); to serve a real model run: abi serve --model path/to/model.gguf (get one with: abi model pull <owner>/<repo>/<file>.gguf)`,
    );
  }
  if (!config.backends || Object.keys(config.backends).length === 0) {
    logger.warn('no backends are configured: every completion request will get 503; pass --config with a "backends" section');
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without waiting for the drain to finish');
      process.exit(1);
    }
    logger.info({ signal }, 'shutting down');
    void server.close().then(
      () => {
        secrets!.dispose();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve the OpenAI-compatible (/v1/chat/completions) and ABI streaming APIs')
    .option('--config <file>', `config file (default ./${DEFAULT_CONFIG_FILE} when present)`)
    .option('--host <host>', 'interface to bind (overrides server.host)')
    .option('--port <port>', 'port to bind, 0 for a free one (overrides server.port)', parseIntOption('--port', 0, 65535))
    .option('--model <path>', 'serve a local GGUF model with the built-in engine (no config file needed)')
    .option('--threads <n>', 'compute threads for the local model (default: physical cores)', parseIntOption('--threads', 1, 1024))
    .option('--context-length <n>', 'context length for --model (default: the model\'s, capped at 4096)', parseIntOption('--context-length', 16, 1_048_576))
    .option('--auth-token <token>', 'accept this bearer token in addition to auth.tokens')
    .option('--heartbeat <ms>', 'SSE heartbeat interval in ms (overrides server.heartbeatMs)', parseIntOption('--heartbeat', 100, 86_400_000))
    .action(async (opts: ServeOptions) => {
      await serve(opts);
    });
}

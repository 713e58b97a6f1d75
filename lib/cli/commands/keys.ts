import type { Command } from 'commander';
import { ApiKeyStore, type KeyLimits } from '../../security/api-keys.js';
import { cliKeysFile } from '../../security/cli-paths.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`expected a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function store(opts: { file?: string; config?: string }): ApiKeyStore {
  return new ApiKeyStore(cliKeysFile(opts));
}

/** `abi keys create|list|revoke`: API keys stored hashed in a JSON file. */
export function register(program: Command): void {
  const keys = program
    .command('keys')
    .description('manage API keys (stored as SHA-256 hashes in a JSON file)');

  keys
    .command('create')
    .description('create a key; it is printed once and cannot be shown again')
    .argument('<name>', 'key name: the principal id in logs, metrics and rate limits')
    .option('--scopes <list>', 'comma-separated scopes, e.g. chat,admin', '')
    .option('--rpm <n>', 'requests per minute for this key', positiveInt)
    .option('--tpm <n>', 'tokens per minute for this key', positiveInt)
    .option('--file <path>', 'keys file (default: auth.apiKeysFile of the config, $ABI_KEYS_FILE, ~/.abi/keys.json)')
    .option('--config <path>', 'config file to take auth.apiKeysFile from (default ./abi.config.json when present)')
    .option('--json', 'print {id,name,key,scopes,limits} as JSON')
    .action((name: string, opts: { scopes: string; rpm?: number; tpm?: number; file?: string; config?: string; json?: boolean }) => {
      const limits: KeyLimits = {};
      if (opts.rpm !== undefined) limits.requestsPerMinute = opts.rpm;
      if (opts.tpm !== undefined) limits.tokensPerMinute = opts.tpm;
      const scopes = opts.scopes.split(',').map((s) => s.trim()).filter(Boolean);
      const s = store(opts);
      const { key, record } = s.create({ name, scopes, limits });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ id: record.id, name: record.name, key, scopes: record.scopes, limits: record.limits ?? {} })}\n`);
      } else {
        process.stdout.write(`${key}\n`);
        process.stderr.write(`created key ${record.id} (${record.name}) in ${s.path}; store it now, it is not shown again\n`);
      }
    });

  keys
    .command('list')
    .description('list keys (ids, names, scopes, limits; never the keys)')
    .option('--file <path>', 'keys file (default: auth.apiKeysFile of the config, $ABI_KEYS_FILE, ~/.abi/keys.json)')
    .option('--config <path>', 'config file to take auth.apiKeysFile from (default ./abi.config.json when present)')
    .option('--json', 'print JSON')
    .action((opts: { file?: string; config?: string; json?: boolean }) => {
      const records = store(opts).list().map(({ sha256: _hash, ...visible }) => visible);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(records)}\n`);
        return;
      }
      for (const r of records) {
        const limits = r.limits ? ` rpm=${r.limits.requestsPerMinute ?? '-'} tpm=${r.limits.tokensPerMinute ?? '-'}` : '';
        process.stdout.write(`${r.id}  ${r.name}  scopes=${r.scopes.join(',') || '-'}${limits}  created=${r.createdAt}\n`);
      }
    });

  keys
    .command('revoke')
    .description('revoke a key by id or name (a running server stops accepting it within a second)')
    .argument('<idOrName>')
    .option('--file <path>', 'keys file (default: auth.apiKeysFile of the config, $ABI_KEYS_FILE, ~/.abi/keys.json)')
    .option('--config <path>', 'config file to take auth.apiKeysFile from (default ./abi.config.json when present)')
    .action((idOrName: string, opts: { file?: string; config?: string }) => {
      const r = store(opts).revoke(idOrName);
      process.stdout.write(`revoked ${r.id} (${r.name})\n`);
    });
}

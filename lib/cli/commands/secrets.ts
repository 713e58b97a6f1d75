import type { Command } from 'commander';
import { MasterKeyRequiredError, NEW_MASTER_KEY_ENV, readMasterKey, type MasterKey } from '../../security/master-key.js';
import { cliVaultFile } from '../../security/cli-paths.js';
import { Vault } from '../../security/vault.js';

/** The CLI always needs a real master key: an ephemeral one could never be used again. */
function requireKey(variable?: string): MasterKey {
  const key = variable ? readMasterKey(process.env, variable) : readMasterKey(process.env);
  if (!key) throw new MasterKeyRequiredError(variable, 'the vault needs a master key');
  return key;
}

function withVault<T>(where: { file?: string; config?: string }, fn: (vault: Vault) => T): T {
  const key = requireKey();
  try {
    const vault = Vault.open(cliVaultFile(where), key);
    try {
      return fn(vault);
    } finally {
      vault.close();
    }
  } finally {
    key.dispose();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  for (const c of chunks) c.fill(0);
  return text.replace(/\r?\n$/, '');
}

/** `abi secrets set|get|list|rm|rotate-key`: the encrypted vault behind `"secret:NAME"` config values. */
export function register(program: Command): void {
  const secrets = program
    .command('secrets')
    .description('manage the encrypted secrets vault (key from ABI_MASTER_KEY)');

  secrets
    .command('set')
    .description('store a secret; the value is read from stdin (one trailing newline dropped) unless --value is given')
    .argument('<name>')
    .option('--value <value>', 'the value (visible in shell history and ps; prefer stdin)')
    .option('--file <path>', 'vault file (default: secrets.vaultFile of the config, $ABI_VAULT_FILE, ~/.abi/vault.json)')
    .option('--config <path>', 'config file to take secrets.vaultFile from (default ./abi.config.json when present)')
    .action(async (name: string, opts: { value?: string; file?: string; config?: string }) => {
      const value = opts.value ?? (await readStdin());
      if (value.length === 0) throw new Error('refusing to store an empty secret');
      withVault(opts, (vault) => vault.set(name, value));
      process.stderr.write(`stored secret ${name}\n`);
    });

  secrets
    .command('get')
    .description('print a secret to stdout')
    .argument('<name>')
    .option('--file <path>', 'vault file (default: secrets.vaultFile of the config, $ABI_VAULT_FILE, ~/.abi/vault.json)')
    .option('--config <path>', 'config file to take secrets.vaultFile from (default ./abi.config.json when present)')
    .action((name: string, opts: { file?: string; config?: string }) => {
      withVault(opts, (vault) => {
        const handle = vault.get(name);
        if (!handle) throw new Error(`no secret named ${JSON.stringify(name)}`);
        try {
          const bytes = handle.revealBuffer();
          process.stdout.write(bytes);
          process.stdout.write('\n');
          bytes.fill(0);
        } finally {
          handle.dispose();
        }
      });
    });

  secrets
    .command('list')
    .description('list secret names (never values)')
    .option('--file <path>', 'vault file (default: secrets.vaultFile of the config, $ABI_VAULT_FILE, ~/.abi/vault.json)')
    .option('--config <path>', 'config file to take secrets.vaultFile from (default ./abi.config.json when present)')
    .action((opts: { file?: string; config?: string }) => {
      const names = withVault(opts, (vault) => vault.list());
      for (const n of names) process.stdout.write(`${n}\n`);
    });

  secrets
    .command('rm')
    .description('remove a secret')
    .argument('<name>')
    .option('--file <path>', 'vault file (default: secrets.vaultFile of the config, $ABI_VAULT_FILE, ~/.abi/vault.json)')
    .option('--config <path>', 'config file to take secrets.vaultFile from (default ./abi.config.json when present)')
    .action((name: string, opts: { file?: string; config?: string }) => {
      const removed = withVault(opts, (vault) => vault.remove(name));
      if (!removed) throw new Error(`no secret named ${JSON.stringify(name)}`);
      process.stderr.write(`removed secret ${name}\n`);
    });

  secrets
    .command('rotate-key')
    .description(`re-encrypt the vault under ${NEW_MASTER_KEY_ENV} (atomic: the old or the new vault survives a crash)`)
    .option('--file <path>', 'vault file (default: secrets.vaultFile of the config, $ABI_VAULT_FILE, ~/.abi/vault.json)')
    .option('--config <path>', 'config file to take secrets.vaultFile from (default ./abi.config.json when present)')
    .action((opts: { file?: string; config?: string }) => {
      const newKey = requireKey(NEW_MASTER_KEY_ENV);
      try {
        const count = withVault(opts, (vault) => {
          vault.rotate(newKey);
          return vault.list().length;
        });
        process.stderr.write(`re-encrypted ${count} secrets; set ABI_MASTER_KEY to the new key from now on\n`);
      } finally {
        newKey.dispose();
      }
    });
}

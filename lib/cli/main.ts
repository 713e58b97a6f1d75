import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Command } from 'commander';

/**
 * Each file in ./commands/ exports `register(program)` and adds one top-level command
 * (serve, model, keys, secrets, ...), so commands are added without editing this file.
 */
export async function main(argv: string[]): Promise<void> {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const program = new Command('abi').description('abi-stream: stream LLM tokens, fast and without losing any').version(pkg.version);
  const dir = new URL('./commands/', import.meta.url);
  if (!existsSync(dir)) throw new Error(`CLI commands missing under ${dir.pathname}; run npm run build`);
  const files = readdirSync(dir).filter((f) => /\.(js|ts)$/.test(f) && !f.endsWith('.d.ts') && !f.endsWith('.map'));
  for (const file of files.sort()) {
    const mod = (await import(new URL(file, dir).href)) as { register?: (p: Command) => void };
    mod.register?.(program);
  }
  await program.parseAsync(argv);
}

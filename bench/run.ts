/**
 * `npm run bench`: runs every bench/*.bench.ts in name order (or those named on the command line).
 * Each exports a default async function that prints its own progress and writes JSON under bench/results/.
 */
import { readdirSync, mkdirSync } from 'node:fs';

const dir = new URL('./', import.meta.url);
mkdirSync(new URL('./results/', dir), { recursive: true });
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
for (const file of files) {
  console.log(`\n=== ${file} ===`);
  const mod = (await import(new URL(file, dir).href)) as { default: () => Promise<void> };
  await mod.default();
}

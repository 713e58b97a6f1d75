import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config/index.js';

// docs/configuration.md must stay true: its example config loads, and every server key it documents exists.
describe('docs/configuration.md', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

  it('example loads', () => {
    const example = /```json\n([\s\S]*?)```/.exec(doc)![1]!;
    const config = loadConfig(JSON.parse(example), { env: { ABI_AUTH_TOKEN: 't', ABI_OPENAI_API_KEY: 'k' } });
    expect(Object.keys(config.backends)).toEqual(['primary', 'vllm']);
  });

  it('documents exactly the server keys the loader knows, with their defaults', () => {
    const defaults = loadConfig({}, { env: {} }).server as unknown as Record<string, unknown>;
    const section = doc.slice(doc.indexOf('## `server`'), doc.indexOf('## `auth`'));
    const rows = [...section.matchAll(/^\| `(\w+)` \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()] as const);
    expect(rows.map(([k]) => k).sort()).toEqual([...Object.keys(defaults), 'maxTokensCap'].sort());
    for (const [key, documented] of rows) {
      if (key === 'maxTokensCap') continue;
      expect(documented.replace(/`/g, '').replace(/"/g, '')).toBe(String(defaults[key]));
    }
  });
});

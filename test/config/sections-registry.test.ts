import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, registerConfigSection } from '../../lib/config/index.js';

// Registers test-only sections; vitest runs each file in its own process, so no other file sees them.
const seen: string[] = [];
registerConfigSection({
  key: 'extraTop',
  parse(input, parsedSoFar) {
    seen.push(`extraTop after ${Object.keys(parsedSoFar).join(',')}`);
    const r = input.object();
    const out = { level: r.int('level', 3, { min: 0, max: 9 }) };
    r.done();
    return out;
  },
});
registerConfigSection({
  key: 'auth.extra',
  parse(input) {
    const r = input.object();
    const out = { mode: r.oneOf('mode', ['a', 'b'] as const, 'a') };
    r.done();
    return out;
  },
});

describe('config section registry', () => {
  it('parses top-level sections with defaults when absent, after the built-in ones', () => {
    const c = loadConfig({}, { env: {} }) as unknown as Record<string, unknown>;
    expect(c.extraTop).toEqual({ level: 3 });
    expect(seen.at(-1)).toMatch(/^extraTop after server,auth,backends,routes/);
    expect((c.auth as Record<string, unknown>).extra).toBeUndefined();
  });

  it('parses extension keys inside their parent and reports their errors with the full path', () => {
    const c = loadConfig({ auth: { extra: { mode: 'b' }, allowHealthWithoutAuth: false }, extraTop: { level: 9 } }, { env: {} }) as unknown as Record<string, any>;
    expect(c.auth.extra).toEqual({ mode: 'b' });
    expect(c.auth.allowHealthWithoutAuth).toBe(false);
    expect(c.extraTop).toEqual({ level: 9 });
    const e = (() => {
      try {
        loadConfig({ auth: { extra: { mode: 'c' } } }, { env: {} });
      } catch (err) {
        return err as ConfigError;
      }
      throw new Error('accepted');
    })();
    expect(e.key).toBe('auth.extra.mode');
    expect(() => loadConfig({ auth: { extra: { other: 1 } } }, { env: {} })).toThrow(/auth\.extra\.other': unknown key/);
    expect(() => loadConfig({ extraTop: { level: 10 } }, { env: {} })).toThrow(/extraTop\.level/);
  });

  it('refuses registering a section twice', () => {
    expect(() => registerConfigSection({ key: 'server', parse: () => ({}) })).toThrow(/registered twice/);
  });
});

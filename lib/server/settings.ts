/**
 * The `server` config section as the server uses it, every value resolved. The config loader
 * validates the section; this only fills in defaults for keys it leaves out, so the server also
 * works with a hand-built config object when embedded. Types and defaults are the config section's
 * own, so the two cannot drift apart.
 */
import { SectionInput, type ServerConfig } from '../config/index.js';
import { serverSection } from '../config/sections/server.js';

/** See `ServerConfig` (docs/configuration.md) for every key, its meaning and default. */
export type ServerSettings = ServerConfig;

/** The section parsed with no keys given: every default, and only what the section defines. */
const SERVER_DEFAULTS: Readonly<ServerSettings> = serverSection.parse(new SectionInput(undefined, 'server', { env: {} }), {});
const SERVER_KEYS = Object.keys(SERVER_DEFAULTS).concat('maxTokensCap') as (keyof ServerSettings)[];

export function resolveServerSettings(section: Partial<ServerSettings> | undefined): ServerSettings {
  const out = { ...SERVER_DEFAULTS };
  for (const key of SERVER_KEYS) {
    const v = section?.[key];
    if (v !== undefined && v !== null) (out as Record<string, unknown>)[key] = v;
  }
  return out;
}

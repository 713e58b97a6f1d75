import type { RecoverySessionConfig } from '../config/sections/recovery.js';
import type { RecoveryEmitter } from '../recovery/events.js';
import { MemorySessionStore } from './memory-store.js';
import type { SessionStore } from './types.js';

export * from './types.js';
export { MemorySessionStore, type MemorySessionStoreOptions } from './memory-store.js';
export { SessionGoneError, SessionLimitError, SessionClosedError } from './errors.js';

/** The `recovery.session` config section. */
export type { RecoverySessionConfig as SessionConfig } from '../config/sections/recovery.js';

/** Builds the configured session store. */
export function createSessionStore(config: Partial<RecoverySessionConfig> = {}, deps: { events?: RecoveryEmitter } = {}): SessionStore {
  return new MemorySessionStore({ ...config, events: deps.events });
}

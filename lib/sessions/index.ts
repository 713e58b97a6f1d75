import type { RecoveryEmitter } from '../recovery/events.js';
import { MemorySessionStore } from './memory-store.js';
import type { SessionStore } from './types.js';

export * from './types.js';
export { MemorySessionStore, type MemorySessionStoreOptions } from './memory-store.js';
export { SessionGoneError, SessionLimitError, SessionClosedError } from './errors.js';

/** The `recovery.session` config section (see lib/config/sections/recovery.ts). */
export interface SessionConfig {
  /** Only `memory` exists today; the SessionStore interface is where a shared store would plug in. */
  store: 'memory';
  ttlMs: number;
  detachedGraceMs: number;
  maxSessions: number;
  ringBytes?: number;
}

/** Builds the configured session store. */
export function createSessionStore(config: Partial<SessionConfig> = {}, deps: { events?: RecoveryEmitter } = {}): SessionStore {
  return new MemorySessionStore({ ...config, events: deps.events });
}

/**
 * The validated configuration. Sections owned by other modules add themselves here by declaration
 * merging from their section file:
 * ```ts
 * declare module '../types.js' { interface AbiConfig { recovery: RecoveryConfig } }
 * ```
 */
import type { AuthSectionConfig } from './sections/auth.js';
import type { BackendConfig } from './sections/backends.js';
import type { RouteConfig } from './sections/routes.js';
import type { ServerConfig } from './sections/server.js';

export interface AbiConfig {
  server: ServerConfig;
  auth: AuthSectionConfig;
  /** Configured backends by name. */
  backends: Record<string, BackendConfig>;
  /** Routes in match order (see `matchRoute`). */
  routes: RouteConfig[];
}

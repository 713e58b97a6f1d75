export * from './errors.js';
export type * from './backends/types.js';
export type * from './security/types.js';
export { createAbiServer, loadConfig, type AbiServer, type AbiServerConfig, type AbiServerOptions, type AbiServerEvents, type ListenAddress, type ReloadResult } from './server/index.js';

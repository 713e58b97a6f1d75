export * from './errors.js';
export type * from './backends/types.js';
export type * from './security/types.js';

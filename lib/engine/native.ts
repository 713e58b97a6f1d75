import { loadBinding } from '../native/binding.js';
import type { GgufInfo } from './inspect.js';

/** The raw `exports.engine` surface of the addon; only lib/engine/ touches it. */
export interface EngineBinding {
  inspect(path: string): GgufInfo;
}

export function engineBinding(): EngineBinding {
  return loadBinding().engine as EngineBinding;
}

import type { Backend, BackendEvent } from '../backends/types.js';
import type { AttemptTimeouts } from './attempt.js';

/** One target of a route: a backend, the model name to ask it for, and what we know of its context window. */
export interface RouteTarget {
  backend: Backend;
  model: string;
  /** Context window of this target in tokens; unknown sizes are always tried after a context-length failure. */
  contextLength?: number;
  /** first-token / idle / total limits for this target (the backend's `timeouts`); connectMs is the backend's own. */
  timeouts?: AttemptTimeouts;
}

/** What executeRoute yields: the answering backend's events plus attempt/failover markers. */
export type RoutedEvent =
  | BackendEvent
  | { type: 'attempt'; backend: string; model: string; attempt: number }
  | { type: 'failover'; from: string; to: string; reason: string };

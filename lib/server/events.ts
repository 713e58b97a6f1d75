import { EventEmitter } from 'node:events';
import type TypedEmitterModule from 'typed-emitter';

/** Events an embedding application can subscribe to. */
export type AbiServerEvents = {
  /** A request arrived (before auth and routing). */
  'request:start': (e: { requestId: string; method: string; path: string }) => void;
  /** A response finished or its connection went away; `status` is what was (or would have been) sent. */
  'request:end': (e: { requestId: string; method: string; path: string; status: number; durationMs: number; aborted: boolean }) => void;
  /** A generation started streaming into its session. */
  'stream:start': (e: { requestId: string; streamId: string; format: 'openai' | 'abi' }) => void;
  /** A generation ended (successfully or not). */
  'stream:end': (e: { requestId: string; streamId: string; ok: boolean; backend: string | undefined; tokens: number; durationMs: number }) => void;
  /** A generation failed; `code` is the envelope code the client received. */
  'stream:error': (e: { requestId: string; streamId: string; status: number; code: string | null; message: string }) => void;
  /** A client was disconnected for reading too slowly. */
  'client:slow': (e: { requestId: string; streamId: string; reason: string; detail: string }) => void;
  /** POST /admin/reload finished; `restartRequired` lists the keys that take effect only after a restart. */
  reload: (e: { ok: boolean; error?: string; restartRequired?: string[] }) => void;
  /** Drain began (`draining`) and the server is fully closed (`closed`). */
  shutdown: (e: { phase: 'draining' | 'closed'; activeStreams: number }) => void;
};

// typed-emitter is a CommonJS declaration: under NodeNext its default export sits on `.default`.
export type AbiServerEmitter = TypedEmitterModule.default<AbiServerEvents>;

export function createServerEmitter(): AbiServerEmitter {
  return new EventEmitter() as AbiServerEmitter;
}

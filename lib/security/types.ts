import type { IncomingMessage } from 'node:http';

/** Who made a request, as established by an Authenticator. */
export interface Principal {
  /** Stable id: API-key name, JWT `sub`, or `static:<index>` for config tokens. */
  id: string;
  /** How it authenticated. */
  kind: 'static-token' | 'api-key' | 'jwt' | 'anonymous';
  scopes: string[];
  /** Per-principal rate limits, when the credential carries its own. */
  limits?: { requestsPerMinute?: number; tokensPerMinute?: number };
}

/**
 * Decides who a request comes from. Returns null when no credential was presented and throws an
 * AuthError (code and reason) when one was presented and refused.
 */
export interface Authenticator {
  authenticate(req: IncomingMessage): Promise<Principal | null>;
}

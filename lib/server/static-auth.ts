import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { AuthError } from '../security/errors.js';
import type { Authenticator, Principal } from '../security/types.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Reads a bearer token from the Authorization header; null when there is none. */
export function bearerToken(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (!header) return null;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!match) throw new AuthError('malformed_token', 'The Authorization header must be "Bearer <token>".');
  return match[1]!;
}

/**
 * The config's static bearer tokens. Tokens are compared as SHA-256 digests with timingSafeEqual,
 * so neither the content nor the length of a configured token leaks through timing, and every
 * configured token is compared on every request. Config tokens belong to the operator and carry
 * the `admin` scope.
 */
export class StaticTokenAuthenticator implements Authenticator {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = tokens.map(digest);
  }

  async authenticate(req: IncomingMessage): Promise<Principal | null> {
    const token = bearerToken(req);
    if (token === null) return null;
    const presented = digest(token);
    let matched = -1;
    this.digests.forEach((d, i) => {
      if (timingSafeEqual(d, presented) && matched < 0) matched = i;
    });
    if (matched < 0) throw new AuthError('invalid_api_key', 'The bearer token is not valid.');
    return { id: `static:${matched}`, kind: 'static-token', scopes: ['admin'] };
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { methodNotAllowed, notFound } from '../protocol/errors.js';

/** What a route handler gets besides req/res. */
export interface RouteContext {
  /** Values of `:name` segments of the matched pattern. */
  params: Record<string, string>;
  /** The parsed URL (path and query). */
  url: URL;
}

export type RouteHandler<C> = (req: IncomingMessage, res: ServerResponse, ctx: RouteContext & C) => Promise<void> | void;

interface RouteEntry<C> {
  method: string;
  pattern: string;
  segments: string[];
  handler: RouteHandler<C>;
}

/** A match, or the error (404/405) the request should get. */
export type RouteMatch<C> = {
  handler: RouteHandler<C>;
  params: Record<string, string>;
  /** The pattern that matched (`/v1/streams/:id`): a metrics label that does not grow with ids. */
  pattern: string;
};

/**
 * Method + path routing over a handful of fixed paths. Patterns are split once into segments; a
 * `:name` segment matches one path segment. A path known under another method is a 405 with Allow.
 */
export class Router<C> {
  private readonly routes: RouteEntry<C>[] = [];

  add(method: string, pattern: string, handler: RouteHandler<C>): this {
    this.routes.push({ method, pattern, segments: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  /** Throws ApiError 404 for an unknown path and 405 for a known path with another method. */
  match(method: string, pathname: string): RouteMatch<C> {
    const parts = pathname.split('/').filter(Boolean);
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { handler: route.handler, params, pattern: route.pattern };
      allowed.push(route.method);
    }
    if (allowed.length > 0) throw methodNotAllowed(method, allowed);
    throw notFound(`No route for ${method} ${pathname.slice(0, 200)}.`, 'route_not_found');
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const v = parts[i]!;
    if (p.startsWith(':')) {
      try {
        params[p.slice(1)] = decodeURIComponent(v);
      } catch {
        return null;
      }
    } else if (p !== v) return null;
  }
  return params;
}

/**
 * `routes`: which backends serve which requested model, in fallback order. A route's `model` may use
 * `*` as a wildcard (`"*"`, `"gpt-4o*"`). Without a `routes` key every request routes to all
 * backends in the order they are declared.
 */
import { ConfigError } from '../../errors.js';
import { ConfigReader, joinKey } from '../reader.js';
import type { ConfigSection } from '../registry.js';

export interface RouteTargetConfig {
  /** Name of a configured backend. */
  backend: string;
  /** Model name to send to that backend; default the requested model. */
  model?: string;
  /** The target's context window in tokens, when known (fallback skips smaller windows after context_length_exceeded). */
  contextLength?: number;
}

export interface RouteConfig {
  /** Requested model this route serves; `*` matches any run of characters. */
  model: string;
  /** Targets in fallback order (at least one). */
  targets: RouteTargetConfig[];
}

/** Compiled route globs: routes are matched on every request, and a config holds a handful of them. */
const globs = new Map<string, RegExp>();

function globToRegExp(glob: string): RegExp {
  let re = globs.get(glob);
  if (!re) {
    re = new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
    if (globs.size >= 1024) globs.clear();
    globs.set(glob, re);
  }
  return re;
}

/** The route for a requested model: an exact match first, else the first wildcard route that matches. */
export function matchRoute(routes: readonly RouteConfig[], model: string): RouteConfig | undefined {
  return routes.find((r) => r.model === model) ?? routes.find((r) => r.model.includes('*') && globToRegExp(r.model).test(model));
}

export const routesSection: ConfigSection<RouteConfig[]> = {
  key: 'routes',
  parse(input, parsed) {
    const backends = parsed.backends ?? {};
    const raw = input.value;
    if (raw === undefined) {
      const all = Object.keys(backends).map((backend) => ({ backend }));
      return all.length ? [{ model: '*', targets: all }] : [];
    }
    if (!Array.isArray(raw)) throw new ConfigError('routes', 'must be an array of routes');
    return raw.map((entry, i) => {
      const route = new ConfigReader(entry, joinKey('routes', i), input.ctx);
      const model = route.requiredString('model');
      const targetsRaw = route.array('targets');
      if (!targetsRaw || targetsRaw.length === 0) return route.fail('targets', 'must list at least one target');
      const targets = targetsRaw.map((t, j) => {
        const tr = new ConfigReader(t, joinKey(route.key('targets'), j), input.ctx);
        const backend = tr.requiredString('backend');
        if (!Object.hasOwn(backends, backend)) {
          throw new ConfigError(tr.key('backend'), `route ${i} names backend ${JSON.stringify(backend)}, which is not configured under "backends"`);
        }
        const target: RouteTargetConfig = { backend };
        const targetModel = tr.string('model');
        if (targetModel !== undefined) {
          if (targetModel === '') tr.fail('model', 'must not be empty');
          target.model = targetModel;
        }
        const ctx = tr.int('contextLength', undefined, { min: 1 });
        if (ctx !== undefined) target.contextLength = ctx;
        tr.done();
        return target;
      });
      route.done();
      return { model, targets };
    });
  },
};

import type { Backend } from '../backends/types.js';
import { badRequest, notFound, serviceUnavailable } from '../protocol/errors.js';
import { matchRoute, type RouteConfig } from '../config/index.js';
import type { RouteTarget } from '../recovery/types.js';

/** One `routes[]` entry of the config (see RouteConfig). */
export type RouteRule = RouteConfig;

/**
 * Turns a requested model (and an optional explicit `backend`) into the ordered targets to try.
 * An exact route wins over a wildcard one; with no routes configured every backend is tried in config order.
 */
export function resolveTargets(
  backends: ReadonlyMap<string, Backend>,
  routes: readonly RouteRule[],
  model: string,
  explicitBackend?: string,
): RouteTarget[] {
  if (backends.size === 0) {
    throw serviceUnavailable('No backend is configured on this server; add one under "backends" in the config.', {
      code: 'no_backend',
    });
  }
  if (explicitBackend !== undefined) {
    const backend = backends.get(explicitBackend);
    if (!backend) {
      throw badRequest(`Unknown backend '${explicitBackend}'; configured: ${[...backends.keys()].join(', ')}.`, 'backend', 'unknown_backend');
    }
    return [{ backend, model }];
  }
  const rule = matchRoute(routes, model);
  if (!rule) {
    if (routes.length > 0) throw notFound(`The model '${model}' does not exist on this server.`, 'model_not_found', 'model');
    return [...backends.values()].map((backend) => ({ backend, model }));
  }
  return rule.targets.map((t) => {
    const backend = backends.get(t.backend);
    // The config loader checks route targets against backends; this guards a reload race.
    if (!backend) throw serviceUnavailable(`Route target backend '${t.backend}' is not configured.`, { code: 'no_backend' });
    const target: RouteTarget = { backend, model: t.model ?? model };
    if (t.contextLength !== undefined) target.contextLength = t.contextLength;
    return target;
  });
}

/** Model ids for GET /v1/models: explicit route names first, then what backends report. */
export async function listModelIds(backends: ReadonlyMap<string, Backend>, routes: readonly RouteRule[]): Promise<{ id: string; owned_by: string }[]> {
  const seen = new Map<string, string>();
  for (const r of routes) if (!r.model.includes('*') && !seen.has(r.model)) seen.set(r.model, 'abi');
  const lists = await Promise.all(
    [...backends.values()].map(async (b) => {
      try {
        return { name: b.name, ids: (await b.models?.()) ?? [] };
      } catch {
        // An unreachable backend must not take /v1/models down with it.
        return { name: b.name, ids: [] };
      }
    }),
  );
  for (const { name, ids } of lists) for (const id of ids) if (!seen.has(id)) seen.set(id, name);
  return [...seen].map(([id, owned_by]) => ({ id, owned_by }));
}

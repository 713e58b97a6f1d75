/**
 * Small field checkers shared by the request validators. Each throws an ApiError 400 naming `param`,
 * so every rejection tells the client exactly which field to fix. `null` counts as absent for optional
 * fields, as OpenAI's own API treats it.
 */
import { badRequest } from './errors.js';

export type Json = Record<string, unknown>;

export function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

export function invalidType(param: string, expected: string, got: unknown): never {
  throw badRequest(`Invalid type for '${param}': expected ${expected}, but got ${describeType(got)}.`, param, 'invalid_type');
}

export function optString(body: Json, key: string, param = key): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') invalidType(param, 'a string', v);
  return v;
}

export function optBool(body: Json, key: string, param = key): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') invalidType(param, 'a boolean', v);
  return v;
}

export function optNumber(body: Json, key: string, range: { min: number; max: number; minExclusive?: boolean }, param = key): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) invalidType(param, 'a number', v);
  const belowMin = range.minExclusive ? v <= range.min : v < range.min;
  if (belowMin || v > range.max) {
    const lower = range.minExclusive ? `greater than ${range.min}` : `at least ${range.min}`;
    throw badRequest(`Invalid value for '${param}': ${v}; it must be ${lower} and at most ${range.max}.`, param, 'invalid_value');
  }
  return v;
}

export function optInteger(body: Json, key: string, range: { min: number; max: number }, param = key): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) invalidType(param, 'an integer', v);
  if (v < range.min || v > range.max) {
    throw badRequest(`Invalid value for '${param}': ${v}; it must be between ${range.min} and ${range.max}.`, param, 'invalid_value');
  }
  return v;
}

export function requireNonEmptyString(body: Json, key: string, param = key): string {
  const v = body[key];
  if (v === undefined || v === null) throw badRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
  if (typeof v !== 'string') invalidType(param, 'a string', v);
  if (v.length === 0) throw badRequest(`Invalid value for '${param}': it must not be empty.`, param, 'invalid_value');
  return v;
}

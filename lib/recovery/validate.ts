import { InvalidArgumentError } from '../errors.js';

/** Constructor-option checks shared by the policy classes: a bad option throws at construction, never later. */
export function requireInteger(owner: string, key: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${owner}: ${key} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

export function requireNumber(owner: string, key: string, value: number, min: number, max = Number.MAX_VALUE): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${owner}: ${key} must be a number in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

export function requireOneOf<T extends string>(owner: string, key: string, value: T, allowed: readonly T[]): T {
  if (!allowed.includes(value)) {
    throw new InvalidArgumentError(`${owner}: ${key} must be one of ${allowed.join(', ')}, got ${String(value)}`);
  }
  return value;
}

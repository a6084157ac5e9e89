/**
 * What the request contract and the access rules share when they judge untrusted data: zod issues turned into
 * one problem per field with a readable path, values quoted safely for messages, and deep freezing of what
 * passed, so nothing downstream can change a validated value.
 */
import type * as z from 'zod';

export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

/** zod's own message for a missing field ("expected string, received undefined") reads worse than this. */
export const MISSING_IS_REQUIRED = {
  error: (issue: z.core.$ZodRawIssue) =>
    issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined,
};

/** Flattens zod issues into one problem per field, unknown keys named one by one. */
export function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  prefix: readonly PropertyKey[],
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        problems.push({ field: formatPath([...path, key]), message: 'unknown field' });
    } else {
      problems.push({ field: formatPath(path), message: issue.message });
    }
  }
  return problems;
}

/** `['rules', 2, 'policies', 0]` -> `rules[2].policies[0]`; odd keys are quoted and cut short. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_$][\w$-]{0,63}$/.test(segment)) {
      out += out === '' ? segment : `.${segment}`;
    } else out += `[${show(String(segment))}]`;
  }
  return out;
}

/** A value quoted for a message, cut short: requests are untrusted and reasons end up in events and logs. */
export function show(value: string, max = 64): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}...` : value);
}

/** A JSON object: not null, not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

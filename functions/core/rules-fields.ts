/**
 * Reading the access rules document before it is valid, for the checks across entries (rules.ts and
 * rules-webhooks.ts): those checks read every field that is valid on its own, even in entries with other
 * problems, so they go through these helpers rather than trust the document's shape.
 */
// A namespace import, not `{ z }`: esbuild then keeps only what is used (with `{ z }` every locale of zod
// comes along, ~350 KiB of each function's bundle).
import * as z from 'zod';
import { type FieldProblem, formatPath, isRecord } from './validation';

/** One field of an entry, when that field alone is valid (absent optional fields take their defaults). */
export function fieldOf<S extends z.ZodRawShape, K extends keyof S & string>(
  schema: z.ZodObject<S>,
  item: unknown,
  key: K,
): z.output<S[K]> | undefined {
  const field = schema.shape[key];
  if (!field || !isRecord(item)) return undefined;
  const result = z.safeParse(field, own(item, key));
  return result.success ? (result.data as z.output<S[K]>) : undefined;
}

/** An own property only: a YAML key named `__proto__` or `constructor` must not reach the prototype chain. */
export function own(value: unknown, key: string): unknown {
  return isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined;
}

/** Reports every repeat of a key, naming where it was first seen; entries that are not strings are skipped. */
export function reportDuplicates(
  entries: readonly { readonly key: unknown; readonly path: readonly PropertyKey[] }[],
  what: string,
  problems: FieldProblem[],
): void {
  const first = new Map<string, readonly PropertyKey[]>();
  for (const { key, path } of entries) {
    if (typeof key !== 'string') continue;
    const seen = first.get(key);
    if (seen === undefined) first.set(key, path);
    else {
      problems.push({
        field: formatPath(path),
        message: `duplicate ${what} ${JSON.stringify(key)} (also at ${formatPath(seen)})`,
      });
    }
  }
}

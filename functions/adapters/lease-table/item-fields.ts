import { PermanentError } from '../../core/errors';
import { isRecord } from '../../core/validation';

type Item = Record<string, unknown>;

/** Readers of one field of a stored item: a missing or mistyped field is corrupt() (see there). */
export function readString(item: Item, name: string): string {
  const value = item[name];
  if (typeof value !== 'string') throw corrupt(item, name);
  return value;
}

export function readOptionalString(item: Item, name: string): string | undefined {
  return item[name] === undefined ? undefined : readString(item, name);
}

export function readNumber(item: Item, name: string): number {
  const value = item[name];
  if (typeof value !== 'number') throw corrupt(item, name);
  return value;
}

export function readOptionalNumber(item: Item, name: string): number | undefined {
  return item[name] === undefined ? undefined : readNumber(item, name);
}

export function readOptionalStringList(item: Item, name: string): string[] | undefined {
  const value: unknown = item[name];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string'))
    throw corrupt(item, name);
  return value;
}

export function readBoolean(item: Item, name: string): boolean {
  const value = item[name];
  if (typeof value !== 'boolean') throw corrupt(item, name);
  return value;
}

export function readOneOf<T extends string>(item: Item, name: string, allowed: readonly T[]): T {
  const value = item[name];
  const match = allowed.find((candidate) => candidate === value);
  if (match === undefined) throw corrupt(item, name);
  return match;
}

/** An item we cannot map is not going to improve with retries. */
export function corrupt(item: Item, name: string): PermanentError {
  const where = typeof item.pk === 'string' ? ` ${item.pk} ${String(item.sk)}` : '';
  return new PermanentError(`Lease table item${where} has a missing or invalid ${name}`);
}

/** Drops undefined-valued keys, so absent optional fields stay absent in items and in domain objects. */
export function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

/** Audit details come from callers: drop undefined at any depth rather than depend on marshall options. */
export function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) {
    const list: unknown[] = value;
    return list.filter((element) => element !== undefined).map(withoutUndefined);
  }
  if (isRecord(value)) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, field]) => field !== undefined)
        .map(([key, field]) => [key, withoutUndefined(field)]),
    );
  }
  return value;
}

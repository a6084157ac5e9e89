import { errors } from './errors';

export interface Page<T> {
  readonly items: T[];
  readonly nextToken: string | undefined;
}

/**
 * Pages a list sorted by key. The token is a cursor (the last key served), not an offset, so entries
 * created or deleted between two calls neither repeat nor vanish from the rest of the listing. `pageSize`:
 * fewer than maxResults a page (EKS may answer less than asked, with a nextToken).
 */
export function paginate<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  maxResults: number | undefined,
  nextToken: string | undefined,
  pageSize: number | undefined = maxResults,
): Page<T> {
  const asked = maxResults ?? 100;
  if (!Number.isInteger(asked) || asked < 1 || asked > 100) throw errors.maxResults();
  const limit = Math.min(asked, pageSize ?? asked);
  const sorted = [...items].sort((a, b) => compare(keyOf(a), keyOf(b)));
  const after = nextToken === undefined ? undefined : decodeToken(nextToken);
  const rest = after === undefined ? sorted : sorted.filter((item) => compare(keyOf(item), after) > 0);
  const page = rest.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page,
    nextToken: rest.length > limit && last !== undefined ? encodeToken(keyOf(last)) : undefined,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function encodeToken(after: string): string {
  return Buffer.from(JSON.stringify({ v: 1, after }), 'utf8').toString('base64url');
}

function decodeToken(token: string): string {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      'after' in parsed &&
      typeof parsed.after === 'string'
    ) {
      return parsed.after;
    }
  } catch {
    // fall through: any token we did not issue is invalid
  }
  throw errors.badNextToken();
}

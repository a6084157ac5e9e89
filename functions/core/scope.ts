import type { AccessScope } from './model';

/** Sorted, unique namespaces; cluster scope as the bare `{type:'cluster'}`. Two equal scopes normalize equal. */
export function normalizeScope(scope: AccessScope): AccessScope {
  if (scope.type === 'cluster') return { type: 'cluster' };
  return { type: 'namespace', namespaces: [...new Set(scope.namespaces)].sort() };
}

/** The smallest scope that covers both: cluster scope absorbs namespaces, namespaces add up. */
export function unionScope(
  a: AccessScope | null | undefined,
  b: AccessScope | null | undefined,
): AccessScope | null {
  if (!a) return b ? normalizeScope(b) : null;
  if (!b) return normalizeScope(a);
  if (a.type === 'cluster' || b.type === 'cluster') return { type: 'cluster' };
  return normalizeScope({ type: 'namespace', namespaces: [...a.namespaces, ...b.namespaces] });
}

export function sameScope(a: AccessScope | null | undefined, b: AccessScope | null | undefined): boolean {
  if (!a || !b) return !a && !b;
  const x = normalizeScope(a);
  const y = normalizeScope(b);
  if (x.type === 'cluster' || y.type === 'cluster') return x.type === y.type;
  return x.namespaces.length === y.namespaces.length && x.namespaces.every((ns, i) => ns === y.namespaces[i]);
}

/**
 * Whether `outer` grants at least what `inner` asks for. A namespace is covered by itself or by a wildcard
 * whose prefix it starts with (`dev-*` covers `dev-a` and `dev-x*`), as EKS matches wildcards.
 */
export function coversScope(outer: AccessScope | null | undefined, inner: AccessScope): boolean {
  if (!outer) return false;
  if (outer.type === 'cluster') return true;
  if (inner.type === 'cluster') return false;
  return inner.namespaces.every((ns) => outer.namespaces.some((candidate) => namespaceCovers(candidate, ns)));
}

function namespaceCovers(pattern: string, namespace: string): boolean {
  if (pattern === namespace) return true;
  if (!pattern.endsWith('*')) return false;
  const prefix = pattern.slice(0, -1);
  return namespace.startsWith(prefix);
}

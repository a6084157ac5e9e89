/**
 * Glob match where `*` matches any run of characters, `/` and `:` included, and everything else matches itself.
 * Iterative with one backtrack point, so time is bounded by pattern length times text length (no regex, no
 * catastrophic backtracking on hostile ARNs).
 */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else return false;
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/**
 * Whether every namespace that `requested` can stand for matches one of `globs`. A plain name needs one glob to
 * match it. A requested wildcard `dev-*` stands for every name starting with `dev-`, so it needs a glob `H*`
 * whose head H matches some prefix of `dev-` (`dev-*`, `d*`, `*`); `dev-a` or `dev-*-x` do not cover it. This is
 * sufficient, not necessary, for exotic globs: an uncertain case is refused, never allowed.
 */
export function namespaceCovered(requested: string, globs: readonly string[]): boolean {
  if (!requested.endsWith('*')) return globs.some((glob) => globMatch(glob, requested));
  const prefix = requested.slice(0, -1);
  return globs.some((glob) => {
    if (!glob.endsWith('*')) return false;
    const head = glob.slice(0, -1);
    for (let length = 0; length <= prefix.length; length++) {
      if (globMatch(head, prefix.slice(0, length))) return true;
    }
    return false;
  });
}

/**
 * A Jira field's value as text, whatever the field's type. Jira answers a text field with a string, a number
 * field with a number, a select with an option `{value}`, a component or version with `{name}`, a multi-select
 * or labels with an array of those, and (REST API v3) a paragraph field with an Atlassian Document Format
 * document. The mapping lets an admin use whichever field type their form has.
 */
import { isRecord } from '../validation';

export type FieldTexts =
  /** The field's texts, trimmed, blanks left out (none: the field is empty or absent). */
  | { readonly ok: true; readonly values: readonly string[] }
  /** What the field holds instead of text, for a refusal's reason. */
  | { readonly ok: false; readonly holds: string };

// Jira's own values are shallow; anything deeper or larger is not a field an admin would map.
const MAX_DEPTH = 16;
const MAX_VALUES = 1000;

export function fieldTexts(value: unknown): FieldTexts {
  const values: string[] = [];
  const holds = collect(value, 0, values);
  if (holds !== undefined) return { ok: false, holds };
  return { ok: true, values };
}

/** Adds `value`'s texts to `out`; answers what it holds instead when it is not text. */
function collect(value: unknown, depth: number, out: string[]): string | undefined {
  if (depth > MAX_DEPTH) return 'values nested too deep';
  if (out.length > MAX_VALUES) return `more than ${MAX_VALUES} values`;
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return push(out, value);
  if (typeof value === 'number')
    return Number.isFinite(value) ? push(out, String(value)) : 'a number that is not finite';
  if (Array.isArray(value)) {
    for (const item of value) {
      const holds = collect(item, depth + 1, out);
      if (holds !== undefined) return holds;
    }
    return undefined;
  }
  if (!isRecord(value)) return `a ${typeof value}`;
  if (value.type === 'doc' && Array.isArray(value.content)) return push(out, documentText(value, 0));
  // An option of a select (`value`), a component, version or group (`name`).
  for (const key of ['value', 'name']) {
    const text = value[key];
    if (typeof text === 'string' || typeof text === 'number') return collect(text, depth + 1, out);
  }
  return 'an object without a value or a name';
}

function push(out: string[], text: string): undefined {
  const trimmed = text.trim();
  if (trimmed !== '') out.push(trimmed);
  return undefined;
}

// Inline nodes (text, mentions) of these blocks run on; every other block starts a line.
const INLINE_CONTAINERS: ReadonlySet<unknown> = new Set(['paragraph', 'heading']);

/** The text of an Atlassian Document Format node: its text nodes, a line per block. */
function documentText(node: Readonly<Record<string, unknown>>, depth: number): string {
  if (node.type === 'text') return typeof node.text === 'string' ? node.text : '';
  if (node.type === 'hardBreak') return '\n';
  if (depth > MAX_DEPTH || !Array.isArray(node.content)) return '';
  const children = node.content.filter(isRecord).map((child) => documentText(child, depth + 1));
  return children.join(INLINE_CONTAINERS.has(node.type) ? '' : '\n');
}

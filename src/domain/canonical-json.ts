/**
 * Canonical JSON (the JSON Canonicalization Scheme of RFC 8785 for the values JSON.parse yields):
 * object keys sorted by UTF-16 code units at every depth, no whitespace, strings and numbers
 * serialized as ECMAScript's JSON.stringify does. Two values with the same content have the same
 * canonical form whatever their key order: compare these, never `JSON.stringify` (which keeps
 * insertion order, and PostgreSQL's jsonb reorders keys).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** True when `a` and `b` are the same JSON content, whatever their key order. */
export const sameJson = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b);

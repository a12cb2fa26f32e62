/** Walking a JSON value. */

/**
 * The FHIRPath-like path (from `path`) of the first node for which `test`
 * holds, depth first; `test` sees each key and its value.
 */
export function findPath(value: unknown, path: string, test: (key: string, value: unknown) => boolean): string | undefined {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findPath(value[i], `${path}[${i}]`, test);
      if (found) return found;
    }
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (test(k, v)) return `${path}.${k}`;
      const found = findPath(v, `${path}.${k}`, test);
      if (found) return found;
    }
  }
  return undefined;
}

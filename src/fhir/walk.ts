/** Walking a JSON value, and reading one from a request body. */

import { badRequest } from '../core/outcomes.js';

/**
 * The FHIRPath-like path (from `path`) of the first node for which `test`
 * holds, depth first; `test` sees each key and its value.
 */
export function findPath(value: unknown, path: string, test: (key: string, value: unknown) => boolean): string | undefined {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      // An array's own values are tested too (with their index as key): strings in a list (`given`, `line`) are values like any other.
      if (test(String(i), value[i])) return `${path}[${i}]`;
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

/**
 * Most levels of nesting a request body may have. FHIR resources nest a few
 * dozen levels at most; deeper bodies would overflow the stack of the
 * recursive walks (validation, references, storage) and PostgreSQL's jsonb.
 */
export const MAX_JSON_DEPTH = 128;

/** Whether a JSON value nests arrays and objects deeper than `max` (an iterative walk: any depth is safe). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (!node || typeof node !== 'object') continue;
    if (depth > max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) if (child && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

/** A request body parsed as JSON: 400 when empty, not JSON, or nested deeper than MAX_JSON_DEPTH. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw badRequest('The request body is empty');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw badRequest(`The body is not valid JSON: ${(err as Error).message}`);
  }
  if (nestsDeeperThan(body, MAX_JSON_DEPTH)) throw badRequest(`The body nests deeper than ${MAX_JSON_DEPTH} levels`);
  return body;
}

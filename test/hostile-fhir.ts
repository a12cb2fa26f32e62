/**
 * Hostile FHIR content shared by the hostile-input tests: resources broken
 * by the base rules, tricky strings, deep nesting, and the check of a batch
 * whose every entry must have been refused.
 */
import fc from 'fast-check';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { expect } from 'vitest';
import type { Answer } from './hostile-kit.js';

/** The FHIR JSON media type. */
export const FHIR_JSON = 'application/fhir+json';

/** The Authorization header of a bearer token. */
export function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

/** `open` repeated `depth` times, then `inner`, then `close` repeated. */
export function nest(open: string, inner: string, close: string, depth: number): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

/** A batch answered 200: every entry must have been refused with a 4xx outcome (one of `statuses` when given). */
export function expectBatchRefusals(res: Answer, what: string, statuses?: readonly number[]): void {
  expect(res.status, `${what} → ${res.status} ${res.text.slice(0, 300)}`).toBe(200);
  expect(res.body?.resourceType, what).toBe('Bundle');
  expect(res.body.type, what).toBe('batch-response');
  for (const [i, entry] of ((res.body as Bundle).entry ?? []).entries()) {
    const status = Number(entry.response?.status?.slice(0, 3));
    expect(status, `${what}: entry ${i} → ${JSON.stringify(entry)}`).toBeGreaterThanOrEqual(400);
    expect(status, `${what}: entry ${i} → ${JSON.stringify(entry)}`).toBeLessThan(500);
    if (statuses) expect(statuses, `${what}: entry ${i} → ${JSON.stringify(entry)}`).toContain(status);
    expect(entry.response?.outcome?.resourceType, `${what}: entry ${i}`).toBe('OperationOutcome');
  }
}

/** A JSON value of another JSON type than `original` (arrays of objects get arrays of scalars too). */
export function otherType(original: unknown): fc.Arbitrary<unknown> {
  const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  const candidates = fc.oneof(
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.string({ maxLength: 10 }),
    fc.constant({}),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { minKeys: 1, maxKeys: 2 }),
    fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.constant(null)), { minLength: 1, maxLength: 3 })
  );
  const objectsInside = Array.isArray(original) && original.every((v) => v && typeof v === 'object' && !Array.isArray(v));
  return candidates.filter((v) => kind(v) !== kind(original) || (objectsInside && Array.isArray(v)));
}

/** Paths of the string leaves of a value. */
export function stringPaths(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (typeof value === 'string') return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringPaths(v, [...path, i]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => (k === 'resourceType' ? [] : stringPaths(v, [...path, k])));
  return [];
}

export function setAt(value: unknown, path: (string | number)[], leaf: unknown): unknown {
  if (path.length === 0) return leaf;
  const [head, ...rest] = path;
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<string | number, unknown>;
  copy[head] = setAt(copy[head], rest, leaf);
  return copy;
}

/** Characters FHIR strings may not hold (controls) or that have no UTF-8 form (lone surrogates). */
export const FORBIDDEN_CHARACTERS = ['\u0000', '\u0001', '\u0008', '\u000b', '\u001b', '\u001f', '\ud800', '\udbff', '\udc00', '\udfff'];

/** A resource of `type` (one of `types`, `valid` holding a valid one of each) made invalid by FHIR's base rules, with a label saying how. */
export function invalidResource(valid: Readonly<Record<string, Resource>>, types: readonly string[], type: string): fc.Arbitrary<{ label: string; resource: Record<string, unknown> }> {
  const base = { ...(valid[type] as unknown as Record<string, unknown>) };
  delete base.id;
  delete base.meta;
  const keys = Object.keys(base).filter((k) => k !== 'resourceType');
  const strings = stringPaths(base);
  return fc.oneof(
    fc.tuple(fc.string({ unit: 'binary', maxLength: 12 }), fc.jsonValue({ maxDepth: 2 })).map(([name, value]) => ({ label: `unknown element zz${name}`, resource: { ...base, [`zz${name}`]: value } })),
    fc.constantFrom(...keys).chain((key) => otherType(base[key]).map((value) => ({ label: `${key} of the wrong type`, resource: { ...base, [key]: value } }))),
    fc.constantFrom(...types.filter((t) => t !== type), 'Spaceship', '', 'patient', `${type} `, ` ${type}`, type.toLowerCase(), '__proto__', 'Parameters', 'Bundle', 'OperationOutcome', 'Resource', 'DomainResource').map((rt) => ({ label: `resourceType "${rt}"`, resource: { ...base, resourceType: rt } })),
    fc.constant({ label: 'no resourceType', resource: Object.fromEntries(Object.entries(base).filter(([k]) => k !== 'resourceType')) }),
    fc.tuple(fc.constantFrom(...strings), fc.constantFrom(...FORBIDDEN_CHARACTERS), fc.nat({ max: 3 })).map(([path, char, at]) => {
      const original = path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], base) as string;
      const position = Math.min(at, original.length);
      return { label: `${JSON.stringify(char)} in ${path.join('.')}`, resource: setAt(base, path, original.slice(0, position) + char + original.slice(position)) as Record<string, unknown> };
    }),
    fc.constantFrom('../etc/passwd', 'a b', "x';--", '%00', 'x'.repeat(65), '', 'ü').map((id) => ({ label: `id ${JSON.stringify(id)}`, resource: { ...base, id } })),
    fc.constant({ label: 'a contained resource of an unknown type', resource: { ...base, contained: [{ resourceType: 'Spaceship', id: 'x' }] } })
  );
}

/** Strings made of what breaks parsers, SQL and eyes. */
export const TRICKY_CHARACTERS = ["'", '"', ';', '--', '%', '_', '\\', '/', '?', '#', '&', '=', '+', ' ', ',', '|', '$', ':', '.', '..', '*', '(', ')', '<', '>', '\u0000', '\u0007', '\u202e', '\u200b', '\ufeff', '\u0301', '\ud800', '\udfff', 'é', 'ß', 'İ', '😀', '\u{10ffff}', 'x'];

/** Hostile strings: Unicode at large, and mixes of tricky characters. */
export const trickyString = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(...TRICKY_CHARACTERS), minLength: 1, maxLength: 12 }),
  fc.constantFrom("'; DROP TABLE patient; --", "' OR '1'='1", '1 OR 1=1', '%27%20OR%201=1', '${jndi:ldap://x}', '{{7*7}}', '<script>alert(1)</script>', '../../../../etc/passwd', '..\\..\\windows', 'x'.repeat(2_000), 'é'.repeat(700))
);

/** A header value carrying the UTF-8 bytes of `value` (HTTP headers are bytes; Node sends a string's chars as Latin-1). */
export function asHeader(value: string): string {
  return Buffer.from(value, 'utf8').toString('latin1');
}

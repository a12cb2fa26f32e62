/**
 * Values of the search parameters defined by a FHIRPath expression (the ROR
 * guide's SearchParameter definitions), computed from a resource when it is
 * written and kept in its table's `search_values` jsonb column (pure).
 *
 * Kept per parameter code, normalised for comparison in SQL:
 * - token: `system|code` and `code` strings (codes, Codings, CodeableConcepts,
 *   Identifiers, booleans and strings alike: the guide's `.as(code)` casts
 *   contradict its own extensions, which type these values CodeableConcept);
 * - number: numbers; quantity: `[value, system, code]`;
 * - date: `[low, high)` epoch-millisecond ranges at the value's precision
 *   (a Period gives its start's low and its end's high);
 * - string: normalised (accent- and case-insensitive) text.
 */
import { evalFhirPath } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { FIRST_INSTANT, instantRange, LAST_INSTANT } from './fhir-date.js';
import { normalizeText } from './text.js';

/** The value types an expression's values are kept as. */
export type SearchValueType = 'token' | 'number' | 'date' | 'string' | 'quantity';

/** A parameter to compute: its code, FHIRPath expression and value type. */
export interface ExpressionParam {
  code: string;
  expression: string;
  values: SearchValueType;
}

/** The `search_values` column: parameter code → its values (codes without values left out). */
export type SearchValues = Record<string, unknown[]>;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function tokens(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value === 'boolean') return [String(value)];
  if (!isObject(value)) return [];
  const codings = Array.isArray(value.coding) ? value.coding : 'code' in value || 'value' in value ? [value] : [];
  return codings.flatMap((c: unknown) => {
    if (!isObject(c)) return [];
    const code = typeof c.code === 'string' ? c.code : typeof c.value === 'string' ? c.value : undefined;
    if (!code) return [];
    return typeof c.system === 'string' ? [code, `${c.system}|${code}`] : [code];
  });
}

function dateRanges(value: unknown): [number, number][] {
  if (typeof value === 'string') {
    const range = instantRange(value);
    return range ? [[range.low, range.high]] : [];
  }
  if (isObject(value) && ('start' in value || 'end' in value)) {
    const start = typeof value.start === 'string' ? instantRange(value.start) : undefined;
    const end = typeof value.end === 'string' ? instantRange(value.end) : undefined;
    // An open end is unbounded on that side, as FHIR reads a Period.
    return [[start?.low ?? FIRST_INSTANT, end?.high ?? LAST_INSTANT]];
  }
  return [];
}

function normalised(type: SearchValueType, value: unknown): unknown[] {
  switch (type) {
    case 'token':
      return tokens(value);
    case 'number':
      if (typeof value === 'number') return [value];
      return isObject(value) && typeof value.value === 'number' ? [value.value] : [];
    case 'quantity':
      return isObject(value) && typeof value.value === 'number' ? [[value.value, value.system ?? null, value.code ?? value.unit ?? null]] : [];
    case 'date':
      return dateRanges(value);
    case 'string':
      return typeof value === 'string' ? [normalizeText(value)] : [];
  }
}

function evaluate(expression: string, resource: Resource): unknown[] {
  try {
    return evalFhirPath(expression, resource);
  } catch {
    // A resource whose shape the expression cannot walk has no value for it, as a FHIR server indexes it.
    return [];
  }
}

/** The values of `params` on `resource`. */
export function searchValues(resource: Resource, params: readonly ExpressionParam[]): SearchValues {
  const out: SearchValues = {};
  for (const param of params) {
    const seen = new Set<string>();
    const values: unknown[] = [];
    for (const value of evaluate(param.expression, resource).flatMap((v) => normalised(param.values, v))) {
      const key = JSON.stringify(value);
      if (seen.has(key)) continue;
      seen.add(key);
      values.push(value);
    }
    if (values.length > 0) out[param.code] = values;
  }
  return out;
}

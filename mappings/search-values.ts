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
import { evalFhirPath, parseFhirPath, type FhirPathAtom } from '@medplum/core';
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

type Step = { field: string } | { where: string; equals: string };

/**
 * The subset of FHIRPath the directory's expressions are written in, read
 * natively: `Type.field…`, `.where(url='…')` / `.where(id='…')`, and a
 * choice element by its bare name (`value` reads valueCodeableConcept,
 * valueInteger…). Medplum's engine, general but some 30 µs an expression,
 * made a 50,000-place ROR push half a minute slower; it still evaluates any
 * expression outside the subset.
 */
export function compileFhirPath(expression: string): ((resource: Resource) => unknown[]) | undefined {
  const head = /^([A-Z][A-Za-z]+)/.exec(expression);
  if (!head) return undefined;
  const steps: Step[] = [];
  let rest = expression.slice(head[1].length);
  while (rest.length > 0) {
    const where = /^\.where\(\s*(url|id)\s*=\s*'([^'\\]*)'\s*\)/.exec(rest);
    const field = /^\.([a-z][A-Za-z0-9]*)(?![A-Za-z0-9(])/.exec(rest);
    if (where) steps.push({ where: where[1], equals: where[2] });
    else if (field && field[1] !== 'where') steps.push({ field: field[1] });
    else return undefined;
    rest = rest.slice((where ?? field)?.[0].length ?? 0);
  }
  const type = head[1];
  return (resource) => {
    if (resource.resourceType !== type) return [];
    let items: unknown[] = [resource];
    for (const step of steps) {
      items =
        'field' in step
          ? items.flatMap((item) => (isObject(item) ? elementValues(item, step.field) : []))
          : items.filter((item) => isObject(item) && item[step.where] === step.equals);
    }
    return items;
  };
}

/** The R4 types a choice element (`value[x]`, `effective[x]`…) may take, as they suffix its JSON key. */
const CHOICE_TYPES = new Set(
  'Base64Binary Boolean Canonical Code Date DateTime Decimal Id Instant Integer Markdown Oid PositiveInt String Time UnsignedInt Uri Url Uuid Address Age Annotation Attachment CodeableConcept Coding ContactPoint Count Distance Duration HumanName Identifier Money Period Quantity Range Ratio Reference SampledData Signature Timing ContactDetail Contributor DataRequirement Expression ParameterDefinition RelatedArtifact TriggerDefinition UsageContext Dosage Meta'.split(' ')
);

/** An element's values: the key itself, or a choice element's typed key (`value` → `valueQuantity`). */
function elementValues(item: Json, name: string): unknown[] {
  const own = item[name];
  if (own !== undefined) return Array.isArray(own) ? own : [own];
  for (const key of Object.keys(item)) {
    if (key.startsWith(name) && CHOICE_TYPES.has(key.slice(name.length))) return [item[key]];
  }
  return [];
}

/** Compiled expressions: a directory push evaluates the same few dozen on every resource. */
const COMPILED = new Map<string, (resource: Resource) => unknown[]>();

function evaluate(expression: string, resource: Resource): unknown[] {
  let evaluator = COMPILED.get(expression);
  if (!evaluator) {
    const atom = compileFhirPath(expression) ? undefined : safeParse(expression);
    evaluator = compileFhirPath(expression) ?? ((r: Resource) => (atom ? evalFhirPath(atom, r) : []));
    COMPILED.set(expression, evaluator);
  }
  try {
    return evaluator(resource);
  } catch {
    // A resource whose shape the expression cannot walk has no value for it, as a FHIR server indexes it.
    return [];
  }
}

function safeParse(expression: string): FhirPathAtom | undefined {
  try {
    return parseFhirPath(expression);
  } catch {
    return undefined;
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

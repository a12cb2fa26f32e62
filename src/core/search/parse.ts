/**
 * FHIR search parameters (a query string) → a SearchQuery, and the paging
 * links of its result. Strict by default: an unknown parameter or modifier is
 * a 400 naming the supported ones; `Prefer: handling=lenient` ignores them.
 */
import { badRequest } from '../outcomes.js';
import { parseFilter } from './filter.js';
import { modifiersOf, SUMMARIES, type Criterion, type HasCriterion, type Searchable, type SearchQuery, type SortKey, type Summary } from './model.js';
import { parseHas, parseInclude, parseRevInclude, type Resolve } from './parse-links.js';

/** Result-control parameters the gateway handles itself. */
const CONTROL = new Set(['_count', '_sort', '_include', '_include:iterate', '_include:recurse', '_revinclude', '_revinclude:iterate', '_total', '_cursor', '_format', '_elements', '_summary', '_filter']);

/** Limits of a search request. */
export interface SearchLimits {
  defaultCount: number;
  maxCount: number;
}

/** A parsed search plus what the links need. */
export interface ParsedSearch {
  query: SearchQuery;
  /** Parameters ignored under lenient handling (reported in the Bundle). */
  ignored: string[];
  /** The effective parameters, without the cursor, in a stable order, for links. */
  canonical: [string, string][];
}

/** Splits a parameter value on unescaped commas and unescapes `\,`. */
export function splitValues(value: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && (value[i + 1] === ',' || value[i + 1] === '\\' || value[i + 1] === '|' || value[i + 1] === '$')) {
      current += value[i + 1];
      i++;
    } else if (c === ',') {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts.filter((p) => p !== '');
}

/** The values of one criterion of a search not run by parseSearch (AuditEvent, conformance resources): the same limits. */
export function criterionValues(key: string, value: string): string[] {
  // eslint-disable-next-line no-control-regex -- control characters are what is looked for
  if (/[\u0000-\u001F]/.test(key + value)) throw badRequest(`Search parameter "${key.replace(/[\u0000-\u001F]/g, '?')}" contains control characters`, key);
  const values = splitValues(value);
  if (values.length > 100) throw badRequest(`Too many values (${values.length}) for ${key}; at most 100`, key);
  return values;
}

/** Parses `_count`. */
export function parseCount(raw: string, limits: SearchLimits): number {
  if (!/^\d{1,9}$/.test(raw)) throw badRequest(`_count must be a non-negative integer, got "${raw}"`, '_count');
  return Math.min(Number(raw), limits.maxCount);
}

function parseSort(raw: string, kind: Searchable): SortKey[] {
  return raw.split(',').map((token) => {
    const descending = token.startsWith('-');
    const code = descending ? token.slice(1) : token;
    const param = kind.searchParams.find((p) => p.code === code && p.sort);
    if (!param) {
      const sortable = kind.searchParams.filter((p) => p.sort).map((p) => p.code);
      throw badRequest(`Cannot sort ${kind.type} by "${code}"; sortable: ${sortable.join(', ')}`, '_sort');
    }
    return { param, descending };
  });
}

export function decodeCursor(raw: string, length: number): unknown[] {
  try {
    const value = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === length && value.every((v) => typeof v === 'string' || v === null)) return value;
  } catch {
    // reported below
  }
  throw badRequest('Invalid _cursor: use the links of a previous page as given', '_cursor');
}

/** Encodes the position after the last row of a page. */
export function encodeCursor(after: unknown[]): string {
  return Buffer.from(JSON.stringify(after), 'utf8').toString('base64url');
}

/**
 * One parameter occurrence on `kind` (`code[:modifier]` and its values), as
 * a criterion: the parameter must be declared and the modifier one it
 * accepts. Shared by plain parameters, `_has` and `_filter`.
 */
export function criterionOf(kind: Searchable, key: string, values: string[]): Criterion {
  const [code, modifier, ...rest] = key.split(':');
  const param = kind.searchParams.find((p) => p.code === code);
  if (!param || rest.length > 0) {
    const supported = kind.searchParams.map((p) => p.code).join(', ');
    throw Object.assign(badRequest(`Unknown search parameter "${key}" for ${kind.type}; supported: ${supported}, _count, _sort, _include, _revinclude, _has, _filter, _elements, _summary, _total`, key), { [UNSUPPORTED]: true });
  }
  const accepted = modifiersOf(param).filter((m) => m !== 'exact' || param.kind === 'expression' || ('exactColumn' in param && param.exactColumn));
  if (modifier !== undefined && !accepted.includes(modifier)) {
    const list = accepted.map((m) => `:${m}`).join(', ');
    throw Object.assign(badRequest(`Modifier ":${modifier}" is not supported on ${kind.type}.${code}${list ? `; supported: ${list}` : ''}`, key), { [UNSUPPORTED]: true });
  }
  if (values.length > 100) throw badRequest(`Too many values (${values.length}) for ${key}; at most 100`, key);
  return { param, modifier, values };
}

const UNSUPPORTED = Symbol('unsupported');

function isUnsupported(err: unknown): boolean {
  return typeof err === 'object' && err !== null && UNSUPPORTED in err;
}

const ELEMENT = /^[a-z][A-Za-z0-9]{0,63}$/;

function parseElements(value: string): string[] {
  const names = value.split(',').map((n) => n.trim()).filter((n) => n !== '');
  const bad = names.find((n) => !ELEMENT.test(n));
  if (bad !== undefined) throw badRequest(`Invalid _elements "${bad}": top-level element names, comma-separated (e.g. name,identifier)`, '_elements');
  return names;
}

/** Parses a search on `kind`; `resolve` names the other types (`_include:iterate`, `_revinclude`, `_has`). */
export function parseSearch(kind: Searchable, params: URLSearchParams, limits: SearchLimits, lenient = false, resolve: Resolve = () => undefined): ParsedSearch {
  const criteria: Criterion[] = [];
  const has: HasCriterion[] = [];
  const ignored: string[] = [];
  const canonical: [string, string][] = [];
  let count = limits.defaultCount;
  let sort: SortKey[] = [{ param: kind.searchParams.find((p) => p.code === '_lastUpdated') as SortKey['param'], descending: false }];
  let total = false;
  let cursor: string | undefined;
  let elements: string[] | undefined;
  let summary: Summary | undefined;
  let filter: SearchQuery['filter'];
  const includes: SearchQuery['includes'] = [];
  for (const [key, value] of params) {
    // eslint-disable-next-line no-control-regex -- control characters are what is looked for
    if (/[\u0000-\u001F]/.test(key + value)) throw badRequest(`Search parameter "${key.replace(/[\u0000-\u001F]/g, '?')}" contains control characters`, key);
    if (key === '_cursor') {
      cursor = value;
      continue;
    }
    if (CONTROL.has(key)) {
      if (key === '_count') count = parseCount(value, limits);
      else if (key === '_sort') sort = parseSort(value, kind);
      else if (key === '_total') {
        if (!['none', 'estimate', 'accurate'].includes(value)) throw badRequest(`_total must be none, estimate or accurate, got "${value}"`, '_total');
        total = value !== 'none';
      } else if (key.startsWith('_include') || key.startsWith('_revinclude')) {
        let include;
        try {
          include = key.startsWith('_include') ? parseInclude(kind, key, value, resolve) : parseRevInclude(kind, key, value, resolve);
        } catch (err) {
          // An undeclared _revinclude is an unsupported parameter (lenient handling ignores it); an _include the type lacks stays a 400, as it always was.
          if (lenient && key.startsWith('_revinclude')) {
            ignored.push(key);
            continue;
          }
          throw err;
        }
        if (!includes.some((i) => i.def === include.def && i.reverse === include.reverse && i.source === include.source)) includes.push(include);
        else if (include.iterate) for (const i of includes) if (i.def === include.def && i.reverse === include.reverse) i.iterate = true;
      } else if (key === '_elements') {
        elements = [...(elements ?? []), ...parseElements(value)];
      } else if (key === '_summary') {
        if (!(SUMMARIES as readonly string[]).includes(value)) throw badRequest(`_summary must be one of ${SUMMARIES.join(', ')}, got "${value}"`, '_summary');
        summary = value as Summary;
      } else if (key === '_filter') {
        if (filter) throw badRequest('_filter may be given once', '_filter');
        filter = parseFilter(kind, value, criterionOf);
      } else if (key === '_format' && !/json/.test(value)) {
        throw badRequest(`Only JSON is supported, _format=${value}`, '_format');
      }
      if (key !== '_format') canonical.push([key, key === '_count' ? String(count) : value]);
      continue;
    }
    const values = splitValues(value);
    try {
      if (key.startsWith('_has:')) {
        if (values.length === 0) continue;
        has.push(parseHas(kind, key, values, resolve, criterionOf));
        canonical.push([key, value]);
        continue;
      }
      const criterion = criterionOf(kind, key, values);
      if (values.length === 0) continue; // an empty parameter is ignored, as FHIR says
      criteria.push(criterion);
      canonical.push([key, value]);
    } catch (err) {
      // A _has the server cannot follow (unknown type, reference or parameter) is unsupported too; bad values are refused later.
      if (lenient && (isUnsupported(err) || key.startsWith('_has:'))) {
        ignored.push(key);
        continue;
      }
      throw err;
    }
  }
  if (summary === 'count') count = 0;
  if (elements && summary && summary !== 'false') throw badRequest('_elements and _summary cannot be combined', '_elements');
  const after = cursor === undefined ? undefined : decodeCursor(cursor, sort.length + 1);
  const query: SearchQuery = { kind, criteria, sort, count, after, includes, total: total || summary === 'count' };
  if (has.length > 0) query.has = has;
  if (filter) query.filter = filter;
  if (elements) query.elements = elements;
  if (summary) query.summary = summary;
  return { query, ignored, canonical };
}

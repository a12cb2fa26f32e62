/**
 * FHIR search parameters (a query string) → a SearchQuery, and the paging
 * links of its result. Strict by default: an unknown parameter or modifier is
 * a 400 naming the supported ones; `Prefer: handling=lenient` ignores them.
 */
import { badRequest } from '../outcomes.js';
import { MODIFIERS, type Criterion, type Searchable, type SearchQuery, type SortKey } from './model.js';

/** Result-control parameters the gateway handles itself. */
const CONTROL = new Set(['_count', '_sort', '_include', '_total', '_cursor', '_format']);

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

/** Parses a search on `kind`. */
export function parseSearch(kind: Searchable, params: URLSearchParams, limits: SearchLimits, lenient = false): ParsedSearch {
  const criteria: Criterion[] = [];
  const ignored: string[] = [];
  const canonical: [string, string][] = [];
  let count = limits.defaultCount;
  let sort: SortKey[] = [{ param: kind.searchParams.find((p) => p.code === '_lastUpdated') as SortKey['param'], descending: false }];
  let total = false;
  let cursor: string | undefined;
  const includes: SearchQuery['includes'][number][] = [];
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
      } else if (key === '_include') {
        const [type, code, target, ...extra] = value.split(':');
        const include = type === kind.type && extra.length === 0 ? kind.includes.find((i) => i.param === code && (!target || target === i.target)) : undefined;
        if (!include) {
          const supported = kind.includes.map((i) => `${kind.type}:${i.param}`);
          throw badRequest(`Unsupported _include "${value}"; supported: ${supported.join(', ') || 'none'}`, '_include');
        }
        if (!includes.includes(include)) includes.push(include);
      } else if (key === '_format' && !/json/.test(value)) {
        throw badRequest(`Only JSON is supported, _format=${value}`, '_format');
      }
      if (key !== '_format') canonical.push([key, key === '_count' ? String(count) : value]);
      continue;
    }
    const [code, modifier, ...rest] = key.split(':');
    const param = kind.searchParams.find((p) => p.code === code);
    if (!param || rest.length > 0) {
      if (lenient) {
        ignored.push(key);
        continue;
      }
      const supported = kind.searchParams.map((p) => p.code).join(', ');
      throw badRequest(`Unknown search parameter "${key}" for ${kind.type}; supported: ${supported}, _count, _sort, _include, _total`, key);
    }
    // :exact needs a column of exact values, which not every string parameter has.
    const unsupported = modifier !== undefined && (!MODIFIERS[param.kind].includes(modifier) || (modifier === 'exact' && !('exactColumn' in param && param.exactColumn)));
    if (unsupported) {
      if (lenient) {
        ignored.push(key);
        continue;
      }
      const supported = MODIFIERS[param.kind].filter((m) => m !== 'exact' || ('exactColumn' in param && param.exactColumn)).map((m) => `:${m}`).join(', ');
      throw badRequest(`Modifier ":${modifier}" is not supported on ${kind.type}.${code}${supported ? `; supported: ${supported}` : ''}`, key);
    }
    const values = splitValues(value);
    if (values.length === 0) continue; // an empty parameter is ignored, as FHIR says
    if (values.length > 100) throw badRequest(`Too many values (${values.length}) for ${key}; at most 100`, key);
    criteria.push({ param, modifier, values });
    canonical.push([key, value]);
  }
  const after = cursor === undefined ? undefined : decodeCursor(cursor, sort.length + 1);
  return { query: { kind, criteria, sort, count, after, includes, total }, ignored, canonical };
}

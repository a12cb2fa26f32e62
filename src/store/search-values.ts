/**
 * SQL of the parameters kept in a table's `search_values` jsonb column
 * (mappings/search-values.ts), and of `near-insee-code`: alias `t`, values
 * as parameters only.
 */
import { instantRange } from '../../mappings/fhir-date.js';
import { normalizeText } from '../../mappings/text.js';
import { badRequest } from '../core/outcomes.js';
import type { Criterion, Prefix, SearchParamDef } from '../core/search/model.js';
import { greatCircleWithin, KM_PER } from './search-measures.js';
import { raw, sql, type SqlFragment } from './sql.js';

type ExpressionParam = Extract<SearchParamDef, { kind: 'expression' }>;

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A number's comparison prefix and the rest of the value. */
export function splitNumberPrefix(value: string): { prefix: Prefix; rest: string } {
  const m = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(.*)$/.exec(value) as RegExpExecArray;
  return { prefix: (m[1] ?? 'eq') as Prefix, rest: m[2] };
}

const COMPARE: Record<Prefix, string> = { eq: '=', ne: '<>', gt: '>', sa: '>', lt: '<', eb: '<', ge: '>=', le: '<=', ap: '=' };

function numberCondition(element: SqlFragment, prefix: Prefix, n: number): SqlFragment {
  if (prefix === 'ap') return sql`${element} BETWEEN ${n - Math.abs(n) * 0.1} AND ${n + Math.abs(n) * 0.1}`;
  return sql`${element} ${raw(COMPARE[prefix])} ${n}`;
}

function values(code: string): SqlFragment {
  return sql`coalesce(t.search_values -> ${code}, '[]'::jsonb)`;
}

function dateCondition(code: string, value: string, expression: string): SqlFragment {
  const { prefix, rest } = splitNumberPrefix(value);
  const range = instantRange(rest);
  if (!range) throw badRequest(`Invalid date "${value}": expected a FHIR date or dateTime, optionally prefixed (eq, ne, gt, lt, ge, le, sa, eb, ap)`, expression);
  const lo = sql`(v ->> 0)::float8`;
  const hi = sql`(v ->> 1)::float8`;
  const conditions: Record<Prefix, SqlFragment> = {
    eq: sql`${lo} >= ${range.low} AND ${hi} <= ${range.high}`,
    ne: sql`NOT (${lo} >= ${range.low} AND ${hi} <= ${range.high})`,
    ap: sql`${lo} < ${range.high} AND ${hi} > ${range.low}`,
    gt: sql`${hi} > ${range.high}`,
    lt: sql`${lo} < ${range.low}`,
    ge: sql`${hi} > ${range.low}`,
    le: sql`${lo} < ${range.high}`,
    sa: sql`${lo} >= ${range.high}`,
    eb: sql`${hi} <= ${range.low}`,
  };
  return sql`EXISTS (SELECT 1 FROM jsonb_array_elements(${values(code)}) AS x(v) WHERE ${conditions[prefix]})`;
}

function quantityCondition(code: string, value: string, expression: string): SqlFragment {
  const { prefix, rest } = splitNumberPrefix(value);
  const [number, system, unit, ...extra] = rest.split('|');
  if (!/^-?\d+(\.\d+)?$/.test(number) || !Number.isFinite(Number(number)) || extra.length > 0) throw badRequest(`Invalid quantity "${value}": expected [prefix]number[|system|code]`, expression);
  const unitConditions = [...(system ? [sql`v ->> 1 = ${system}`] : []), ...(unit ? [sql`v ->> 2 = ${unit}`] : [])];
  const compare = numberCondition(sql`(v ->> 0)::numeric`, prefix, Number(number));
  return sql`EXISTS (SELECT 1 FROM jsonb_array_elements(${values(code)}) AS x(v) WHERE ${compare}${unitConditions.length ? sql` AND ${unitConditions[0]}${unitConditions[1] ? sql` AND ${unitConditions[1]}` : sql``}` : sql``})`;
}

/** The condition of one value of an `expression` parameter. */
export function expressionCondition(p: ExpressionParam, criterion: Criterion, value: string, expression: string): SqlFragment {
  if (criterion.modifier === 'missing') {
    if (value !== 'true' && value !== 'false') throw badRequest(`Invalid value "${value}" for ${p.code}:missing: expected true or false`, expression);
    return value === 'true' ? sql`(t.search_values -> ${p.code}) IS NULL` : sql`(t.search_values -> ${p.code}) IS NOT NULL`;
  }
  switch (p.values) {
    case 'token': {
      const bar = value.indexOf('|');
      if (bar >= 0 && bar === value.length - 1) {
        return sql`EXISTS (SELECT 1 FROM jsonb_array_elements_text(${values(p.code)}) AS x(v) WHERE v LIKE ${`${escapeLike(value)}%`})`;
      }
      // `|code` (no system) and `code` both match the bare code, which every value carries.
      const token = bar === 0 ? value.slice(1) : value;
      return sql`t.search_values @> ${JSON.stringify({ [p.code]: [token] })}::jsonb`;
    }
    case 'number': {
      const { prefix, rest } = splitNumberPrefix(value);
      if (!/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(rest) || !Number.isFinite(Number(rest))) throw badRequest(`Invalid number "${value}" for ${p.code}: expected [prefix]number`, expression);
      return sql`EXISTS (SELECT 1 FROM jsonb_array_elements_text(${values(p.code)}) AS x(v) WHERE ${numberCondition(sql`v::numeric`, prefix, Number(rest))})`;
    }
    case 'quantity':
      return quantityCondition(p.code, value, expression);
    case 'date':
      return dateCondition(p.code, value, expression);
    case 'string': {
      if (criterion.modifier === 'exact') return sql`EXISTS (SELECT 1 FROM jsonb_array_elements_text(${values(p.code)}) AS x(v) WHERE v = ${normalizeText(value)})`;
      const pattern = criterion.modifier === 'contains' ? `%${escapeLike(normalizeText(value))}%` : `${escapeLike(normalizeText(value))}%`;
      return sql`EXISTS (SELECT 1 FROM jsonb_array_elements_text(${values(p.code)}) AS x(v) WHERE v LIKE ${pattern})`;
    }
  }
}

/**
 * `code|distance|unit` around a commune: the mean position of the
 * directory's places in it (no gazetteer of communes is shipped), then
 * within that distance. The places are read from `location`, the only table
 * with a commune and a position.
 */
export function nearCommuneCondition(p: Extract<SearchParamDef, { kind: 'near-commune' }>, value: string, expression: string): SqlFragment {
  const [code, distanceText, unit, ...extra] = value.split('|');
  const distance = distanceText ? Number(distanceText) : 50;
  const factor = KM_PER[unit || 'km'];
  if (!/^(\d[0-9AB]\d{3})$/.test(code ?? '') || !(distance >= 0) || !Number.isFinite(distance) || (distanceText !== undefined && !/^\d+(\.\d+)?$/.test(distanceText)) || factor === undefined || extra.length > 0) {
    throw badRequest(`Invalid ${p.code} "${value}": expected an INSEE commune code (5 characters, e.g. 78646 or 2A004)|distance|unit (unit km, m or [mi_i]; 50 km when no distance)`, expression);
  }
  const centre = sql`(SELECT avg(c.${raw(p.latitude)}) AS la, avg(c.${raw(p.longitude)}) AS lo FROM location c WHERE c.${raw(p.commune)} = ${code} AND c.${raw(p.latitude)} IS NOT NULL AND c.${raw(p.longitude)} IS NOT NULL)`;
  return sql`EXISTS (SELECT 1 FROM ${centre} AS centre WHERE centre.la IS NOT NULL AND ${greatCircleWithin(sql`t.${raw(p.latitude)}`, sql`t.${raw(p.longitude)}`, sql`centre.la`, sql`centre.lo`, distance * factor)})`;
}

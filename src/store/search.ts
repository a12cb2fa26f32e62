/**
 * Search criteria → parameterised SQL over a type's domain table (alias
 * `t`), keyset-paged so that the links of a result stay valid while data
 * changes.
 */
import type { Resource } from '@medplum/fhirtypes';
import { instantRange, dateRange, sqlInstant } from '../../mappings/fhir-date.js';
import { isValidityAlert, VALIDITY_ALERTS } from '../../mappings/decision/statuses.js';
import { canonicalSystem } from '../../mappings/identifier-systems.js';
import { parseReference } from '../../mappings/reference.js';
import { normalizeText } from '../../mappings/text.js';
import { badRequest } from '../core/outcomes.js';
import { PREFIXES, type Criterion, type FilterNode, type HasCriterion, type Prefix, type SearchQuery, type Searchable, type SortKey } from '../core/search/model.js';
import type { Queryable } from './db.js';
import { collectIncluded, type TargetOf } from './search-includes.js';
import { nearCondition, quantityCondition } from './search-measures.js';
import { expressionCondition, nearCommuneCondition } from './search-values.js';
import { join, raw, run, sql, trusted, type SqlFragment } from './sql.js';

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function splitPrefix(value: string): { prefix: Prefix; rest: string } {
  const prefix = value.slice(0, 2);
  if ((PREFIXES as readonly string[]).includes(prefix) && /^[a-z]{2}\d/.test(value)) return { prefix: prefix as Prefix, rest: value.slice(2) };
  return { prefix: 'eq', rest: value };
}

/** A token `system|code`, `|code`, `system|` or `code`. */
function splitToken(value: string): { system?: string; code?: string } {
  const bar = value.indexOf('|');
  if (bar < 0) return { code: value };
  const system = value.slice(0, bar);
  const code = value.slice(bar + 1);
  return { system, code: code === '' ? undefined : code };
}

function instantCondition(column: SqlFragment, value: string, expression: string): SqlFragment {
  const { prefix, rest } = splitPrefix(value);
  const range = instantRange(rest);
  if (!range) throw badRequest(`Invalid date "${value}": expected a FHIR date or dateTime, optionally prefixed (eq, ne, gt, lt, ge, le, sa, eb, ap)`, expression);
  const low = sqlInstant(range.low);
  const high = sqlInstant(range.high);
  switch (prefix) {
    case 'eq':
    case 'ap':
      return sql`(${column} >= ${low}::timestamptz AND ${column} < ${high}::timestamptz)`;
    case 'ne':
      return sql`(${column} < ${low}::timestamptz OR ${column} >= ${high}::timestamptz)`;
    case 'gt':
    case 'sa':
      return sql`${column} >= ${high}::timestamptz`;
    case 'lt':
    case 'eb':
      return sql`${column} < ${low}::timestamptz`;
    case 'ge':
      return sql`${column} >= ${low}::timestamptz`;
    case 'le':
      return sql`${column} < ${high}::timestamptz`;
  }
}

function dateRangeCondition(lowColumn: string, highColumn: string, value: string, expression: string): SqlFragment {
  const { prefix, rest } = splitPrefix(value);
  const range = /T/.test(rest) ? undefined : dateRange(rest);
  if (!range) throw badRequest(`Invalid date "${value}": expected YYYY, YYYY-MM or YYYY-MM-DD, optionally prefixed`, expression);
  const lo = sql`t.${raw(lowColumn)}`;
  const hi = sql`t.${raw(highColumn)}`;
  switch (prefix) {
    case 'eq':
      return sql`(${lo} >= ${range.low}::date AND ${hi} <= ${range.high}::date)`;
    case 'ne':
      return sql`NOT (${lo} >= ${range.low}::date AND ${hi} <= ${range.high}::date)`;
    case 'ap':
      return sql`(${lo} <= ${range.high}::date AND ${hi} >= ${range.low}::date)`;
    case 'gt':
      return sql`${hi} > ${range.high}::date`;
    case 'lt':
      return sql`${lo} < ${range.low}::date`;
    case 'ge':
      return sql`${hi} >= ${range.low}::date`;
    case 'le':
      return sql`${lo} <= ${range.high}::date`;
    case 'sa':
      return sql`${lo} > ${range.high}::date`;
    case 'eb':
      return sql`${hi} < ${range.low}::date`;
  }
}


function referenceTarget(value: string, target: string, expression: string): string {
  if (/^[A-Za-z0-9\-.]{1,64}$/.test(value)) return value;
  const parsed = parseReference(value);
  if (!parsed || parsed.type !== target) throw badRequest(`Invalid reference "${value}": expected ${target}/id or id`, expression);
  return parsed.id;
}

function valueCondition(criterion: Criterion, value: string, kind: Searchable): SqlFragment {
  const p = criterion.param;
  const expression = `${kind.type}?${p.code}`;
  switch (p.kind) {
    case 'id':
      return sql`t.id = ${value}`;
    case 'last-updated':
      return instantCondition(sql`t.last_updated`, value, expression);
    case 'days-ahead': {
      if (!/^\d{1,4}$/.test(value)) throw badRequest(`Invalid value "${value}" for ${p.code}: a number of days (0–9999)`, expression);
      return sql`(t.${raw(p.column)} >= current_date AND t.${raw(p.column)} <= current_date + ${Number(value)}::int)`;
    }
    case 'validity-alert': {
      if (!isValidityAlert(value)) throw badRequest(`Invalid value "${value}" for ${p.code}: one of ${Object.keys(VALIDITY_ALERTS).join(', ')}`, expression);
      const { from, to } = VALIDITY_ALERTS[value];
      const column = sql`t.${raw(p.column)}`;
      const bounds = [...(from !== undefined ? [sql`${column} >= current_date + ${from}::int`] : []), ...(to !== undefined ? [sql`${column} <= current_date + ${to}::int`] : [])];
      return sql`(${column} IS NOT NULL AND ${join(bounds, ' AND ')})`;
    }
    case 'instant':
      if (criterion.modifier === 'missing') {
        if (value !== 'true' && value !== 'false') throw badRequest(`Invalid value "${value}" for ${p.code}:missing: expected true or false`, expression);
        return value === 'true' ? sql`t.${raw(p.column)} IS NULL` : sql`t.${raw(p.column)} IS NOT NULL`;
      }
      return instantCondition(sql`t.${raw(p.column)}`, value, expression);
    case 'identifier': {
      const { system, code } = splitToken(value);
      const conditions: SqlFragment[] = [sql`i.resource_type = ${kind.type}`, sql`i.resource_id = t.id`];
      if (system !== undefined) conditions.push(sql`i.system = ${canonicalSystem(system)}`);
      if (code !== undefined) conditions.push(sql`i.value = ${code}`);
      return sql`EXISTS (SELECT 1 FROM resource_identifier i WHERE ${join(conditions, ' AND ')})`;
    }
    case 'string': {
      if (criterion.modifier === 'exact') return sql`t.${raw(p.exactColumn as string)} = ${value}`;
      // `starts`: only from _filter's `sw` (not a URL modifier), starts-with where the parameter matches "contains".
      const contains = criterion.modifier === 'contains' || (p.match === 'contains' && criterion.modifier !== 'starts');
      const pattern = contains ? `%${escapeLike(normalizeText(value))}%` : `${escapeLike(normalizeText(value))}%`;
      return sql`t.${raw(p.column)} LIKE ${pattern}`;
    }
    case 'token-array': {
      const { system, code } = splitToken(value);
      if (code === undefined) return sql`EXISTS (SELECT 1 FROM unnest(t.${raw(p.column)}) AS k(v) WHERE k.v LIKE ${`${escapeLike(system ?? '')}|%`})`;
      const tokenValue = system ? `${system}|${code}` : code;
      return sql`t.${raw(p.column)} @> ARRAY[${tokenValue}]::text[]`;
    }
    case 'quantity':
      return quantityCondition(p.column, value, expression);
    case 'near':
      return nearCondition(p.latitude, p.longitude, value, expression);
    case 'string-array': {
      const pattern = criterion.modifier === 'contains' ? `%${escapeLike(normalizeText(value))}%` : `${escapeLike(normalizeText(value))}%`;
      return sql`EXISTS (SELECT 1 FROM unnest(t.${raw(p.column)}) AS w(v) WHERE w.v LIKE ${pattern})`;
    }
    case 'code': {
      const { code } = splitToken(value);
      return sql`t.${raw(p.column)} = ${code ?? ''}`;
    }
    case 'boolean': {
      if (value !== 'true' && value !== 'false') throw badRequest(`Invalid value "${value}" for ${p.code}: expected true or false`, expression);
      return sql`t.${raw(p.column)} = ${value === 'true'}`;
    }
    case 'date-range':
      return dateRangeCondition(p.low, p.high, value, expression);
    case 'reference':
      return sql`t.${raw(p.column)} = ${referenceTarget(value, p.target, expression)}`;
    case 'reference-array':
      return sql`${referenceTarget(value, p.target, expression)} = ANY(t.${raw(p.column)})`;
    case 'expression':
      return expressionCondition(p, criterion, value, expression);
    case 'near-commune':
      return nearCommuneCondition(p, value, expression);
  }
}

/** The SQL condition (alias `t`) of one parameter occurrence on `kind`. */
export function criterionCondition(criterion: Criterion, kind: Searchable): SqlFragment {
  const alternatives = criterion.values.map((v) => valueCondition(criterion, v, kind));
  const any = alternatives.length === 1 ? alternatives[0] : sql`(${join(alternatives, ' OR ')})`;
  // :not keeps resources that have no value at all, as FHIR says.
  return criterion.modifier === 'not' ? sql`NOT coalesce(${any}, false)` : any;
}

/**
 * `_has`: the rows some visible resource of the source type points at. The
 * subquery's own alias is `t` too (its conditions are written on `t`); it
 * refers to nothing outside, so it shadows the outer one harmlessly.
 */
function hasCondition(has: HasCriterion, visible: SqlFragment): SqlFragment {
  const pointed = has.reference.array ? sql`unnest(t.${raw(has.reference.column)})` : sql`t.${raw(has.reference.column)}`;
  return sql`t.id IN (SELECT ${pointed} FROM ${raw(has.source.table)} t WHERE ${visible} AND ${criterionCondition(has.criterion, has.source)})`;
}

function filterCondition(node: FilterNode, kind: Searchable): SqlFragment {
  switch (node.op) {
    case 'leaf':
      return sql`coalesce(${criterionCondition(node.criterion, kind)}, false)`;
    case 'not':
      return sql`NOT ${filterCondition(node.node, kind)}`;
    case 'and':
      return sql`(${filterCondition(node.left, kind)} AND ${filterCondition(node.right, kind)})`;
    case 'or':
      return sql`(${filterCondition(node.left, kind)} OR ${filterCondition(node.right, kind)})`;
  }
}

/** The SQL expression a sort key orders by. */
function sortExpression(key: SortKey): string {
  return key.param.sort as string;
}

/** Conditions of a page after `after`: lexicographic over the sort keys, then the id. */
function afterCondition(sort: SortKey[], after: unknown[]): SqlFragment {
  const keys = [...sort.map((k) => ({ expression: sortExpression(k), descending: k.descending })), { expression: 't.id', descending: false }];
  const alternatives: SqlFragment[] = [];
  for (let i = 0; i < keys.length; i++) {
    const equal = keys.slice(0, i).map((k, j) => sql`${exprSql(k.expression)} = ${after[j]}`);
    const strict = sql`${exprSql(keys[i].expression)} ${raw(keys[i].descending ? '<' : '>')} ${after[i]}`;
    alternatives.push(equal.length ? sql`(${join([...equal, strict], ' AND ')})` : strict);
  }
  return sql`(${join(alternatives, ' OR ')})`;
}

// Sort expressions are the gateway's own constants (the types' declarations), written as SQL.
const exprSql = trusted;

/** A page of search results. */
export interface SearchPage {
  resources: Resource[];
  /** Sort-key values of the last row, when another page follows. */
  next?: unknown[];
  total?: number;
  included: Resource[];
}

/** Runs a search; `visible` restricts rows to what the caller may see. */
export async function runSearch(
  q: Queryable,
  query: SearchQuery,
  visible: SqlFragment,
  /** An `_include` target's table and the rows of it the caller may see. */
  targetOf: TargetOf,
  /** Prepare the main statement: for searches of a fixed shape run often (conditional creates). */
  options: { prepare?: boolean } = {}
): Promise<SearchPage> {
  const { kind } = query;
  const where = [
    visible,
    ...query.criteria.map((c) => criterionCondition(c, kind)),
    ...(query.has ?? []).map((h) => hasCondition(h, targetOf(h.source.type).visible)),
    ...(query.filter ? [filterCondition(query.filter, kind)] : []),
  ];
  const filter = join(where, ' AND ');
  const paged = query.after ? sql`${filter} AND ${afterCondition(query.sort, query.after)}` : filter;
  const sortColumns = query.sort.map((k, i) => sql`(${exprSql(sortExpression(k))})::text AS ${raw(`sort_${i}`)}`);
  const order = [...query.sort.map((k) => sql`${exprSql(sortExpression(k))} ${raw(k.descending ? 'DESC' : 'ASC')}`), sql`t.id ASC`];
  const extra = sortColumns;
  const rows =
    query.count === 0
      ? []
      : (
          await run<Record<string, unknown> & { id: string; content: Resource }>(
            q,
            sql`SELECT t.id, h.content${extra.length ? sql`, ${join(extra, ', ')}` : sql``}
                FROM ${raw(kind.table)} t
                JOIN resource_history h ON h.resource_type = ${kind.type} AND h.id = t.id AND h.version = t.version
                WHERE ${paged}
                ORDER BY ${join(order, ', ')}
                LIMIT ${query.count + 1}`,
            options
          ).catch((err: unknown) => {
            // A cursor is the server's own text, but it comes back from the client: one PostgreSQL cannot read as
            // the sort keys' types (a data exception, SQLSTATE class 22) was forged or damaged.
            if (query.after && /^22/.test(String((err as { code?: unknown }).code))) throw badRequest('Invalid _cursor: use the links of a previous page as given', '_cursor');
            throw err;
          })
        ).rows;
  const page = rows.slice(0, query.count);
  const last = page[page.length - 1];
  const next = rows.length > query.count && last ? [...query.sort.map((_, i) => last[`sort_${i}`]), last.id] : undefined;
  let total: number | undefined;
  if (query.total) {
    const { rows: countRows } = await run<{ n: number }>(q, sql`SELECT count(*)::int AS n FROM ${raw(kind.table)} t WHERE ${filter}`);
    total = countRows[0].n;
  }
  const included = query.includes.length > 0 ? await collectIncluded(q, query, page.map((r) => r.content), targetOf) : [];
  return { resources: page.map((r) => r.content), next, total, included };
}

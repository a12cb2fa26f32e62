/**
 * `_include`, `_revinclude` and their `:iterate` forms: the resources a page
 * of matches points at, or that point at it, restricted to what the caller
 * may see. Iterated ones are applied again to what the previous round added,
 * until nothing new comes or the rounds run out.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { IncludeRequest, SearchQuery } from '../core/search/model.js';
import type { Queryable } from './db.js';
import { raw, run, sql, type SqlFragment } from './sql.js';

/** A type's table and the rows of it the caller may see. */
export type TargetOf = (type: string) => { table: string; visible: SqlFragment };

/** Rounds of `:iterate` beyond the first: enough for the directory's chains (unit → site → legal entity). */
const MAX_ROUNDS = 4;
/** Resources one `_revinclude` may add in one round: a page's worth of matches can be pointed at by many. */
const MAX_REVERSE = 1_000;

const keyOf = (r: Resource): string => `${r.resourceType}/${r.id}`;

async function follow(q: Queryable, inc: IncludeRequest, ids: string[], targetOf: TargetOf): Promise<Resource[]> {
  const { def, source } = inc;
  if (inc.reverse) {
    const from = targetOf(source.type);
    const pointing = def.array ? sql`t.${raw(def.column)} && ${ids}::text[]` : sql`t.${raw(def.column)} = ANY(${ids}::text[])`;
    const { rows } = await run<{ content: Resource }>(
      q,
      sql`SELECT h.content FROM ${raw(from.table)} t
          JOIN resource_history h ON h.resource_type = ${source.type} AND h.id = t.id AND h.version = t.version
          WHERE ${pointing} AND ${from.visible} ORDER BY t.id LIMIT ${MAX_REVERSE}`
    );
    return rows.map((r) => r.content);
  }
  const target = targetOf(def.target);
  // The inner query's alias shadows the outer `t`: it reads the source rows, the outer one the targets.
  const pointed = def.array ? sql`unnest(t.${raw(def.column)})` : sql`t.${raw(def.column)}`;
  const { rows } = await run<{ content: Resource }>(
    q,
    sql`SELECT h.content FROM ${raw(target.table)} t
        JOIN resource_history h ON h.resource_type = ${def.target} AND h.id = t.id AND h.version = t.version
        WHERE t.id IN (SELECT ${pointed} FROM ${raw(source.table)} t WHERE t.id = ANY(${ids}::text[])) AND ${target.visible}`
  );
  return rows.map((r) => r.content);
}

/** What a page's `_include`s and `_revinclude`s add, each resource once and none of the matches again. */
export async function collectIncluded(q: Queryable, query: SearchQuery, matches: Resource[], targetOf: TargetOf): Promise<Resource[]> {
  const seen = new Set(matches.map(keyOf));
  const included: Resource[] = [];
  let frontier = matches;
  for (let round = 0; round <= MAX_ROUNDS && frontier.length > 0; round++) {
    const added: Resource[] = [];
    for (const inc of query.includes) {
      if (round > 0 && !inc.iterate) continue;
      // An include reads the references of its source type; a revinclude finds what points at its target type.
      const from = inc.reverse ? inc.def.target : inc.source.type;
      const ids = [...new Set(frontier.filter((r) => r.resourceType === from).map((r) => r.id as string))];
      if (ids.length === 0) continue;
      for (const resource of await follow(q, inc, ids, targetOf)) {
        if (seen.has(keyOf(resource))) continue;
        seen.add(keyOf(resource));
        added.push(resource);
      }
    }
    included.push(...added);
    frontier = added;
  }
  return included;
}

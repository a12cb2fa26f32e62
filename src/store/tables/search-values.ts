/** The `search_values` column of the directory tables: rows not indexed yet, and their values once computed. */
import type { Resource } from '@medplum/fhirtypes';
import type { Queryable } from '../db.js';
import { raw, run, sql } from '../sql.js';
import type { TableInfo } from './versions.js';

/** Up to `limit` current versions of rows whose `search_values` are not computed yet (NULL). */
export async function rowsWithoutSearchValues(q: Queryable, info: TableInfo, limit: number): Promise<{ id: string; content: Resource }[]> {
  const { rows } = await run<{ id: string; content: Resource }>(
    q,
    sql`SELECT t.id, h.content FROM ${raw(info.table)} t
        JOIN resource_history h ON h.resource_type = ${info.type} AND h.id = t.id AND h.version = t.version
        WHERE t.search_values IS NULL ORDER BY t.id LIMIT ${limit}`
  );
  return rows;
}

/** Stores computed `search_values` (an id → values list). */
export async function storeSearchValues(q: Queryable, info: TableInfo, values: { id: string; json: unknown }[]): Promise<void> {
  if (values.length === 0) return;
  await run(
    q,
    sql`UPDATE ${raw(info.table)} t SET search_values = v.values
        FROM unnest(${values.map((v) => v.id)}::text[], ${values.map((v) => JSON.stringify(v.json))}::jsonb[]) AS v(id, values)
        WHERE t.id = v.id AND t.search_values IS NULL`
  );
}

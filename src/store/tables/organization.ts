/** The `organization` table: one row per structure of the directory (EJ, EG). */
import type { Queryable } from '../db.js';
import { run, shared, sql } from '../sql.js';
import type { Columns } from './versions.js';

/** The domain columns of `organization` (beside id, version, last_updated) and their SQL types. */
export const ORGANIZATION_COLUMNS = {
  active: 'bool',
  name: 'text',
  name_sort: 'text',
  part_of: 'text',
  type_codes: 'text[]',
  postal_codes: 'text[]',
  source_updated_at: 'timestamptz',
  tags: 'text[]',
  region: 'text',
  national_keys: 'text[]',
  search_values: 'jsonb',
} as const satisfies Columns;

/** Every key of the organizations named by these identifier values of one system (themselves when not in the directory). */
export async function organizationKeysByIdentifier(q: Queryable, system: string, values: readonly string[]): Promise<Map<string, string[]>> {
  const { rows } = await run<{ value: string; keys: string[] }>(q, sql`SELECT f AS value, organization_keys(${system}, f) AS keys FROM unnest(${values}::text[]) AS f`, { prepare: true });
  return new Map(rows.map((r) => [r.value, r.keys]));
}

/**
 * The directory Organization(s) one key names (an id, or an identifier's
 * system and value), each with every identifier it has, `system|value`.
 */
export async function organizationsNamed(q: Queryable, key: { id: string } | { system: string; value: string }): Promise<{ id: string; keys: string[] | null }[]> {
  const id = shared('id' in key ? key.id : null);
  const { rows } = await run<{ id: string; keys: string[] | null }>(
    q,
    sql`WITH o AS (
       SELECT ${id}::text AS id WHERE ${id}::text IS NOT NULL
       UNION SELECT resource_id FROM resource_identifier WHERE ${id}::text IS NULL AND resource_type = 'Organization' AND value = ${'value' in key ? key.value : ''} AND system = ${'system' in key ? key.system : ''}
     )
     SELECT o.id, (SELECT array_agg(i.system || '|' || i.value) FROM resource_identifier i WHERE i.resource_type = 'Organization' AND i.resource_id = o.id AND i.system <> '') AS keys FROM o`,
    { prepare: true }
  );
  return rows;
}

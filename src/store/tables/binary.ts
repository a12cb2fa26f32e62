/** The `binary_content` table: one row per Binary (its content is in `blob`, by hash). */
import type { Queryable } from '../db.js';
import { run, sql, type SqlFragment } from '../sql.js';
import type { Columns } from './versions.js';

/** The domain columns of `binary_content` (beside id, version, last_updated) and their SQL types. */
export const BINARY_COLUMNS = {
  content_type: 'text',
  blob_hash: 'text',
  size: 'int8',
  owner_org: 'text',
} as const satisfies Columns;

/** The Binaries among `ids` that `owned` holds for (alias `t`), with their content type. */
export async function binariesAmong(q: Queryable, ids: readonly string[], owned: SqlFragment): Promise<{ id: string; content_type: string }[]> {
  if (ids.length === 0) return [];
  const { rows } = await run<{ id: string; content_type: string }>(q, sql`SELECT t.id, t.content_type FROM binary_content t WHERE t.id = ANY(${ids}::text[]) AND ${owned}`);
  return rows;
}

/** Where a Binary's content is: its type, size, and parts in `blob_part` (undefined: no such Binary). */
export async function binaryContent(q: Queryable, id: string): Promise<{ contentType: string; size: number; storeId: string; parts: number } | undefined> {
  const { rows } = await run<{ content_type: string; size: string; store_id: string; parts: number }>(
    q,
    sql`SELECT t.content_type, b.size, b.store_id::text, b.parts FROM binary_content t JOIN blob b ON b.hash = t.blob_hash WHERE t.id = ${id}`,
    { prepare: true }
  );
  const row = rows[0];
  return row ? { contentType: row.content_type, size: Number(row.size), storeId: row.store_id, parts: row.parts } : undefined;
}

/** The `binary_content` table: one row per Binary (its content is in `blob`, by hash). */
import type { Queryable } from '../db.js';
import { run, sql, trusted, type SqlFragment } from '../sql.js';
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

/** The content of a Binary: its hash, size and type (undefined: no such row). */
export async function binaryContent(q: Queryable, id: string): Promise<{ hash: string; size: number; contentType: string } | undefined> {
  const { rows } = await run<{ blob_hash: string; size: string; content_type: string }>(q, sql`SELECT blob_hash, size, content_type FROM binary_content WHERE id = ${id}`, { prepare: true });
  return rows[0] ? { hash: rows[0].blob_hash, size: Number(rows[0].size), contentType: rows[0].content_type } : undefined;
}

/**
 * Documents or consents (`sdo_document` or `sdo_consent` rows, alias
 * `alias`) the organization `key` reads beyond its own: those of a decision
 * it is party to, and those a request cites (`cited`: the request's column
 * of them) that it sent or received.
 */
export function documentReadBy(alias: string, key: string, cited: 'document_ids' | 'consent_ids' = 'document_ids'): SqlFragment {
  const d = trusted(alias);
  return sql`(${d}.party_keys @> ARRAY[${key}]::text[]
    OR EXISTS (SELECT 1 FROM referral r JOIN task x ON x.referral_id = r.id
                WHERE r.module = 'referral' AND r.${trusted(cited)} @> ARRAY[${d}.id] AND (x.owner_keys @> ARRAY[${key}]::text[] OR r.requester_keys @> ARRAY[${key}]::text[])))`;
}

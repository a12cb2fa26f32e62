/** The `volet` table: one row per QuestionnaireResponse (a volet of an admission request). */
import type { Queryable } from '../db.js';
import { run, sql } from '../sql.js';
import type { Columns } from './versions.js';

/** The domain columns of `volet` (beside id, version, last_updated) and their SQL types. */
export const VOLET_COLUMNS = {
  volet: 'text',
  status: 'text',
  patient_id: 'text',
  author_keys: 'text[]',
  care_wanted: 'text',
} as const satisfies Columns;

/**
 * Whether the organization of `key` may change a volet: it wrote it, or it
 * is the requester of a request the volet was written for (one sharing a key
 * with its authors, should the organization be known under another since).
 */
export async function mayChangeVolet(q: Queryable, id: string, key: string): Promise<boolean> {
  const { rows } = await run<{ ok: boolean }>(
    q,
    sql`SELECT v.author_keys @> ARRAY[${key}]::text[]
               OR EXISTS (SELECT 1 FROM referral r WHERE r.module = 'referral' AND r.volet_ids @> ARRAY[v.id] AND r.requester_keys @> ARRAY[${key}]::text[] AND r.requester_keys && v.author_keys) AS ok
          FROM volet v WHERE v.id = ${id}`
  );
  return rows[0]?.ok === true;
}

/** The `patient` table: one row per Patient (and per person of an orientation decision). */
import type { Queryable } from '../db.js';
import { run, sql, type SqlFragment } from '../sql.js';
import type { Columns } from './versions.js';

/** The domain columns of `patient` (beside id, version, last_updated) and their SQL types. */
export const PATIENT_COLUMNS = {
  active: 'bool',
  family: 'text[]',
  given: 'text[]',
  name_words: 'text[]',
  name_sort: 'text',
  gender: 'text',
  birth_date_low: 'date',
  birth_date_high: 'date',
  owner_org: 'text',
} as const satisfies Columns;

/** Whether a patient exists and `visible` (on alias `t`) holds for it. */
export async function patientVisible(q: Queryable, id: string, visible: SqlFragment): Promise<boolean> {
  const { rows } = await run<{ found: boolean }>(q, sql`SELECT EXISTS (SELECT 1 FROM patient t WHERE t.id = ${id} AND ${visible}) AS found`, { prepare: true });
  return rows[0].found;
}

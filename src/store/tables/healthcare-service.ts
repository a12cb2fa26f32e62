/** The `healthcare_service` table: one row per unit of the directory (the ROR "offre"). */
import type { Queryable } from '../db.js';
import { run, sql, type SqlFragment } from '../sql.js';
import type { Columns } from './versions.js';

/** The domain columns of `healthcare_service` (beside id, version, last_updated) and their SQL types. */
export const HEALTHCARE_SERVICE_COLUMNS = {
  active: 'bool',
  name: 'text',
  name_sort: 'text',
  organization_id: 'text',
  location_ids: 'text[]',
  category_codes: 'text[]',
  type_codes: 'text[]',
  specialty_codes: 'text[]',
  characteristic_codes: 'text[]',
  age_low: 'numeric',
  age_high: 'numeric',
  source_updated_at: 'timestamptz',
  tags: 'text[]',
  region: 'text',
  national_keys: 'text[]',
  search_values: 'jsonb',
} as const satisfies Columns;

/** What a target check reads of a unit and its organization. */
export interface TargetRow {
  id: string;
  active: boolean | null;
  organization_id: string | null;
  org_found: boolean;
  org_active: boolean | null;
  /** The unit's `type` tokens (system|code): its field of activity. */
  type_codes: string[];
}

/** The rows a target check reads, one per unit found (a statement to embed in a larger one). */
export function targetRows(serviceIds: readonly string[]): SqlFragment {
  return sql`SELECT s.id, s.active, s.organization_id, o.id IS NOT NULL AS org_found, o.active AS org_active, s.type_codes
       FROM healthcare_service s LEFT JOIN organization o ON o.id = s.organization_id
      WHERE s.id = ANY(${serviceIds}::text[])`;
}

/** The target rows of these units. */
export async function selectTargetRows(q: Queryable, serviceIds: readonly string[]): Promise<TargetRow[]> {
  return (await run<TargetRow>(q, targetRows(serviceIds))).rows;
}

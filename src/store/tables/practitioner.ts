/** The `practitioner` and `practitioner_role` tables: the professionals of the directory (ROR) and their situations. */
import type { Columns } from './versions.js';

/** The domain columns of `practitioner` (beside id, version, last_updated) and their SQL types. */
export const PRACTITIONER_COLUMNS = {
  active: 'bool',
  name: 'text',
  name_sort: 'text',
  source_updated_at: 'timestamptz',
  tags: 'text[]',
  region: 'text',
  national_keys: 'text[]',
  search_values: 'jsonb',
} as const satisfies Columns;

/** The domain columns of `practitioner_role` (beside id, version, last_updated) and their SQL types. */
export const PRACTITIONER_ROLE_COLUMNS = {
  active: 'bool',
  practitioner_id: 'text',
  organization_id: 'text',
  service_ids: 'text[]',
  location_ids: 'text[]',
  source_updated_at: 'timestamptz',
  tags: 'text[]',
  region: 'text',
  national_keys: 'text[]',
  search_values: 'jsonb',
} as const satisfies Columns;

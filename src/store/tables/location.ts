/** The `location` table: one row per place of the directory. */
import type { Columns } from './versions.js';

/** The domain columns of `location` (beside id, version, last_updated) and their SQL types. */
export const LOCATION_COLUMNS = {
  status: 'text',
  name: 'text',
  name_sort: 'text',
  organization_id: 'text',
  type_codes: 'text[]',
  postal_code: 'text',
  city: 'text',
  commune_cog: 'text',
  latitude: 'float8',
  longitude: 'float8',
  capacities: 'jsonb',
  source_updated_at: 'timestamptz',
  tags: 'text[]',
  region: 'text',
  national_keys: 'text[]',
  search_values: 'jsonb',
} as const satisfies Columns;

/** The `questionnaire` table: the ROR's instruction sheets ("fiches de consignes"). */
import type { Columns } from './versions.js';

/** The domain columns of `questionnaire` (beside id, version, last_updated) and their SQL types. */
export const QUESTIONNAIRE_COLUMNS = {
  status: 'text',
  name: 'text',
  name_sort: 'text',
  source_updated_at: 'timestamptz',
  tags: 'text[]',
  region: 'text',
  national_keys: 'text[]',
  search_values: 'jsonb',
} as const satisfies Columns;

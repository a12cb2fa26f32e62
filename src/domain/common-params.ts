/** Search parameters and role groups several resource types declare alike. */
import type { Resource } from '@medplum/fhirtypes';
import type { Row } from '../../mappings/resource-rows.js';
import { searchValues, type ExpressionParam } from '../../mappings/search-values.js';
import type { ExpressionValueType, SearchParamDef } from '../core/search/model.js';
import type { AccessRule } from './kind.js';
import type { Role } from '../core/principal.js';

export const FHIR_SP = 'http://hl7.org/fhir/SearchParameter/';
export const ROR_SP = 'https://interop.esante.gouv.fr/ig/fhir/ror/SearchParameter/';

/** `_id`, `_lastUpdated` and `identifier`, which every type has. */
export const COMMON_PARAMS: readonly SearchParamDef[] = [
  { code: '_id', type: 'token', kind: 'id', definition: `${FHIR_SP}Resource-id`, documentation: 'Logical id (comma-separated: any of)', sort: 't.id' },
  { code: '_lastUpdated', type: 'date', kind: 'last-updated', definition: `${FHIR_SP}Resource-lastUpdated`, documentation: 'When the resource last changed (eq, ne, gt, lt, ge, le, sa, eb)', sort: 't.last_updated' },
  { code: 'identifier', type: 'token', kind: 'identifier', documentation: 'Business identifier: system|value, value, |value or system| (FINESS http/https both accepted)' },
];

/** The `name` of a directory type: contains, as the ROR server matches. */
export const NAME_PARAM = (what: string): SearchParamDef => ({
  code: 'name',
  type: 'string',
  kind: 'string',
  column: 'name_sort',
  exactColumn: 'name',
  match: 'contains',
  documentation: `${what} name: accent- and case-insensitive, contains (as the ROR server); :exact for the exact name`,
  sort: "coalesce(t.name_sort, '')",
});

/** A token parameter over a `text[]` column of `system|code` and `code` values. */
export const token = (code: string, column: string, documentation: string, definition?: string): SearchParamDef => ({
  code,
  type: 'token',
  kind: 'token-array',
  column,
  documentation,
  ...(definition ? { definition } : {}),
});

export const TAG_PARAM = token('_tag', 'tags', 'A tag of meta.tag, e.g. the ROR region (TRE_R30) code', `${FHIR_SP}Resource-tag`);

export const ACTIVE_PARAM: SearchParamDef = { code: 'active', type: 'token', kind: 'boolean', column: 'active', documentation: 'true or false' };

/** The directory: read by anyone, written by the ROR (or admin). */
export const DIRECTORY_ACCESS: AccessRule = { read: 'public', write: ['ror', 'admin'] };

/** Roles that take part in admission requests. */
export const REFERRAL_ROLES: readonly Role[] = ['prescriber', 'care-team', 'admin-social', 'non-medical-manager', 'portal', 'receiver', 'admin'];
/** …and in orientation decisions, which share ServiceRequest and Task. */
export const REQUEST_ROLES: readonly Role[] = [...REFERRAL_ROLES, 'mdph', 'esms'];

/** A parameter defined by a FHIRPath expression over the resource (kept in `search_values`). */
export const expression = (
  code: string,
  type: SearchParamDef['type'],
  values: ExpressionValueType,
  fhirPath: string,
  documentation: string,
  definition?: string
): SearchParamDef => ({ code, type, kind: 'expression', expression: fhirPath, values, documentation, ...(definition ? { definition } : {}) });

/** A kind's row mapping plus its `search_values` column, computed from its expression parameters. */
export function withSearchValues<T extends Resource>(toRow: (resource: T) => Row, params: readonly SearchParamDef[]): (resource: T) => Row {
  const computed = params.filter((p): p is ExpressionParam & SearchParamDef => p.kind === 'expression');
  return (resource) => ({ ...toRow(resource), search_values: { json: searchValues(resource, computed) } });
}

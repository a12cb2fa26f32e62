/** Organization: legal entities (EJ) and sites (EG) of the directory (ROR guide), upserted on their national identifiers. */
import type { Organization } from '@medplum/fhirtypes';
import { organizationRow } from '../../../mappings/resource-rows.js';
import type { SearchParamDef } from '../../core/search/model.js';
import { ACTIVE_PARAM, COMMON_PARAMS, DIRECTORY_ACCESS, FHIR_SP, NAME_PARAM, TAG_PARAM, token, withSearchValues } from '../common-params.js';
import { ROR_ORGANIZATION_PARAMS } from './ror-params.js';
import { ORGANIZATION_COLUMNS } from '../../store/tables/organization.js';
import type { ResourceKind } from '../kind.js';

const PARAMS: readonly SearchParamDef[] = [
  ...COMMON_PARAMS,
  NAME_PARAM('Organization'),
  ACTIVE_PARAM,
  { code: 'partof', type: 'reference', kind: 'reference', column: 'part_of', target: 'Organization', documentation: 'The legal entity (EJ) a site (EG) belongs to' },
  token('type', 'type_codes', 'Organization type, e.g. establishment category (TRE_R66)', `${FHIR_SP}Organization-type`),
  { code: 'address-postalcode', type: 'string', kind: 'string-array', column: 'postal_codes', documentation: 'Postal code of an address, starts-with', definition: `${FHIR_SP}Organization-address-postalcode` },
  ...ROR_ORGANIZATION_PARAMS,
  TAG_PARAM,
];

export const ORGANIZATION: ResourceKind<Organization> = {
  type: 'Organization',
  columns: ORGANIZATION_COLUMNS,
  table: 'organization',
  toRow: withSearchValues(organizationRow, PARAMS),
  profiles: [],
  searchParams: PARAMS,
  includes: [{ param: 'partof', target: 'Organization', column: 'part_of', array: false }],
  access: DIRECTORY_ACCESS,
  patientData: false,
  subscribable: false,
  clientIds: true,
  upsertOnNationalKeys: true,
};

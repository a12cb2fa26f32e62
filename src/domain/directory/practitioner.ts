/** Practitioner and PractitionerRole: the professionals of the directory (ROR) and their situations in its offers, upserted on their national identifiers. */
import type { Practitioner, PractitionerRole } from '@medplum/fhirtypes';
import { practitionerRoleRow, practitionerRow } from '../../../mappings/resource-rows.js';
import type { SearchParamDef } from '../../core/search/model.js';
import { PRACTITIONER_COLUMNS, PRACTITIONER_ROLE_COLUMNS } from '../../store/tables/practitioner.js';
import { ACTIVE_PARAM, COMMON_PARAMS, DIRECTORY_ACCESS, FHIR_SP, NAME_PARAM, TAG_PARAM, withSearchValues } from '../common-params.js';
import type { ResourceKind } from '../kind.js';

const PRACTITIONER_PARAMS: readonly SearchParamDef[] = [...COMMON_PARAMS, NAME_PARAM('Practitioner'), ACTIVE_PARAM, TAG_PARAM];

/** Practitioner (ROR professionals). */
export const PRACTITIONER: ResourceKind<Practitioner> = {
  type: 'Practitioner',
  columns: PRACTITIONER_COLUMNS,
  table: 'practitioner',
  toRow: withSearchValues(practitionerRow, PRACTITIONER_PARAMS),
  profiles: [],
  searchParams: PRACTITIONER_PARAMS,
  includes: [],
  access: DIRECTORY_ACCESS,
  patientData: false,
  subscribable: false,
  clientIds: true,
  upsertOnNationalKeys: true,
};

const ROLE_PARAMS: readonly SearchParamDef[] = [
  ...COMMON_PARAMS,
  ACTIVE_PARAM,
  { code: 'practitioner', type: 'reference', kind: 'reference', column: 'practitioner_id', target: 'Practitioner', documentation: 'The professional', definition: `${FHIR_SP}PractitionerRole-practitioner` },
  { code: 'organization', type: 'reference', kind: 'reference', column: 'organization_id', target: 'Organization', documentation: 'The organization where the role is held', definition: `${FHIR_SP}PractitionerRole-organization` },
  { code: 'service', type: 'reference', kind: 'reference-array', column: 'service_ids', target: 'HealthcareService', documentation: 'An offer (HealthcareService) the role is held in', definition: `${FHIR_SP}PractitionerRole-service` },
  { code: 'location', type: 'reference', kind: 'reference-array', column: 'location_ids', target: 'Location', documentation: 'A place where the role is held', definition: `${FHIR_SP}PractitionerRole-location` },
  TAG_PARAM,
];

/** PractitionerRole (ROR situations of professionals in offers). */
export const PRACTITIONER_ROLE: ResourceKind<PractitionerRole> = {
  type: 'PractitionerRole',
  columns: PRACTITIONER_ROLE_COLUMNS,
  table: 'practitioner_role',
  toRow: withSearchValues(practitionerRoleRow, ROLE_PARAMS),
  profiles: [],
  searchParams: ROLE_PARAMS,
  includes: [
    { param: 'practitioner', target: 'Practitioner', column: 'practitioner_id', array: false },
    { param: 'organization', target: 'Organization', column: 'organization_id', array: false },
    { param: 'service', target: 'HealthcareService', column: 'service_ids', array: true },
    { param: 'location', target: 'Location', column: 'location_ids', array: true },
  ],
  access: DIRECTORY_ACCESS,
  patientData: false,
  subscribable: false,
  clientIds: true,
  upsertOnNationalKeys: true,
};

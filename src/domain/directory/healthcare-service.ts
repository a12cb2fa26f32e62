/** HealthcareService: the units (the ROR "offre") that requests and decisions target. */
import type { HealthcareService } from '@medplum/fhirtypes';
import { healthcareServiceRow } from '../../../mappings/resource-rows.js';
import type { SearchParamDef } from '../../core/search/model.js';
import { ACTIVE_PARAM, COMMON_PARAMS, DIRECTORY_ACCESS, FHIR_SP, NAME_PARAM, ROR_SP, TAG_PARAM, token, withSearchValues } from '../common-params.js';
import { ROR_HEALTHCARE_SERVICE_PARAMS } from './ror-params.js';
import { HEALTHCARE_SERVICE_COLUMNS } from '../../store/tables/healthcare-service.js';
import type { ResourceKind } from '../kind.js';

const PARAMS: readonly SearchParamDef[] = [
  ...COMMON_PARAMS,
  NAME_PARAM('Unit'),
  ACTIVE_PARAM,
  { code: 'organization', type: 'reference', kind: 'reference', column: 'organization_id', target: 'Organization', documentation: 'The organization providing the service' },
  { code: 'location', type: 'reference', kind: 'reference-array', column: 'location_ids', target: 'Location', documentation: 'A place where the service is provided' },
  token('service-category', 'category_codes', 'Category of the offer (TRE_R244 CategorieOrganisation)', `${FHIR_SP}HealthcareService-service-category`),
  token('service-type', 'type_codes', 'Field of activity (TRE_R227 ChampActivite)', `${FHIR_SP}HealthcareService-service-type`),
  token('specialty', 'specialty_codes', 'Operational activity (TRE_R211 ActiviteOperationnelle)', `${FHIR_SP}HealthcareService-specialty`),
  token('characteristic', 'characteristic_codes', 'Characteristics, e.g. mode of care (TRE_R213)', `${FHIR_SP}HealthcareService-characteristic`),
  {
    code: 'age-range-low',
    type: 'quantity',
    kind: 'quantity',
    column: 'age_low',
    unit: 'years',
    definition: `${ROR_SP}ror-sp-healthcareservice-age-range-low`,
    documentation: 'Lowest age of the public taken, in years (units a, mo, wk, d accepted). A patient aged N: age-range-low=leN&age-range-high=geN',
  },
  {
    code: 'age-range-high',
    type: 'quantity',
    kind: 'quantity',
    column: 'age_high',
    unit: 'years',
    definition: `${ROR_SP}ror-sp-healthcareservice-age-range-high`,
    documentation: 'Highest age of the public taken, in years',
  },
  ...ROR_HEALTHCARE_SERVICE_PARAMS,
  TAG_PARAM,
];

export const HEALTHCARE_SERVICE: ResourceKind<HealthcareService> = {
  type: 'HealthcareService',
  columns: HEALTHCARE_SERVICE_COLUMNS,
  table: 'healthcare_service',
  toRow: withSearchValues(healthcareServiceRow, PARAMS),
  profiles: [],
  searchParams: PARAMS,
  // Task:focus, which the ROR also declares, is not here: the gateway's Tasks focus on admission requests, never on a unit.
  revIncludes: ['PractitionerRole:service'],
  includes: [
    { param: 'organization', target: 'Organization', column: 'organization_id', array: false },
    { param: 'location', target: 'Location', column: 'location_ids', array: true },
  ],
  access: DIRECTORY_ACCESS,
  patientData: false,
  subscribable: false,
  clientIds: true,
  upsertOnNationalKeys: true,
};

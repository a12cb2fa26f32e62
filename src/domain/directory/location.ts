/** Location: the places of the directory (address, position, capacities). */
import type { Location } from '@medplum/fhirtypes';
import { locationRow } from '../../../mappings/resource-rows.js';
import type { SearchParamDef } from '../../core/search/model.js';
import { COMMON_PARAMS, DIRECTORY_ACCESS, FHIR_SP, NAME_PARAM, ROR_SP, TAG_PARAM, token, withSearchValues } from '../common-params.js';
import { ROR_LOCATION_PARAMS } from './ror-params.js';
import { LOCATION_COLUMNS } from '../../store/tables/location.js';
import type { ResourceKind } from '../kind.js';

const PARAMS: readonly SearchParamDef[] = [
  ...COMMON_PARAMS,
  NAME_PARAM('Location'),
  { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'active | suspended | inactive' },
  { code: 'organization', type: 'reference', kind: 'reference', column: 'organization_id', target: 'Organization', documentation: 'The organization managing the place' },
  {
    code: 'near',
    type: 'special',
    kind: 'near',
    latitude: 'latitude',
    longitude: 'longitude',
    definition: `${FHIR_SP}Location-near`,
    documentation: 'latitude|longitude|distance|unit (km, m or [mi_i]; 50 km when no distance): places within that great-circle distance',
  },
  { code: 'address-postalcode', type: 'string', kind: 'string', column: 'postal_code', documentation: 'Postal code, starts-with', definition: `${FHIR_SP}Location-address-postalcode` },
  { code: 'address-city', type: 'string', kind: 'string', column: 'city', documentation: 'City, accent- and case-insensitive starts-with', definition: `${FHIR_SP}Location-address-city` },
  { code: 'commune-cog', type: 'token', kind: 'code', column: 'commune_cog', documentation: 'Official geographic code (COG, TRE_R13) of the commune', definition: `${ROR_SP}ror-sp-location-commune-cog` },
  token('type', 'type_codes', 'Function of the place (TRE_R343 FonctionLieu)', `${FHIR_SP}Location-type`),
  {
    code: 'near-insee-code',
    type: 'special',
    kind: 'near-commune',
    commune: 'commune_cog',
    latitude: 'latitude',
    longitude: 'longitude',
    definition: `${ROR_SP}ror-sp-location-near-insee-code`,
    documentation:
      'INSEE (COG) code of a commune|distance|unit (km, m or [mi_i]; 50 km when no distance): places within that distance of the commune. The commune is placed at the mean position of the directory’s places in it (their commune-cog): a commune without any positioned place matches nothing',
  },
  ...ROR_LOCATION_PARAMS,
  TAG_PARAM,
];

export const LOCATION: ResourceKind<Location> = {
  type: 'Location',
  columns: LOCATION_COLUMNS,
  table: 'location',
  toRow: withSearchValues(locationRow, PARAMS),
  profiles: [],
  searchParams: PARAMS,
  revIncludes: ['HealthcareService:location'],
  includes: [{ param: 'organization', target: 'Organization', column: 'organization_id', array: false }],
  access: DIRECTORY_ACCESS,
  patientData: false,
  subscribable: false,
  clientIds: true,
  upsertOnNationalKeys: true,
};

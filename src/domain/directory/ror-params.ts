/**
 * The ROR guide's own search parameters (ans.fhir.fr.ror 0.7.0
 * SearchParameter definitions), each evaluated with the guide's FHIRPath
 * expression over its extensions. Three departures, each a defect of the
 * published definitions:
 * - the guide casts several values `.as(code)` where its extensions type
 *   them CodeableConcept (ror-location-supported-capacity): the cast is left
 *   out, and a token matches codes, Codings and CodeableConcepts alike;
 * - `special-price` reads `dependencyLevel` in the guide (a copy of
 *   price-dependency-level): it reads `specialPrice`, which its name and
 *   description ("condition tarifaire") mean;
 * - `price-validity-start-date` reads an extension `ror-organization` that
 *   does not exist: it reads `startDate` of ror-organization-price.
 */
import type { SearchParamDef } from '../../core/search/model.js';
import { expression, ROR_SP } from '../common-params.js';

const SD = 'https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/';

const capacity = (part: string): string => `Location.extension.where(url='${SD}ror-location-supported-capacity').extension.where(url='${part}').value`;
const price = (part: string): string => `Organization.extension.where(url='${SD}ror-organization-price').extension.where(url='${part}').value`;

/** ROR parameters of Location: capacities, equipment, housing, operational status. */
export const ROR_LOCATION_PARAMS: readonly SearchParamDef[] = [
  expression('operational-status', 'token', 'token', 'Location.operationalStatus', 'Operational status: temporarily or permanently closed (v2-0116)', 'http://hl7.org/fhir/SearchParameter/Location-operational-status'),
  expression('capacity-status', 'token', 'token', capacity('capacityStatus'), 'Status of a capacity (JDV_J188)', `${ROR_SP}ror-sp-capacity-status`),
  expression('nb-capacity', 'number', 'number', capacity('nbCapacity'), 'Number of beds or places of a capacity ([prefix]number)', `${ROR_SP}ror-sp-nb-capacity`),
  expression('additional-bed-type', 'token', 'token', capacity('additionalBedType'), 'Type of additional beds of a capacity (JDV_J192)', `${ROR_SP}ror-sp-additional-bed-type`),
  expression('capacity-closing-type', 'token', 'token', capacity('capacityClosingType'), 'Type of closing of a capacity (JDV_J191)', `${ROR_SP}ror-sp-capacity-closing-type`),
  expression('capacity-type', 'token', 'token', capacity('capacityType'), 'Nature of a capacity (JDV_J187)', `${ROR_SP}ror-sp-capacity-type`),
  expression('capacity-update-date', 'date', 'date', capacity('capacityUpdateDate'), 'When a capacity was updated at its source (eq, ne, gt, lt, ge, le, sa, eb, ap)', `${ROR_SP}ror-sp-capacity-update-date`),
  expression('crisis-type', 'token', 'token', capacity('crisisType'), 'Type of crisis an additional capacity is for (JDV_J194)', `${ROR_SP}ror-sp-crisis-type`),
  expression('gender-capacity-available', 'token', 'token', capacity('genderCapacityAvailable'), 'Gender a capacity is available for (JDV_J190)', `${ROR_SP}ror-sp-gender-capacity-available`),
  expression('temporality-capacity', 'token', 'token', capacity('temporalityCapacity'), 'When a capacity is effective (JDV_J189)', `${ROR_SP}ror-sp-temporality-capacity`),
  expression('temporary-assignement', 'token', 'token', capacity('temporaryAssignement'), 'Temporary assignment of a capacity (JDV_J195)', `${ROR_SP}ror-sp-temporary-assignement`),
  expression('equipment-type', 'token', 'token', `Location.extension.where(url='${SD}ror-location-equipment').extension.where(url='equipmentType').value`, 'Type of a specific equipment', `${ROR_SP}ror-sp-equipment-type`),
  expression('equipment-feature', 'token', 'token', `Location.extension.where(url='${SD}ror-location-equipment-limit').extension.where(url='equipmentFeature').value`, 'Feature of an equipment that has a limit value', `${ROR_SP}ror-sp-equipment-feature`),
  expression('limit-value', 'quantity', 'quantity', `Location.extension.where(url='${SD}ror-location-equipment-limit').extension.where(url='limitValue').value`, 'Limit value of an equipment feature ([prefix]number[|system|code])', `${ROR_SP}ror-sp-limit-value`),
  expression('residential-number', 'number', 'number', `Location.extension.where(url='${SD}ror-location-residential-capacity').extension.where(url='residentialNumber').value`, 'Number of dwellings of a type ([prefix]number)', `${ROR_SP}ror-sp-residential-number`),
  expression('residential-type', 'token', 'token', `Location.extension.where(url='${SD}ror-location-residential-capacity').extension.where(url='residentialType').value`, 'Type of dwelling (JDV_J32)', `${ROR_SP}ror-sp-residential-type`),
];

/** ROR parameters of HealthcareService: intervention zone, public, psychiatric sector, closing period. */
export const ROR_HEALTHCARE_SERVICE_PARAMS: readonly SearchParamDef[] = [
  expression('intervention-zone', 'token', 'token', `HealthcareService.extension.where(url='${SD}ror-territorial-division').extension.where(url='codeTerritorialDivision').value`, 'Code of a territory of the intervention zone', `${ROR_SP}ror-sp-healthcareservice-intervention-zone`),
  expression('patient-type', 'token', 'token', `HealthcareService.extension.where(url='${SD}ror-healthcareservice-patient-type').extension.where(url='supportedPatientInfo').value`, 'Type of public taken in charge (JDV_J28)', `${ROR_SP}ror-sp-healthcareservice-patient-type`),
  expression('psychiatric-sector', 'string', 'string', `HealthcareService.extension.where(url='${SD}ror-healthcareservice-psychiatric-sector').value`, 'Psychiatric sector of the offer: accent- and case-insensitive starts-with; :contains, :exact', `${ROR_SP}ror-sp-healthcareservice-psychiatric-sector`),
  expression(
    'notavailable-closing-reopeningdate',
    'date',
    'date',
    "HealthcareService.notAvailable.where(id='closingReopeningDate').during",
    'A date within the closing period (during.start) to the planned reopening (during.end)',
    `${ROR_SP}ror-sp-healthcareservice-notavailable-closing-reopeningdate`
  ),
];

/** ROR parameters of Organization: closing, drop zone, prices. */
export const ROR_ORGANIZATION_PARAMS: readonly SearchParamDef[] = [
  expression('closing-type', 'token', 'token', `Organization.extension.where(url='${SD}ror-organization-closing-type').value`, 'Type of closing of the site, as FINESS rules say', `${ROR_SP}ror-sp-organization-closing-type`),
  expression('drop-zone', 'token', 'token', `Organization.extension.where(url='${SD}ror-organization-drop-zone').value`, 'Whether the site has a drop zone (true or false)', `${ROR_SP}ror-sp-organization-drop-zone`),
  expression('period-end', 'date', 'date', "Organization.extension.where(url='http://hl7.org/fhir/StructureDefinition/organization-period').value.end", 'Closing date of the site', `${ROR_SP}ror-sp-organization-period-end`),
  expression('price-amount-value', 'number', 'number', `${price('amount')}.value`, 'Amount of a price ([prefix]number)', `${ROR_SP}ror-sp-organization-price-amount-value`),
  expression('price-dependency-level', 'token', 'token', price('dependencyLevel'), 'Dependency level a price is for (JDV_J27)', `${ROR_SP}ror-sp-organization-price-dependency-level`),
  expression('price-residential-type', 'token', 'token', price('residentialType'), 'Type of housing a price is for (JDV_J32)', `${ROR_SP}ror-sp-organization-price-residential-type`),
  expression('price-type', 'token', 'token', price('priceType'), 'Type of price (JDV_J36)', `${ROR_SP}ror-sp-organization-price-type`),
  expression('price-unit', 'token', 'token', price('priceUnit'), 'Unit a price is given for (JDV_J205)', `${ROR_SP}ror-sp-organization-price-unit`),
  expression('price-validity-start-date', 'date', 'date', price('startDate'), 'Start of validity of a price', `${ROR_SP}ror-sp-organization-price-validity-start-date`),
  expression('price-welcome-type', 'token', 'token', price('welcomeType'), 'Permanent or temporary stay a price is for (JDV_J30)', `${ROR_SP}ror-sp-organization-price-welcome-type`),
  expression('special-price', 'token', 'token', price('specialPrice'), 'Price condition (JDV_J39)', `${ROR_SP}ror-sp-organization-special-price`),
];

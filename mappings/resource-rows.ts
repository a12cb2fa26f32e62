/**
 * FHIR resources → rows of the domain tables (pure). Each function returns
 * the domain columns of its table; the FHIR rendering itself goes to the
 * history table unchanged, so nothing the sender wrote is lost.
 */
import type { HealthcareService, HumanName, Identifier, Location, Organization, Patient, Practitioner, PractitionerRole, Questionnaire } from '@medplum/fhirtypes';
import { dateRange } from './fhir-date.js';
import { canonicalSystem } from './identifier-systems.js';
import { ageRange, capacities, codeTokens, communeCog, nationalKeys, regionOf, tagTokens } from './ror.js';
import { referenceId } from './reference.js';
import { normalizeText } from './text.js';

/** A jsonb column's value. */
export interface JsonColumn {
  json: unknown;
}

/** A row of a domain table: column name → value. */
export type Row = Record<string, string | number | boolean | null | string[] | JsonColumn>;

/** (system, value) pairs of a resource's identifiers, systems canonicalised, duplicates dropped. */
export function identifierKeys(identifiers: Identifier[] | undefined): { system: string; value: string }[] {
  const seen = new Set<string>();
  const keys: { system: string; value: string }[] = [];
  for (const identifier of identifiers ?? []) {
    if (!identifier.value) continue;
    const system = canonicalSystem(identifier.system);
    const key = `${system}|${identifier.value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    keys.push({ system, value: identifier.value });
  }
  return keys;
}

function present<T>(values: (T | null | undefined)[]): T[] {
  return values.filter((v): v is T => v !== null && v !== undefined);
}

/** Patient → `patient` columns (the owner is set by the domain, not by the sender). */
export function patientRow(patient: Patient): Row {
  const names = patient.name ?? [];
  const official = names.find((n) => n.use === 'official') ?? names[0];
  const birth = patient.birthDate ? dateRange(patient.birthDate) : undefined;
  const family = present(names.map((n) => (n.family ? normalizeText(n.family) : null)));
  const given = present(names.flatMap((n) => (n.given ?? []).map(normalizeText)));
  const words = [...family, ...given, ...names.flatMap((n) => (n.text ? [normalizeText(n.text)] : []))].flatMap((w) => w.split(/[\s-]+/));
  return {
    active: patient.active ?? null,
    family,
    given,
    name_words: [...new Set([...family, ...given, ...words])],
    name_sort: official ? normalizeText([official.family, ...(official.given ?? [])].filter(Boolean).join(' ')) || null : null,
    gender: patient.gender ?? null,
    birth_date_low: birth?.low ?? null,
    birth_date_high: birth?.high ?? null,
  };
}

/** Columns every directory table has: the sender's own last update (ROR pushes), its tags and region, its national keys. */
function directoryColumns(resource: Organization | HealthcareService | Location | Practitioner | PractitionerRole | Questionnaire): Row {
  const sourceUpdated = resource.meta?.lastUpdated ? Date.parse(resource.meta.lastUpdated) : NaN;
  return {
    source_updated_at: Number.isNaN(sourceUpdated) ? null : new Date(sourceUpdated).toISOString(),
    tags: tagTokens(resource.meta),
    region: regionOf(resource.meta),
    national_keys: nationalKeys(resource),
  };
}

/** Organization (EJ or EG) → `organization` columns. */
export function organizationRow(organization: Organization): Row {
  return {
    active: organization.active ?? null,
    name: organization.name ?? null,
    name_sort: organization.name ? normalizeText(organization.name) : null,
    part_of: referenceId(organization.partOf, 'Organization'),
    type_codes: codeTokens(organization.type),
    postal_codes: present((organization.address ?? []).map((a) => a.postalCode)),
    ...directoryColumns(organization),
  };
}

/** HealthcareService (unit, ROR offer) → `healthcare_service` columns. */
export function healthcareServiceRow(service: HealthcareService): Row {
  const ages = ageRange(service);
  return {
    active: service.active ?? null,
    name: service.name ?? null,
    name_sort: service.name ? normalizeText(service.name) : null,
    organization_id: referenceId(service.providedBy, 'Organization'),
    location_ids: present((service.location ?? []).map((l) => referenceId(l, 'Location'))),
    category_codes: codeTokens(service.category),
    type_codes: codeTokens(service.type),
    specialty_codes: codeTokens(service.specialty),
    characteristic_codes: codeTokens(service.characteristic),
    age_low: ages.low,
    age_high: ages.high,
    ...directoryColumns(service),
  };
}

/** Location (place) → `location` columns. */
export function locationRow(location: Location): Row {
  return {
    status: location.status ?? null,
    name: location.name ?? null,
    name_sort: location.name ? normalizeText(location.name) : null,
    organization_id: referenceId(location.managingOrganization, 'Organization'),
    type_codes: codeTokens(location.type),
    postal_code: location.address?.postalCode ?? null,
    city: location.address?.city ? normalizeText(location.address.city) : null,
    commune_cog: communeCog(location),
    latitude: location.position?.latitude ?? null,
    longitude: location.position?.longitude ?? null,
    capacities: { json: capacities(location) },
    ...directoryColumns(location),
  };
}

function humanName(name: HumanName | undefined): string | null {
  if (!name) return null;
  return name.text ?? ([...(name.prefix ?? []), ...(name.given ?? []), name.family].filter(Boolean).join(' ') || null);
}

/** Practitioner (ROR professional) → `practitioner` columns. */
export function practitionerRow(practitioner: Practitioner): Row {
  const name = humanName(practitioner.name?.find((n) => n.use === 'official') ?? practitioner.name?.[0]);
  return {
    active: practitioner.active ?? null,
    name,
    name_sort: name ? normalizeText(name) : null,
    ...directoryColumns(practitioner),
  };
}

/** PractitionerRole (ROR situation of a professional in an offer) → `practitioner_role` columns. */
export function practitionerRoleRow(role: PractitionerRole): Row {
  return {
    active: role.active ?? null,
    practitioner_id: referenceId(role.practitioner, 'Practitioner'),
    organization_id: referenceId(role.organization, 'Organization'),
    service_ids: present((role.healthcareService ?? []).map((s) => referenceId(s, 'HealthcareService'))),
    location_ids: present((role.location ?? []).map((l) => referenceId(l, 'Location'))),
    ...directoryColumns(role),
  };
}

/** Questionnaire (ROR instruction sheet) → `questionnaire` columns (its other parameters are FHIRPath ones). */
export function questionnaireRow(questionnaire: Questionnaire): Row {
  return {
    status: questionnaire.status ?? null,
    name: questionnaire.name ?? null,
    name_sort: questionnaire.name ? normalizeText(questionnaire.name) : null,
    ...directoryColumns(questionnaire),
  };
}

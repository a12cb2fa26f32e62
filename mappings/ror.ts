/**
 * The ROR guide's vocabulary (declarative) and the pure readings of ROR
 * resources the domain needs: coded values as search tokens, the public's
 * age range, the region tag, capacities, and the national keys that make a
 * re-push an update instead of a duplicate.
 */
import type { CodeableConcept, Extension, HealthcareService, Identifier, Location, Meta, Organization, Resource } from '@medplum/fhirtypes';
import { canonicalSystem, SYSTEMS } from './identifier-systems.js';

const ROR_SD = 'https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/';

/** Extension URLs of the ROR guide that the gateway reads. */
export const ROR_EXTENSIONS = {
  patientType: `${ROR_SD}ror-healthcareservice-patient-type`,
  communeCog: `${ROR_SD}ror-commune-cog`,
  locationCommuneCog: `${ROR_SD}ror-location-commune-cog`,
  supportedCapacity: `${ROR_SD}ror-location-supported-capacity`,
} as const;

/** Code systems of the national nomenclatures (MOS/NOS) the gateway reads. */
export const ROR_SYSTEMS = {
  region: 'https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM',
  offerIdentifierType: 'https://mos.esante.gouv.fr/NOS/TRE_R355-TypeIdentifiantOffre/FHIR/TRE-R355-TypeIdentifiantOffre',
  ucum: 'https://mos.esante.gouv.fr/NOS/TRE_R247-UcumUniteMesure/FHIR/TRE-R247-UcumUniteMesure',
} as const;

/** The ROR offer identifier type (TRE_R355 code 35: "identifiant fonctionnel de l'offre"). */
const OFFER_ID_TYPE = '35';

/** Ages are kept in years; the units the ROR uses for them, as a fraction of a year. */
const AGE_UNITS: Record<string, number> = { a: 1, ann: 1, 'a_j': 1, mo: 1 / 12, wk: 7 / 365.25, d: 1 / 365.25, j: 1 / 365.25 };

/** Search tokens of coded values: `system|code` and the bare `code`, for `token` search. */
export function codeTokens(concepts: (CodeableConcept | undefined)[] | undefined): string[] {
  const tokens = new Set<string>();
  for (const concept of concepts ?? []) {
    for (const coding of concept?.coding ?? []) {
      if (!coding.code) continue;
      tokens.add(coding.code);
      if (coding.system) tokens.add(`${coding.system}|${coding.code}`);
    }
  }
  return [...tokens];
}

/** Search tokens of `meta.tag` (e.g. the ROR region). */
export function tagTokens(meta: Meta | undefined): string[] {
  return codeTokens((meta?.tag ?? []).map((coding) => ({ coding: [coding] })));
}

/** The ROR region code (TRE_R30) of a resource's tags, if any. */
export function regionOf(meta: Meta | undefined): string | null {
  return meta?.tag?.find((t) => t.system === ROR_SYSTEMS.region)?.code ?? null;
}

function extension(resource: { extension?: Extension[] }, url: string): Extension | undefined {
  return resource.extension?.find((e) => e.url === url);
}

/** An age quantity in years, or undefined when absent or in an unknown unit. */
export function ageInYears(quantity: { value?: number; code?: string; unit?: string } | undefined): number | undefined {
  if (quantity?.value === undefined) return undefined;
  const factor = AGE_UNITS[quantity.code ?? quantity.unit ?? 'a'];
  return factor === undefined ? undefined : quantity.value * factor;
}

/** The age range of the public a unit takes (ror-healthcareservice-patient-type / ageRange), in years. */
export function ageRange(service: HealthcareService): { low: number | null; high: number | null } {
  let low: number | undefined;
  let high: number | undefined;
  for (const patientType of (service.extension ?? []).filter((e) => e.url === ROR_EXTENSIONS.patientType)) {
    const range = patientType.extension?.find((e) => e.url === 'ageRange')?.valueRange;
    const l = ageInYears(range?.low);
    const h = ageInYears(range?.high);
    // Several publics: the unit takes the union of their ranges.
    if (range?.low) low = l === undefined ? low : low === undefined ? l : Math.min(low, l);
    if (range?.high) high = h === undefined ? high : high === undefined ? h : Math.max(high, h);
  }
  return { low: low ?? null, high: high ?? null };
}

/** The commune (COG code, TRE_R13) of a Location. */
export function communeCog(location: Location): string | null {
  const ext = extension(location, ROR_EXTENSIONS.communeCog) ?? extension(location, ROR_EXTENSIONS.locationCommuneCog);
  return ext?.valueCodeableConcept?.coding?.[0]?.code ?? ext?.valueCoding?.code ?? null;
}

/** One capacity record of a Location (places or beds of a nature, status and temporality). */
export interface Capacity {
  type: string | null;
  status: string | null;
  temporality: string | null;
  count: number;
  updated: string | null;
}

/** The capacities of a Location (ror-location-supported-capacity). */
export function capacities(location: Location): Capacity[] {
  const out: Capacity[] = [];
  for (const ext of (location.extension ?? []).filter((e) => e.url === ROR_EXTENSIONS.supportedCapacity)) {
    const part = (url: string): Extension | undefined => ext.extension?.find((e) => e.url === url);
    const code = (url: string): string | null => part(url)?.valueCodeableConcept?.coding?.[0]?.code ?? null;
    const count = part('nbCapacity')?.valueInteger;
    if (count === undefined) continue;
    out.push({ type: code('capacityType'), status: code('capacityStatus'), temporality: code('temporalityCapacity'), count, updated: part('capacityUpdateDate')?.valueDateTime ?? null });
  }
  return out;
}

function identifierKey(identifier: Identifier): string | undefined {
  if (!identifier.value) return undefined;
  const isOfferId = identifier.type?.coding?.some((c) => c.code === OFFER_ID_TYPE && (!c.system || c.system.includes('TRE_R355')));
  if (isOfferId) return `ror-offer|${identifier.value}`;
  if (!identifier.system) return undefined;
  return `${canonicalSystem(identifier.system)}|${identifier.value}`;
}

/**
 * The national keys of a directory resource: FINESS and idNat_Struct for an
 * Organization, the ROR offer id (TRE_R355 type 35, often sent without a
 * system) for a HealthcareService, system-qualified identifiers for a
 * Location. A push carrying a key already held by a stored resource updates
 * that resource.
 */
export function nationalKeys(resource: Resource): string[] {
  const identifiers = (resource as Organization | HealthcareService | Location).identifier ?? [];
  const keys = identifiers.map(identifierKey).filter((k): k is string => !!k);
  if (resource.resourceType === 'Organization') {
    return keys.filter((k) => k.startsWith(`${SYSTEMS.finess}|`) || k.startsWith(`${SYSTEMS.idNatStruct}|`));
  }
  return [...new Set(keys)];
}

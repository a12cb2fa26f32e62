/**
 * The patient's agreement to an orientation (seed 002: "Orientation en
 * accord avec le patient ou de sa personne de confiance"; seed 003: minors
 * and protected adults), as a pure rule over a Consent and its Patient.
 *
 * Who gives it depends on the patient's situation on the day of the
 * consent:
 * - a minor (under 18): a holder of parental authority (a parent) or the
 *   minor's legal guardian, never the minor alone;
 * - an adult under a protection measure with representation (tutelle: a
 *   contact of the patient is their guardian or legal representative):
 *   that representative;
 * - any other adult: the patient, or their trusted person ("personne de
 *   confiance") when they cannot express it. Under curatelle or
 *   sauvegarde de justice the patient consents, assisted.
 *
 * The giver is `Consent.performer[0]`: the Patient itself, or a contained
 * RelatedPerson (`#id`) whose relationship says who they are (FR Core's
 * contact relationships, HL7 v3 RoleCode and the ANS tables TRE_R216 and
 * TRE_R260, by code).
 */
import type { CodeableConcept, Consent, Patient, RelatedPerson } from '@medplum/fhirtypes';
import { parseReference } from './reference.js';

/** The code systems whose relationship codes are read (FR Core, HL7 v3 and their ANS copies). */
export const RELATIONSHIP_SYSTEMS: readonly string[] = [
  'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-contact-relationship',
  'http://terminology.hl7.org/CodeSystem/v3-RoleCode',
  'https://mos.esante.gouv.fr/NOS/TRE_R216-HL7RoleCode/FHIR/TRE-R216-HL7RoleCode',
  'https://mos.esante.gouv.fr/NOS/TRE_R260-HL7RoleClass/FHIR/TRE-R260-HL7RoleClass',
];

/** Who a relationship makes someone, for consent. */
export const RELATIONSHIPS: Readonly<Record<string, 'parent' | 'representative' | 'trusted' | 'assistant'>> = {
  // Parents (HL7 v3 RoleCode, TRE_R216).
  PRN: 'parent',
  MTH: 'parent',
  FTH: 'parent',
  NPRN: 'parent',
  NMTH: 'parent',
  NFTH: 'parent',
  // Legal guardian or representative (FR Core: tuteur, dépositaire de la tutelle, représentant légal; HL7: guardian).
  GRD: 'representative',
  WRD: 'representative',
  CUR: 'representative',
  GUARD: 'representative',
  // Trusted person (FR Core: personne de confiance).
  K: 'trusted',
  // Curatelle, sauvegarde de justice: the patient acts, assisted.
  CURTL: 'assistant',
  SVG: 'assistant',
};

type Role = (typeof RELATIONSHIPS)[string];

function rolesOf(concepts: readonly CodeableConcept[] | undefined): Set<Role> {
  const roles = new Set<Role>();
  for (const concept of concepts ?? []) {
    for (const coding of concept.coding ?? []) {
      const role = coding.code && RELATIONSHIP_SYSTEMS.includes(coding.system ?? '') ? RELATIONSHIPS[coding.code] : undefined;
      if (role) roles.add(role);
    }
  }
  return roles;
}

/** Whether the patient is a minor on `day` (YYYY-MM-DD); unknown birth date: not known to be one. */
function isMinor(patient: Patient, day: string): boolean {
  const birth = patient.birthDate;
  if (!birth || birth.length < 10) return false;
  const adult = `${String(Number(birth.slice(0, 4)) + 18).padStart(4, '0')}${birth.slice(4, 10)}`;
  return day < adult;
}

/** Whether the patient is under a protection measure with representation (a contact is their guardian or legal representative). */
export function isRepresented(patient: Patient): boolean {
  return (patient.contact ?? []).some((c) => rolesOf(c.relationship).has('representative'));
}

/** Who gave a consent: the patient, or the roles of the contained RelatedPerson it names (undefined: neither). */
function giver(consent: Consent, patientId: string): 'patient' | Set<Role> | undefined {
  const reference = consent.performer?.[0]?.reference;
  if (!reference) return undefined;
  if (reference.startsWith('#')) {
    const related = (consent.contained ?? []).find((r) => r.resourceType === 'RelatedPerson' && r.id === reference.slice(1)) as RelatedPerson | undefined;
    if (!related || parseReference(related.patient?.reference)?.id !== patientId) return undefined;
    return rolesOf(related.relationship);
  }
  const target = parseReference(reference);
  return target?.type === 'Patient' && target.id === patientId ? 'patient' : undefined;
}

/**
 * Why a consent does not agree to the orientation of `patient` (undefined:
 * it does). `today` (YYYY-MM-DD) dates a consent that gives no dateTime.
 */
export function consentProblem(consent: Consent, patient: Patient, today: string): string | undefined {
  const patientId = patient.id as string;
  if (consent.status !== 'active') return `it is ${consent.status}, not active`;
  if (parseReference(consent.patient?.reference)?.id !== patientId) return 'it is not about the request’s patient';
  if (consent.provision?.type === 'deny') return 'it refuses (provision.type deny)';
  const who = giver(consent, patientId);
  if (!who) return 'it does not say who gave it: performer is the Patient, or a contained RelatedPerson (#id) of the patient with their relationship';
  const day = (consent.dateTime ?? today).slice(0, 10);
  if (isMinor(patient, day)) {
    if (who !== 'patient' && (who.has('parent') || who.has('representative'))) return undefined;
    return 'the patient is a minor: a parent or the legal guardian agrees, not the minor alone';
  }
  if (isRepresented(patient)) {
    if (who !== 'patient' && who.has('representative')) return undefined;
    return 'the patient is under a protection measure with representation: their guardian or legal representative agrees';
  }
  if (who === 'patient' || who.has('trusted')) return undefined;
  return 'an adult agrees for themselves, or through their trusted person (personne de confiance)';
}

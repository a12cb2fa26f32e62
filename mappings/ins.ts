/**
 * The INS (Identité Nationale de Santé) a Patient carries, checked as the
 * national rules define it (pure).
 *
 * - Structure and key: an INS-NIR or INS-NIA is 15 characters: sex (1, 2,
 *   or 3, 4, 7, 8 for temporary numbers), year, month, department (two digits,
 *   or 2A/2B for Corsica), commune, order number, then a key of two digits:
 *   97 minus the first 13 characters, read as a number, modulo 97 (2A read as
 *   19 and 2B as 18). A key that does not match is a typing error: such a
 *   number names someone else, or no one.
 * - Identity reliability (FR Core `fr-core-identity-reliability`, its
 *   `identityStatus`): the RNIV's four statuses (provisional, retrieved,
 *   validated, qualified) in FR Core's `fr-core-cs-identity-status` (PROV,
 *   RECUP, VALI, QUAL), or the HL7 v2 table 0445 as FR Core carries it
 *   (`fr-core-cs-v2-0445`), where VALI is the status of an identity whose INS
 *   was retrieved and checked (FR Core invariant fr-core-1: VALI implies the
 *   INS in force).
 * - "Le matricule INS ne peut être véhiculé que dans le cas d'une identité
 *   qualifiée" (FR Core Patient INS): an INS in force (`use` official, or
 *   temp for an INS-NIA) is accepted only on a qualified identity. A former
 *   INS (`use` old) may stay on any identity.
 */
import type { Coding, Patient } from '@medplum/fhirtypes';
import { SYSTEMS } from './identifier-systems.js';

/** The FR Core extension carrying an identity's reliability. */
export const IDENTITY_RELIABILITY_URL = 'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability';
/** FR Core's code system of the RNIV statuses. */
export const IDENTITY_STATUS_SYSTEM = 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status';
/** FR Core's HL7 v2 table 0445, and the older name of the same table. */
export const V2_0445_SYSTEMS: readonly string[] = ['https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445', 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-fiabilite-identite'];

/** The INS systems: INS-NIR, INS-NIA, and the NIR of test and demonstration identities (FR Core Patient INS slices). */
export const INS_SYSTEMS: readonly string[] = [SYSTEMS.insNir, SYSTEMS.insNia, 'urn:oid:1.2.250.1.213.1.4.10', 'urn:oid:1.2.250.1.213.1.4.11'];

/** The RNIV statuses in FR Core's code system, in the order an identity earns them. */
export const IDENTITY_STATUSES = {
  PROV: 'Identité provisoire',
  RECUP: 'Identité récupérée',
  VALI: 'Identité validée',
  QUAL: 'Identité qualifiée',
} as const;

const STRUCTURE = /^([1-478][0-9]{4})(2[AB]|[0-9]{2})([0-9]{6})([0-9]{2})$/;

/** The key of an INS from its first 13 characters (2A read as 19, 2B as 18); undefined when they are not an INS's. */
export function insKey(first13: string): number | undefined {
  const match = /^([1-478][0-9]{4})(2A|2B|[0-9]{2})([0-9]{6})$/.exec(first13);
  if (!match) return undefined;
  const department = match[2] === '2A' ? '19' : match[2] === '2B' ? '18' : match[2];
  return 97 - (Number(`${match[1]}${department}${match[3]}`) % 97);
}

/** Why a value is not an INS (structure or key), or undefined when it is one. */
export function insValueProblem(value: string): string | undefined {
  const match = STRUCTURE.exec(value);
  if (!match) return 'an INS is 15 characters: sex (1-4, 7, 8), year, month, department (digits, or 2A/2B), commune, order number and a two-digit key';
  const expected = insKey(value.slice(0, 13)) as number;
  const key = Number(match[4]);
  if (key !== expected) return `the INS key is ${match[4]} where its first 13 characters give ${String(expected).padStart(2, '0')}: the number is mistyped (a wrong INS names someone else, or no one)`;
  return undefined;
}

/** The identity status a Patient declares (FR Core identityReliability), if any. */
export function identityStatus(patient: Patient): Coding | undefined {
  for (const extension of patient.extension ?? []) {
    if (extension.url !== IDENTITY_RELIABILITY_URL) continue;
    const status = extension.extension?.find((e) => e.url === 'identityStatus')?.valueCoding;
    if (status) return status;
  }
  return undefined;
}

/** Whether a declared status is the one of a qualified identity (QUAL, or VALI of table 0445 as FR Core uses it). */
export function isQualified(status: Coding | undefined): boolean {
  if (!status?.system) return false;
  if (status.system === IDENTITY_STATUS_SYSTEM) return status.code === 'QUAL';
  return V2_0445_SYSTEMS.includes(status.system) && status.code === 'VALI';
}

/** A problem with a Patient's INS or identity status: where (FHIRPath) and why. */
export interface InsProblem {
  expression: string;
  message: string;
}

/** The problems with a Patient's INS and identity status (empty when none). */
export function insProblems(patient: Patient): InsProblem[] {
  const problems: InsProblem[] = [];
  const status = identityStatus(patient);
  if (status) {
    // Table 0445's codes beyond VALI (doublons, collisions…) are the sender's; only the RNIV system's four are checked.
    const known = status.system === IDENTITY_STATUS_SYSTEM ? status.code !== undefined && Object.hasOwn(IDENTITY_STATUSES, status.code) : V2_0445_SYSTEMS.includes(status.system ?? '') && !!status.code;
    if (!known) {
      const where = patient.extension?.findIndex((e) => e.url === IDENTITY_RELIABILITY_URL) ?? 0;
      problems.push({
        expression: `Patient.extension[${where}].extension.where(url = 'identityStatus').valueCoding`,
        message: `identity status ${status.system ?? '(no system)'}|${status.code ?? '(no code)'} is not one FR Core knows: use ${IDENTITY_STATUS_SYSTEM} (${Object.keys(IDENTITY_STATUSES).join(', ')}) or ${V2_0445_SYSTEMS[0]}`,
      });
    }
  }
  const qualified = isQualified(status);
  (patient.identifier ?? []).forEach((identifier, i) => {
    if (!identifier.system || !INS_SYSTEMS.includes(identifier.system)) return;
    const problem = typeof identifier.value === 'string' ? insValueProblem(identifier.value) : undefined;
    if (problem) problems.push({ expression: `Patient.identifier[${i}].value`, message: problem });
    if (identifier.use !== 'old' && !qualified) {
      problems.push({
        expression: `Patient.identifier[${i}]`,
        message:
          'an INS is carried only on a qualified identity (FR Core Patient INS: "le matricule INS ne peut être véhiculé que dans le cas d\'une identité qualifiée"): ' +
          `declare the identity qualified (extension ${IDENTITY_RELIABILITY_URL}, identityStatus ${IDENTITY_STATUS_SYSTEM}|QUAL, or VALI of ${V2_0445_SYSTEMS[0]}) once it is, ` +
          'or leave the INS out (use old for a former INS)',
      });
    }
  });
  return problems;
}

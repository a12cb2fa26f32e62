/**
 * The pure mappings of an orientation decision to its FHIR resources
 * (Patient, ServiceRequest, one Task per targeted ESMS) and their ids.
 */
import { createHash } from 'node:crypto';
import type { Extension, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { CATEGORY_SYSTEM, DECISION_CATEGORY, EXT_CRETON, EXT_LEVEL_ESMS, EXT_LEVEL_PRO, FHIR_BASE, FINESS_SYSTEM, ID_DECISION_SYSTEM_PREFIX, ID_NAT_DECISION_SYSTEM, INDIVIDUAL_SYSTEM_PREFIX, MDPH_SYSTEM } from './codes.js';
import type { DecisionRow } from './file.js';
import { esmsStatusConcept } from './statuses.js';

function hash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 22).replace(/_/g, '.');
}

/**
 * Deterministic ids: a re-import finds what an earlier one wrote, and a
 * resumed chunk rewrites the same rows. They read as the MDPH's own numbers
 * (`d-59-D123`, `p-59-I456`, `t-59-D123-590000001`), which also keeps them in
 * the file's order in the indexes; a number with characters an id cannot
 * hold, or too long, is hashed instead, under another prefix (`dh-`, `th-`).
 */
export const decisionIds = {
  patient: (dept: string, individual: string): string => `p-${dept}-${individual}`,
  decision: (dept: string, idDecision: string): string => (/^[A-Za-z0-9.-]{1,45}$/.test(idDecision) ? `d-${dept}-${idDecision}` : `dh-${dept}-${hash(idDecision)}`),
  /** A decision's task for one ESMS (targeted or claiming: one task per decision and ESMS). */
  task: (decisionId: string, finess: string): string => `t${decisionId.slice(1)}-${finess}`,
};

/** Whether an id is an orientation decision's. */
export function isDecisionId(id: string | undefined): boolean {
  return /^dh?-/.test(id ?? '');
}

/** The national decision id the gateway assigns when the file has none (stable across re-imports). */
export function assignedNationalId(dept: string, idDecision: string): string {
  return `${dept}-${hash(idDecision).slice(0, 16)}`;
}

export function mdphKey(dept: string): string {
  return `${MDPH_SYSTEM}|${dept}`;
}

export function patientOf(dept: string, row: DecisionRow): Patient {
  return {
    resourceType: 'Patient',
    identifier: [{ system: `${INDIVIDUAL_SYSTEM_PREFIX}${dept}`, value: row.individual }],
    name: [{ use: 'official', family: row.family, given: [row.given] }],
    ...(row.gender ? { gender: row.gender } : {}),
    birthDate: row.birthDate,
  };
}

/** The decision as a ServiceRequest; `targets` are the FINESS of the ESMS it targets. */
export function decisionOf(dept: string, row: DecisionRow, patientId: string, targets: string[]): ServiceRequest {
  const extension: Extension[] = [{ url: EXT_CRETON, valueBoolean: row.creton }];
  if (row.levelEsms) extension.push({ url: EXT_LEVEL_ESMS, valueInteger: row.levelEsms });
  if (row.levelPro) extension.push({ url: EXT_LEVEL_PRO, valueInteger: row.levelPro });
  return {
    resourceType: 'ServiceRequest',
    extension,
    identifier: [
      { system: `${ID_DECISION_SYSTEM_PREFIX}${dept}`, value: row.idDecision },
      { system: ID_NAT_DECISION_SYSTEM, value: row.idNatDecision ?? assignedNationalId(dept, row.idDecision) },
    ],
    status: 'active',
    intent: 'order',
    category: [{ coding: [DECISION_CATEGORY] }],
    code: { coding: [{ system: CATEGORY_SYSTEM, code: row.category }] },
    subject: { reference: `Patient/${patientId}` },
    occurrencePeriod: { start: row.validFrom, end: row.validTo },
    requester: { type: 'Organization', identifier: { system: MDPH_SYSTEM, value: dept }, display: `MDPH ${dept}` },
    // A decision without target has no performer (R4 JSON has no empty arrays).
    ...(targets.length > 0 ? { performer: [...targets].sort().map((finess) => ({ type: 'Organization' as const, identifier: { system: FINESS_SYSTEM, value: finess } })) } : {}),
  };
}

/** The task of one targeted ESMS, at its first status. */
export function decisionTaskOf(decisionId: string, patientId: string, dept: string, finess: string, now: string, claimed = false): Task {
  return {
    resourceType: 'Task',
    ...(claimed ? { meta: { tag: [{ system: `${FHIR_BASE}/CodeSystem/decision-flag`, code: 'claimed', display: 'Notification déclarée par l’ESMS' }] } } : {}),
    status: 'requested',
    intent: 'order',
    businessStatus: esmsStatusConcept('39'),
    focus: { reference: `ServiceRequest/${decisionId}` },
    for: { reference: `Patient/${patientId}` },
    requester: { type: 'Organization', identifier: { system: MDPH_SYSTEM, value: dept } },
    owner: { type: 'Organization', identifier: { system: FINESS_SYSTEM, value: finess } },
    authoredOn: now,
    lastModified: now,
  };
}

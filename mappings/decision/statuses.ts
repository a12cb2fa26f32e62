/**
 * The ESMS-level statuses of a person (TRE_R357, JDV_J252), who may set
 * which, the groups the indicators count, and the validity alerts.
 */
import type { CodeableConcept, Task } from '@medplum/fhirtypes';
import { R357_SYSTEM } from './codes.js';

/** The ESMS-level statuses of a person (TRE_R357, JDV_J252), with who may set each. */
export const ESMS_STATUSES = {
  '39': { display: 'Notification envoyée', taskStatus: 'requested' },
  '40': { display: 'Lue', taskStatus: 'received' },
  '41': { display: 'Contact effectué', taskStatus: 'in-progress' },
  '42': { display: 'Liste d’attente – en cours d’analyse', taskStatus: 'in-progress' },
  '72': { display: 'Admissible', taskStatus: 'in-progress' },
  '71': { display: 'Admis', taskStatus: 'accepted' },
  '43': { display: 'Période d’essai', taskStatus: 'in-progress' },
  '44': { display: 'Essai non concluant', taskStatus: 'in-progress' },
  '45': { display: 'Admission impossible signalée', taskStatus: 'on-hold' },
  '46': { display: 'Admission impossible entérinée', taskStatus: 'rejected' },
  '47': { display: 'Usager entré', taskStatus: 'in-progress' },
  '48': { display: 'Usager sorti', taskStatus: 'completed' },
  '49': { display: 'Notification annulée', taskStatus: 'cancelled' },
  '51': { display: 'Demande de réorientation', taskStatus: 'on-hold' },
  '54': { display: 'Notification réactivée', taskStatus: 'requested' },
  '37': { display: 'Décision annulée', taskStatus: 'cancelled' },
} as const satisfies Record<string, { display: string; taskStatus: Task['status'] }>;
export type EsmsStatus = keyof typeof ESMS_STATUSES;

export function isEsmsStatus(code: string | undefined): code is EsmsStatus {
  return code !== undefined && Object.hasOwn(ESMS_STATUSES, code);
}

/** Who sets a status: the targeted ESMS, or the decision's MDPH (46, 54, 37 are the MDPH's only). */
export type DecisionSide = 'esms' | 'mdph';

const OPEN_ESMS = ['39', '40', '41', '42', '72', '71', '43', '44', '47', '54'];

/** Where each side may move a decision's task from each status. */
export const DECISION_MOVES: Record<EsmsStatus, Partial<Record<DecisionSide, readonly EsmsStatus[]>>> = {
  '39': { esms: ['40', '41', '42', '45', '49', '51'], mdph: ['37'] },
  '40': { esms: ['41', '42', '45', '49', '51'], mdph: ['37'] },
  '41': { esms: ['42', '72', '45', '49', '51'], mdph: ['37'] },
  '42': { esms: ['41', '72', '71', '45', '49', '51'], mdph: ['37'] },
  '72': { esms: ['42', '71', '45', '49'], mdph: ['37'] },
  '71': { esms: ['43', '47', '45'], mdph: ['37'] },
  '43': { esms: ['44', '47'], mdph: ['37'] },
  '44': { esms: ['42', '45', '51'], mdph: ['37'] },
  '45': { mdph: ['46', '54', '37'] },
  '46': { mdph: ['54', '37'] },
  '47': { esms: ['48', '51'] },
  '48': { mdph: ['54'] },
  '49': { mdph: ['54', '37'] },
  '51': { mdph: ['54', '37'] },
  '54': { esms: ['40', '41', '42', '45', '49', '51'], mdph: ['37'] },
  '37': { mdph: ['54'] },
};

export function decisionMoves(from: EsmsStatus, side: DecisionSide): readonly EsmsStatus[] {
  return DECISION_MOVES[from][side] ?? [];
}

/** Statuses where the person waits on the ESMS's list (waiting-list indicators). */
export const WAITING_STATUSES: readonly EsmsStatus[] = ['42', '72'];
/** Statuses that mean an admission happened. */
export const ADMITTED_STATUSES: readonly EsmsStatus[] = ['71', '43', '47', '48'];
/** Statuses of an admission impossible. */
export const IMPOSSIBLE_STATUSES: readonly EsmsStatus[] = ['45', '46'];
export { OPEN_ESMS };

export function esmsStatusConcept(code: EsmsStatus): CodeableConcept {
  return { coding: [{ system: R357_SYSTEM, code, display: ESMS_STATUSES[code].display }] };
}

/** The status code of a Task: from TRE_R357 or JDV_J252 (any spelling of their systems). */
export function esmsStatusOf(task: Task): string | undefined {
  return task.businessStatus?.coding?.find((c) => /TRE_R357|JDV_J252/.test(c.system ?? ''))?.code;
}

/**
 * The colour codes that flag decisions nearing the end of their validity on
 * ESMS dashboards (seed 000: "des codes couleurs pour permettre d'identifier
 * rapidement les DO arrivant prochainement en fin de validité"). The seeds
 * give no thresholds; these are the gateway's, in days from today: red within
 * 30 days, orange within 90 (the indicators' horizon), green beyond, and
 * expired once the last day has passed. Searched with `validity-alert`.
 */
export const VALIDITY_ALERTS = {
  expired: { display: 'Validité échue', from: undefined, to: -1 },
  red: { display: 'Fin de validité dans 30 jours ou moins', from: 0, to: 30 },
  orange: { display: 'Fin de validité dans 31 à 90 jours', from: 31, to: 90 },
  green: { display: 'Fin de validité dans plus de 90 jours', from: 91, to: undefined },
} as const satisfies Record<string, { display: string; from: number | undefined; to: number | undefined }>;

export type ValidityAlert = keyof typeof VALIDITY_ALERTS;

export function isValidityAlert(code: string): code is ValidityAlert {
  return Object.hasOwn(VALIDITY_ALERTS, code);
}

/** The colour of a validity ending on `validTo` (YYYY-MM-DD), seen on `today`. */
export function validityAlertOf(validTo: string, today: string): ValidityAlert {
  const days = Math.round((Date.parse(`${validTo}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / 86_400_000);
  return (Object.keys(VALIDITY_ALERTS) as ValidityAlert[]).find((code) => {
    const { from, to } = VALIDITY_ALERTS[code];
    return (from === undefined || days >= from) && (to === undefined || days <= to);
  }) as ValidityAlert;
}

/**
 * The sections of an ESMS's or an MDPH's work list of decisions (issue 17):
 * notified (sent, read, reactivated), in contact, waiting list (on the list,
 * admissible), admitted (admitted, trial, entered), impossible (signalled,
 * confirmed), closed (left, notification or decision cancelled, reorientation
 * asked, trial failed).
 */
export const DECISION_SECTIONS = {
  notified: { label: 'Notifiées', statuses: ['39', '40', '54'] },
  contact: { label: 'Contact effectué', statuses: ['41'] },
  'waiting-list': { label: 'Liste d’attente', statuses: ['42', '72'] },
  admitted: { label: 'Admissions', statuses: ['71', '43', '47'] },
  impossible: { label: 'Admission impossible', statuses: ['45', '46'] },
  closed: { label: 'Closes', statuses: ['48', '49', '51', '37', '44'] },
} as const satisfies Record<string, { label: string; statuses: readonly EsmsStatus[] }>;
export type DecisionSection = keyof typeof DECISION_SECTIONS;

export function decisionSectionOf(status: string): DecisionSection | undefined {
  return (Object.keys(DECISION_SECTIONS) as DecisionSection[]).find((s) => (DECISION_SECTIONS[s].statuses as readonly string[]).includes(status));
}

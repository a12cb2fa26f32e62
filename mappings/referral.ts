/**
 * Admission requests (module Sanitaire), the declarative part: the gateway's
 * code systems, the status table of DESIGN.md with who may make each move,
 * the dashboard sections of seed 002, and the pure mappings of
 * ServiceRequest, Task, QuestionnaireResponse, Communication and
 * Subscription to their domain rows.
 */
import type { CodeableConcept, Communication, QuestionnaireResponse, Reference, ServiceRequest, Subscription, Task } from '@medplum/fhirtypes';
import type { Row } from './resource-rows.js';
import { codeTokens, tagTokens } from './ror.js';
import { careWantedOf } from './forms.js';
import { referenceId } from './reference.js';
import { subscriptionSettings } from './topics.js';

export const FHIR_BASE = 'https://aiguillage.org/fhir';
export const REFERRAL_STATUS_SYSTEM = `${FHIR_BASE}/CodeSystem/referral-status`;
export const REFERRAL_REASON_SYSTEM = `${FHIR_BASE}/CodeSystem/referral-reason`;
export const REFERRAL_FLAG_SYSTEM = `${FHIR_BASE}/CodeSystem/referral-flag`;
export const MESSAGE_CATEGORY_SYSTEM = `${FHIR_BASE}/CodeSystem/message-category`;

/** The task statuses of an admission request (`Task.businessStatus`). */
export const BUSINESS_STATUSES = ['sent', 'read', 'agreed-in-principle', 'accepted', 'confirmed', 'admitted', 'refused', 'cancelled'] as const;
export type BusinessStatus = (typeof BUSINESS_STATUSES)[number];

/** Which side of a request moves a task: the receiving unit, the prescriber, or the gateway itself. */
export type Side = 'unit' | 'prescriber';

interface StatusInfo {
  taskStatus: Task['status'];
  display: string;
  /** Where each side may move a task from this status. */
  next: Partial<Record<Side, readonly BusinessStatus[]>>;
}

/** The status table of DESIGN.md ("Admission requests"), labels from seed 002. */
export const STATUS_TABLE: Record<BusinessStatus, StatusInfo> = {
  sent: { taskStatus: 'requested', display: "Demande d'admission en attente de réponse", next: { unit: ['read', 'agreed-in-principle', 'accepted', 'refused'], prescriber: ['cancelled'] } },
  read: { taskStatus: 'received', display: "Demande d'admission lue", next: { unit: ['agreed-in-principle', 'accepted', 'refused'], prescriber: ['cancelled'] } },
  'agreed-in-principle': { taskStatus: 'accepted', display: 'Accord de principe', next: { unit: ['accepted', 'refused'], prescriber: ['cancelled'] } },
  accepted: { taskStatus: 'accepted', display: "Demande d'admission acceptée", next: { unit: ['refused'], prescriber: ['confirmed', 'cancelled'] } },
  // A confirmed date is frozen: the unit that must move it proposes another (a new acceptance), which the prescriber confirms again.
  confirmed: { taskStatus: 'in-progress', display: "Confirmation de la proposition d'accueil", next: { unit: ['admitted', 'accepted'], prescriber: ['cancelled'] } },
  admitted: { taskStatus: 'completed', display: "Demande d'admission finalisée – patient admis", next: {} },
  refused: { taskStatus: 'rejected', display: "Demande d'admission refusée", next: {} },
  cancelled: { taskStatus: 'cancelled', display: "Demande d'admission annulée", next: {} },
};

/** Statuses in which a task still waits for something (cancelled when the request is). */
export const OPEN_STATUSES: readonly BusinessStatus[] = ['sent', 'read', 'agreed-in-principle', 'accepted', 'confirmed'];

export function isBusinessStatus(code: string | undefined): code is BusinessStatus {
  return (BUSINESS_STATUSES as readonly string[]).includes(code ?? '');
}

/** The moves `side` may make from `from`. */
export function allowedMoves(from: BusinessStatus, side: Side): readonly BusinessStatus[] {
  return STATUS_TABLE[from].next[side] ?? [];
}

/** Reasons of a refusal or a cancellation. */
export const REASONS = {
  'other-unit-chosen': 'Autre unité choisie',
  'cancelled-by-prescriber': 'Annulée par le prescripteur',
  'automatic-cancellation': 'Annulation automatique',
  'no-place': 'Pas de place disponible',
  'not-eligible': 'Patient ne relevant pas de l’unité',
  'patient-declined': 'Refus du patient ou de sa famille',
} as const;
export type Reason = keyof typeof REASONS;

/** Reasons a side may give (the others are the gateway's). */
export const REASONS_BY_MOVE: Record<'refused' | 'cancelled', readonly Reason[]> = {
  refused: ['no-place', 'not-eligible', 'patient-declined'],
  cancelled: ['cancelled-by-prescriber', 'patient-declined'],
};

export function businessStatusConcept(status: BusinessStatus): CodeableConcept {
  return { coding: [{ system: REFERRAL_STATUS_SYSTEM, code: status, display: STATUS_TABLE[status].display }] };
}

export function reasonConcept(reason: Reason, text?: string): CodeableConcept {
  return { coding: [{ system: REFERRAL_REASON_SYSTEM, code: reason, display: REASONS[reason] }], ...(text ? { text } : {}) };
}

/** The business status code of a task, when it carries one of the gateway's. */
export function businessStatusOf(task: Task): string | undefined {
  return task.businessStatus?.coding?.find((c) => c.system === REFERRAL_STATUS_SYSTEM)?.code;
}

/** The reason code of a task's `statusReason`, when it carries one of the gateway's. */
export function reasonOf(task: Task): string | undefined {
  return task.statusReason?.coding?.find((c) => c.system === REFERRAL_REASON_SYSTEM)?.code;
}

/** The five sections of a dashboard (seed 002: "Organisation du TDB en 5 rubriques"). */
export const SECTIONS = ['in-progress', 'refused', 'admissions', 'archived', 'cancelled'] as const;
export type Section = (typeof SECTIONS)[number];

export const SECTION_LABELS: Record<Section, string> = {
  'in-progress': 'Demandes en cours',
  refused: 'Refusées',
  admissions: 'Admissions',
  archived: 'Archivées',
  cancelled: 'Annulées',
};

/** The section a task is shown in. */
export function sectionOf(status: BusinessStatus, archived: boolean): Section {
  if (archived) return 'archived';
  if (status === 'refused') return 'refused';
  if (status === 'admitted') return 'admissions';
  if (status === 'cancelled') return 'cancelled';
  return 'in-progress';
}

/** The volets of a request, by the canonical URL of their Questionnaire. */
export const VOLETS = {
  medical: `${FHIR_BASE}/Questionnaire/volet-medical`,
  care: `${FHIR_BASE}/Questionnaire/volet-soins`,
  administrative: `${FHIR_BASE}/Questionnaire/volet-administratif`,
} as const;
export type Volet = keyof typeof VOLETS;

/** Which volet a QuestionnaireResponse is (its `questionnaire`, version suffix ignored). */
export function voletOf(response: QuestionnaireResponse): Volet | undefined {
  const canonical = (response.questionnaire ?? '').split('|')[0];
  return (Object.keys(VOLETS) as Volet[]).find((v) => VOLETS[v] === canonical);
}

/** Statuses of a volet that mean "validated". */
export const VALIDATED_VOLET_STATUSES: readonly string[] = ['completed', 'amended'];

function patientId(reference: Reference | undefined): string | null {
  return referenceId(reference, 'Patient');
}

/** ServiceRequest → `referral` columns the sender decides (parties and deadlines are the domain's). */
export function serviceRequestRow(request: ServiceRequest): Row {
  return {
    status: request.status,
    patient_id: patientId(request.subject),
    requester_ref: request.requester?.reference ?? null,
    category_codes: codeTokens(request.category),
    performer_ids: (request.performer ?? []).map((p) => referenceId(p, 'HealthcareService')).filter((id): id is string => id !== null),
    volet_ids: (request.supportingInfo ?? []).map((p) => referenceId(p, 'QuestionnaireResponse')).filter((id): id is string => id !== null),
    document_ids: (request.supportingInfo ?? []).map((p) => referenceId(p, 'DocumentReference')).filter((id): id is string => id !== null),
    consent_ids: (request.supportingInfo ?? []).map((p) => referenceId(p, 'Consent')).filter((id): id is string => id !== null),
    authored_on: request.authoredOn ? new Date(request.authoredOn).toISOString() : null,
  };
}

/** Task → `task` columns read from the resource. */
export function taskRow(task: Task): Row {
  const status = businessStatusOf(task) ?? '';
  return {
    referral_id: referenceId(task.focus, 'ServiceRequest') ?? '',
    patient_id: patientId(task.for),
    owner_service_id: referenceId(task.owner, 'HealthcareService'),
    status: task.status,
    business_status: status,
    business_status_tokens: codeTokens(task.businessStatus ? [task.businessStatus] : []),
    tags: tagTokens(task.meta),
    archived: (task.meta?.tag ?? []).some((t) => t.system === REFERRAL_FLAG_SYSTEM && t.code === 'archived'),
  };
}

/** QuestionnaireResponse → `volet` columns. */
export function questionnaireResponseRow(response: QuestionnaireResponse): Row {
  const volet = voletOf(response) ?? '';
  return { volet, status: response.status, patient_id: patientId(response.subject), care_wanted: volet === 'medical' ? (careWantedOf(response.item) ?? null) : null };
}

/** Communication → `message` columns read from the resource. */
export function communicationRow(message: Communication): Row {
  return {
    task_id: (message.partOf ?? []).map((p) => referenceId(p, 'Task')).find((id) => id !== null) ?? null,
    sent: message.sent ? new Date(message.sent).toISOString() : null,
    received: message.received ? new Date(message.received).toISOString() : null,
    category_codes: codeTokens(message.category),
  };
}

/** Subscription → `subscription` columns. */
export function subscriptionRow(subscription: Subscription): Row {
  const settings = subscriptionSettings(subscription);
  return {
    status: subscription.status,
    criteria_type: settings.type ?? null,
    topic: settings.topic?.url ?? null,
    filters: settings.filters,
    content: settings.content,
    heartbeat_seconds: settings.heartbeatSeconds,
    channel: settings.channel || 'rest-hook',
    digest_seconds: settings.digestSeconds,
  };
}

/**
 * The registry: the one module that gathers every resource type's
 * declaration (with its rules) and every write listener. Nothing a rule
 * imports imports it back: rules reach the repository through the
 * `Repository` they are handed (kind.ts), so there is no import cycle.
 */
import { auditListener } from './audit/listener.js';
import { BINARY } from './document/binary.js';
import { CONSENT } from './document/consent.js';
import { DOCUMENT_REFERENCE } from './document/document-reference.js';
import { HEALTHCARE_SERVICE } from './directory/healthcare-service.js';
import { LOCATION } from './directory/location.js';
import { ORGANIZATION } from './directory/organization.js';
import { PRACTITIONER, PRACTITIONER_ROLE } from './directory/practitioner.js';
import { QUESTIONNAIRE } from './directory/questionnaire.js';
import type { ResourceKind, WriteListener } from './kind.js';
import { PATIENT } from './patient/patient.js';
import { deadlineListener } from './referral/deadlines.js';
import { COMMUNICATION } from './referral/message.js';
import { SERVICE_REQUEST } from './referral/service-request.js';
import { TASK } from './referral/task.js';
import { QUESTIONNAIRE_RESPONSE } from './referral/volet.js';
import { notificationListener } from './subscription/notifications.js';
import { SUBSCRIPTION } from './subscription/subscription.js';

/** The resource types the gateway stores, in CapabilityStatement order. */
const KINDS: readonly ResourceKind[] = [
  PATIENT,
  ORGANIZATION,
  HEALTHCARE_SERVICE,
  LOCATION,
  PRACTITIONER,
  PRACTITIONER_ROLE,
  QUESTIONNAIRE,
  SERVICE_REQUEST,
  TASK,
  QUESTIONNAIRE_RESPONSE,
  COMMUNICATION,
  DOCUMENT_REFERENCE,
  BINARY,
  CONSENT,
  SUBSCRIPTION,
];

const BY_TYPE: ReadonlyMap<string, ResourceKind> = new Map(KINDS.map((k) => [k.type, k]));

/**
 * What listens to every unit of work's events, in this order: notifications
 * and deadlines record their jobs, then the audit stores the unit's records
 * (the last, so that it stores whatever the others add to the trail).
 */
export const LISTENERS: readonly WriteListener[] = [notificationListener, deadlineListener, auditListener];

/** The declaration of a stored type, or undefined. */
export function kindOf(type: string): ResourceKind | undefined {
  return BY_TYPE.get(type);
}

/** Every stored type, in CapabilityStatement order. */
export function allKinds(): readonly ResourceKind[] {
  return KINDS;
}

/** Whether a type holds patient data (every interaction with it is audited). */
export function isPatientData(type: string): boolean {
  return BY_TYPE.get(type)?.patientData === true;
}

/** The `referral` table: one row per ServiceRequest (an admission request, or an orientation decision). */
import type { Consent, Patient } from '@medplum/fhirtypes';
import type { Queryable } from '../db.js';
import { run, sql, type SqlFragment } from '../sql.js';
import type { Columns } from './versions.js';
import { targetRows, type TargetRow } from './healthcare-service.js';

/** The domain columns of `referral` (beside id, version, last_updated) and their SQL types. */
export const REFERRAL_COLUMNS = {
  status: 'text',
  patient_id: 'text',
  requester_keys: 'text[]',
  requester_ref: 'text',
  category_codes: 'text[]',
  performer_ids: 'text[]',
  volet_ids: 'text[]',
  document_ids: 'text[]',
  consent_ids: 'text[]',
  authored_on: 'timestamptz',
  last_prescriber_action_at: 'timestamptz',
  reminder_sent_at: 'timestamptz',
  cancelled_at: 'timestamptz',
  archived: 'bool',
  module: 'text',
  department: 'text',
  individual: 'text',
  birth_date: 'date',
  esms_category: 'text',
  validity_start: 'date',
  validity_end: 'date',
  creton: 'bool',
  level_esms: 'int2',
  level_pro: 'int2',
} as const satisfies Columns;

/** Locks a request's row (the first lock of every writer of a request). */
export async function lockReferral(q: Queryable, id: string): Promise<void> {
  await run(q, sql`SELECT 1 FROM referral WHERE id = ${id} FOR UPDATE`, { prepare: true });
}

/** Locks the request of a task (before the task itself: the order every writer follows). */
export async function lockReferralOfTask(q: Queryable, taskId: string): Promise<void> {
  await run(q, sql`SELECT 1 FROM referral WHERE id = (SELECT referral_id FROM task WHERE id = ${taskId}) FOR UPDATE`, { prepare: true });
}

/** A request's requester and lifecycle (`lock`: FOR UPDATE). */
export async function referralState(q: Queryable, id: string, lock = false): Promise<{ requester_keys: string[]; archived: boolean; cancelled_at: Date | null } | undefined> {
  const { rows } = await run<{ requester_keys: string[]; archived: boolean; cancelled_at: Date | null }>(
    q,
    lock
      ? sql`SELECT requester_keys, archived, cancelled_at FROM referral WHERE id = ${id} FOR UPDATE`
      : sql`SELECT requester_keys, archived, cancelled_at FROM referral WHERE id = ${id}`
  );
  return rows[0];
}

/** Records the prescriber's last action on a request (deadlines count from it). */
export async function recordPrescriberAction(q: Queryable, id: string, at: string): Promise<void> {
  await run(q, sql`UPDATE referral SET last_prescriber_action_at = ${at} WHERE id = ${id}`);
}

/** Records a request's cancellation (archived some days later). */
export async function recordCancellation(q: Queryable, id: string, at: string): Promise<void> {
  await run(q, sql`UPDATE referral SET cancelled_at = ${at} WHERE id = ${id}`);
}

/** Undoes a cancellation: the request waits on its prescriber again. */
export async function recordReactivation(q: Queryable, id: string, at: string): Promise<void> {
  await run(q, sql`UPDATE referral SET cancelled_at = NULL, reminder_sent_at = NULL, last_prescriber_action_at = ${at} WHERE id = ${id}`);
}

/** Records the automatic reminder sent to a request's prescriber. */
export async function recordReminder(q: Queryable, id: string, at: string): Promise<void> {
  await run(q, sql`UPDATE referral SET reminder_sent_at = ${at} WHERE id = ${id}`);
}

/** Marks a request archived. */
export async function recordArchiving(q: Queryable, id: string): Promise<void> {
  await run(q, sql`UPDATE referral SET archived = true WHERE id = ${id}`);
}

/** What the deadlines of a request depend on, as stored. */
export interface DeadlineRow {
  status: string;
  archived: boolean;
  cancelled_at: Date | null;
  reminder_sent_at: Date | null;
  last_prescriber_action_at: Date | null;
  last_task_move: Date | null;
  accepted: boolean;
}

/** The state the deadlines of a request depend on, with its tasks' last move and whether one is accepted. */
export async function deadlineRow(q: Queryable, id: string): Promise<DeadlineRow | undefined> {
  const { rows } = await run<DeadlineRow>(
    q,
    sql`SELECT r.status, r.archived, r.cancelled_at, r.reminder_sent_at, r.last_prescriber_action_at,
               (SELECT max(t.status_since) FROM task t WHERE t.referral_id = r.id) AS last_task_move,
               EXISTS (SELECT 1 FROM task t WHERE t.referral_id = r.id AND t.business_status = 'accepted') AS accepted
          FROM referral r WHERE r.id = ${id}`,
    { prepare: true }
  );
  return rows[0];
}

/** A volet cited by a request: which one, and where it stands. */
export interface VoletRow {
  id: string;
  volet: string;
  status: string;
  /** The care a medical volet is written for. */
  care_wanted: string | null;
}

/** The checks of what a request points at, in one statement: its subject, its volets, documents and consents, its new units. */
export async function referenceChecks(
  q: Queryable,
  check: {
    subject: string;
    subjectVisible: SqlFragment;
    volets: readonly string[];
    voletsAllowed: SqlFragment;
    documents: readonly string[];
    consents: readonly string[];
    /** Documents and consents (alias `t`) the caller may cite. */
    documentsAllowed: SqlFragment;
    targets: readonly string[];
  }
): Promise<{ subject: boolean; volets: VoletRow[]; documents: string[]; consents: { id: string; content: Consent }[]; patient: Patient | null; targets: TargetRow[] }> {
  const { rows } = await run<{ subject: boolean; volets: VoletRow[]; documents: string[]; consents: { id: string; content: Consent }[]; patient: Patient | null; targets: TargetRow[] }>(
    q,
    sql`SELECT EXISTS (SELECT 1 FROM patient t WHERE t.id = ${check.subject} AND ${check.subjectVisible}) AS subject,
               (SELECT coalesce(json_agg(json_build_object('id', t.id, 'volet', t.volet, 'status', t.status, 'care_wanted', t.care_wanted)), '[]') FROM volet t
                 WHERE t.id = ANY(${check.volets}::text[]) AND t.patient_id = ${check.subject} AND ${check.voletsAllowed}) AS volets,
               (SELECT coalesce(json_agg(t.id), '[]') FROM sdo_document t
                 WHERE t.id = ANY(${check.documents}::text[]) AND t.patient_id = ${check.subject} AND ${check.documentsAllowed}) AS documents,
               -- Contents by key, row by row (a join would let a generic plan scan the history).
               (SELECT coalesce(json_agg(json_build_object('id', t.id, 'content',
                         (SELECT h.content FROM resource_history h WHERE h.resource_type = 'Consent' AND h.id = t.id AND h.version = t.version))), '[]')
                  FROM sdo_consent t
                 WHERE t.id = ANY(${check.consents}::text[]) AND t.patient_id = ${check.subject} AND ${check.documentsAllowed}) AS consents,
               (SELECT (SELECT h.content FROM resource_history h WHERE h.resource_type = 'Patient' AND h.id = t.id AND h.version = t.version)
                  FROM patient t WHERE t.id = ${check.subject} AND cardinality(${check.consents}::text[]) > 0) AS patient,
               (SELECT coalesce(json_agg(x), '[]') FROM (${targetRows(check.targets)}) x) AS targets`,
    { prepare: true }
  );
  return rows[0];
}

/** The valid decisions of a person (individual number and birth date, in a department if given), for a claim. */
export async function claimableDecisions(
  q: Queryable,
  c: { individual: string; birthDate: string; department?: string; today: string }
): Promise<{ id: string; patient_id: string; department: string; esms_category: string; validity_start: string; validity_end: string }[]> {
  const { rows } = await run<{ id: string; patient_id: string; department: string; esms_category: string; validity_start: string; validity_end: string }>(
    q,
    sql`SELECT r.id, r.patient_id, r.department, r.esms_category, r.validity_start::text, r.validity_end::text FROM referral r
         WHERE r.module = 'decision' AND r.individual = ${c.individual} AND r.birth_date = ${c.birthDate}::date AND (${c.department ?? null}::text IS NULL OR r.department = ${c.department ?? null})
           AND r.status = 'active' AND r.validity_end >= ${c.today}::date
         ORDER BY r.id`
  );
  return rows;
}

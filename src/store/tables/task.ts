/** The `task` table: one row per Task (a unit's part of an admission request, an ESMS's part of a decision). */
import type { Queryable } from '../db.js';
import { run, sql } from '../sql.js';
import type { Columns } from './versions.js';

/** The domain columns of `task` (beside id, version, last_updated) and their SQL types. */
export const TASK_COLUMNS = {
  referral_id: 'text',
  patient_id: 'text',
  owner_service_id: 'text',
  owner_keys: 'text[]',
  requester_keys: 'text[]',
  status: 'text',
  business_status: 'text',
  business_status_tokens: 'text[]',
  status_since: 'timestamptz',
  previous_business_status: 'text',
  cancelled_with_request: 'bool',
  tags: 'text[]',
  archived: 'bool',
  module: 'text',
  esms_finess: 'text',
  claimed: 'bool',
  status_reason: 'text',
  notified_at: 'timestamptz',
  admitted_at: 'timestamptz',
  department: 'text',
  esms_category: 'text',
  individual: 'text',
  validity_start: 'date',
  validity_end: 'date',
  sent_at: 'timestamptz',
  read_at: 'timestamptz',
  answered_at: 'timestamptz',
  care: 'text',
  unit_department: 'text',
  origin_department: 'text',
} as const satisfies Columns;

/** A task's parties and state, as stored. */
export interface TaskParties {
  id: string;
  version: number;
  referral_id: string;
  owner_keys: string[];
  requester_keys: string[];
  business_status: string;
  status_since: Date;
  archived: boolean;
}

/** A task's parties and state (`lock`: FOR UPDATE). */
export async function taskParties(q: Queryable, id: string, lock = false): Promise<TaskParties | undefined> {
  const { rows } = await run<TaskParties>(
    q,
    lock
      ? sql`SELECT id, version, referral_id, owner_keys, requester_keys, business_status, status_since, archived FROM task WHERE id = ${id} FOR UPDATE`
      : sql`SELECT id, version, referral_id, owner_keys, requester_keys, business_status, status_since, archived FROM task WHERE id = ${id}`,
    { prepare: true }
  );
  return rows[0];
}

/** Which of these tasks the organization `key` owns (it is their unit's). */
export async function tasksOwnedBy(q: Queryable, ids: readonly string[], key: string): Promise<Set<string>> {
  const { rows } = await run<{ id: string }>(q, sql`SELECT id FROM task WHERE id = ANY(${ids}::text[]) AND owner_keys @> ARRAY[${key}]::text[]`, { prepare: true });
  return new Set(rows.map((r) => r.id));
}

/** The tasks of a request: their unit and status. */
export async function tasksOfReferral(q: Queryable, referralId: string): Promise<{ id: string; owner_service_id: string; business_status: string }[]> {
  const { rows } = await run<{ id: string; owner_service_id: string; business_status: string }>(
    q,
    sql`SELECT id, owner_service_id, business_status FROM task WHERE referral_id = ${referralId} ORDER BY id`
  );
  return rows;
}

/** Ids of a request's tasks in these statuses (all when none given), in id order, locked. */
export async function lockTasksOfReferral(q: Queryable, referralId: string, statuses?: readonly string[], except?: string): Promise<string[]> {
  const { rows } = await run<{ id: string }>(
    q,
    sql`SELECT id FROM task WHERE referral_id = ${referralId} AND (${statuses ?? null}::text[] IS NULL OR business_status = ANY(${statuses ?? null}::text[]))
          AND id <> ${except ?? ''} ORDER BY id FOR UPDATE`
  );
  return rows.map((r) => r.id);
}

/** Ids of a request's tasks in one status, in id order. */
export async function tasksInStatus(q: Queryable, referralId: string, status: string): Promise<string[]> {
  const { rows } = await run<{ id: string }>(q, sql`SELECT id FROM task WHERE referral_id = ${referralId} AND business_status = ${status} ORDER BY id`);
  return rows.map((r) => r.id);
}

/** A task's status, locked (a move committed meanwhile is seen). */
export async function lockTaskStatus(q: Queryable, id: string): Promise<string | undefined> {
  const { rows } = await run<{ business_status: string }>(q, sql`SELECT business_status FROM task WHERE id = ${id} FOR UPDATE`);
  return rows[0]?.business_status;
}

/** Marks a task as cancelled with its request (restored by a reactivation). */
export async function markCancelledWithRequest(q: Queryable, id: string): Promise<void> {
  await run(q, sql`UPDATE task SET cancelled_with_request = true WHERE id = ${id}`);
}

/** The tasks a request's cancellation cancelled, with their versions. */
export async function tasksCancelledWithRequest(q: Queryable, referralId: string): Promise<{ id: string; version: number }[]> {
  const { rows } = await run<{ id: string; version: number }>(q, sql`SELECT id, version FROM task WHERE referral_id = ${referralId} AND cancelled_with_request ORDER BY id`);
  return rows;
}

/** For new tasks of a request: each unit's keys (its own, its organization's) and the request's requester keys. */
export async function newTaskParties(
  q: Queryable,
  referralId: string,
  serviceIds: readonly string[]
): Promise<{ service: string; keys: string[]; requester_keys: string[]; unit_department: string | null; origin_department: string | null }[]> {
  // With the unit's department and the prescriber's (their organizations' first postal code), for the indicators.
  const { rows } = await run<{ service: string; keys: string[]; requester_keys: string[]; unit_department: string | null; origin_department: string | null }>(
    q,
    sql`SELECT s.service, unit_keys(s.service) AS keys, r.requester_keys,
               (SELECT department_of(o.postal_codes[1]) FROM healthcare_service hs JOIN organization o ON o.id = hs.organization_id WHERE hs.id = s.service) AS unit_department,
               (SELECT department_of(o.postal_codes[1]) FROM organization o WHERE 'Organization/' || o.id = ANY(r.requester_keys) LIMIT 1) AS origin_department
          FROM unnest(${serviceIds}::text[]) AS s(service) CROSS JOIN referral r WHERE r.id = ${referralId}`,
    { prepare: true }
  );
  return rows;
}

/** Ids of existing tasks among these. */
export async function existingTasks(q: Queryable, ids: readonly string[]): Promise<Set<string>> {
  const { rows } = await run<{ id: string }>(q, sql`SELECT id FROM task WHERE id = ANY(${ids}::text[])`);
  return new Set(rows.map((r) => r.id));
}

/** Ids of the tasks of these requests (decisions). */
export async function tasksOfReferrals(q: Queryable, referralIds: readonly string[]): Promise<Set<string>> {
  if (referralIds.length === 0) return new Set();
  const { rows } = await run<{ id: string }>(q, sql`SELECT id FROM task WHERE referral_id = ANY(${referralIds}::text[])`);
  return new Set(rows.map((r) => r.id));
}

/** A decision's task, with its parties and status (none when the task is not a decision's). */
export async function decisionTaskParties(q: Queryable, id: string): Promise<{ owner_keys: string[]; requester_keys: string[]; business_status: string; referral_id: string } | undefined> {
  const { rows } = await run<{ owner_keys: string[]; requester_keys: string[]; business_status: string; referral_id: string }>(
    q,
    sql`SELECT owner_keys, requester_keys, business_status, referral_id FROM task WHERE id = ${id} AND module = 'decision'`
  );
  return rows[0];
}

/**
 * The task of a decision named by its national id, for an ESMS (whose key is
 * among its owners); the first holder first, should older data hold the id twice.
 */
export async function decisionTaskForEsms(q: Queryable, system: string, national: string, esmsKey: string): Promise<string | undefined> {
  const { rows } = await run<{ id: string }>(
    q,
    sql`SELECT t.id FROM task t JOIN resource_identifier i ON i.resource_type = 'ServiceRequest' AND i.resource_id = t.referral_id
         WHERE i.system = ${system} AND i.value = ${national} AND t.module = 'decision' AND t.owner_keys @> ARRAY[${esmsKey}]::text[]
         ORDER BY (SELECT h.last_updated FROM resource_history h WHERE h.resource_type = 'ServiceRequest' AND h.id = t.referral_id AND h.version = 1), t.id`
  );
  return rows[0]?.id;
}

/** Copies a decision's validity and category onto its tasks (after a re-import changed them). */
export async function updateDecisionTaskColumns(q: Queryable, referralId: string, values: { category: string; individual: string; validFrom: string; validTo: string }): Promise<void> {
  await run(
    q,
    sql`UPDATE task SET esms_category = ${values.category}, individual = ${values.individual}, validity_start = ${values.validFrom}, validity_end = ${values.validTo} WHERE referral_id = ${referralId}`
  );
}

/**
 * For decisions' tasks among these ids, what the SDO shape needs beyond the
 * task: the ESMS's FINESS and directory name, and the decision's identifiers.
 */
export async function sdoFactsOf(
  q: Queryable,
  ids: readonly string[],
  finessSystem: string
): Promise<Map<string, { finess: string; esms_name: string | null; decision_ids: { system: string; value: string }[] | null; business_status: string }>> {
  if (ids.length === 0) return new Map();
  const { rows } = await run<{ id: string; finess: string; esms_name: string | null; decision_ids: { system: string; value: string }[] | null; business_status: string }>(
    q,
    sql`SELECT t.id, t.esms_finess AS finess, t.business_status,
               (SELECT o.name FROM resource_identifier i JOIN organization o ON o.id = i.resource_id
                 WHERE i.resource_type = 'Organization' AND i.system = ${finessSystem} AND i.value = t.esms_finess ORDER BY o.id LIMIT 1) AS esms_name,
               (SELECT json_agg(json_build_object('system', i.system, 'value', i.value) ORDER BY i.system, i.value) FROM resource_identifier i
                 WHERE i.resource_type = 'ServiceRequest' AND i.resource_id = t.referral_id) AS decision_ids
          FROM task t WHERE t.id = ANY(${ids}::text[]) AND t.module = 'decision' AND t.esms_finess IS NOT NULL`
  );
  return new Map(rows.map((r) => [r.id, r]));
}

/**
 * Orientation decisions (module Handicap): who may set which TRE_R357
 * status on a decision's task, the SDO flows of ESMS software (sdo-task
 * pushes mapped onto the decision's task), and claims ("déclarer une
 * notification").
 */
import type { Reference, Task, TaskInput } from '@medplum/fhirtypes';
import { canonicalJson } from '../../mappings/canonical-json.js';
import {
  ADMITTED_STATUSES,
  decisionIds,
  decisionMoves,
  esmsStatusConcept,
  esmsStatusOf,
  ESMS_STATUSES,
  FINESS_SYSTEM,
  ID_NAT_DECISION_SYSTEM,
  isDecisionId,
  isEsmsStatus,
  type DecisionSide,
  type EsmsStatus,
} from '../../mappings/decision.js';
import { parseReference } from '../../mappings/reference.js';
import type { Row } from '../../mappings/resource-rows.js';
import { conflict, forbidden, notFound, ruleViolation, unauthorized } from '../fhir/outcomes.js';
import type { Queryable } from '../store/db.js';
import { checkClaimLimit, claimKeys, DEFAULT_CLAIM_LIMIT, recordClaimFailure } from './claim-limit.js';
import { createDecisionTasks } from './decision-import.js';
import type { Prepared, WriteEvent } from './kinds.js';
import { organizationKeys, principalKey } from './parties.js';
import { hasAnyRole, type Principal } from './principal.js';
import { readResource, updateResource, type CallContext, type WriteResult } from './resources.js';

const FIXED: (keyof Task)[] = ['focus', 'for', 'owner', 'requester', 'intent', 'authoredOn', 'identifier', 'basedOn', 'partOf'];

interface DecisionTaskRow {
  owner_keys: string[];
  requester_keys: string[];
  business_status: string;
  referral_id: string;
}

async function decisionTaskRow(q: Queryable, id: string): Promise<DecisionTaskRow | undefined> {
  const { rows } = await q.query<DecisionTaskRow>(`SELECT owner_keys, requester_keys, business_status, referral_id FROM task WHERE id = $1 AND module = 'decision'`, [id]);
  return rows[0];
}

function sidesOf(principal: Principal | undefined, row: DecisionTaskRow): DecisionSide[] {
  const key = principalKey(principal);
  if (!key) return [];
  const sides: DecisionSide[] = [];
  if (row.owner_keys.includes(key) && hasAnyRole(principal, ['esms'])) sides.push('esms');
  if (row.requester_keys.includes(key) && hasAnyRole(principal, ['mdph'])) sides.push('mdph');
  return sides;
}

/** A move on a decision's task: by its ESMS or its MDPH, along DECISION_MOVES; anything else is 409. */
export async function prepareDecisionTask(e: WriteEvent): Promise<Prepared> {
  const task = e.resource as Task;
  const previous = e.previous?.content as Task;
  const now = e.ctx.clock.now().toISOString();
  const to = esmsStatusOf(task);
  if (!isEsmsStatus(to)) throw ruleViolation('The businessStatus of a decision’s task is a TRE_R357 (JDV_J252) code', 'Task.businessStatus');
  const expected = ESMS_STATUSES[to].taskStatus;
  const from = esmsStatusOf(previous) as EsmsStatus;
  const resource: Task = { ...task, status: expected, businessStatus: esmsStatusConcept(to), lastModified: now };
  const row: Row = from !== to ? { status_since: now, status_reason: reasonCode(task) ?? null, business_status: to } : { business_status: to };
  if (from !== to && ADMITTED_STATUSES.includes(to) && !ADMITTED_STATUSES.includes(from)) row.admitted_at = now;
  if (e.ctx.principal?.gateway) return { resource, row };
  for (const field of FIXED) {
    if (canonicalJson(task[field] ?? null) !== canonicalJson(previous[field] ?? null)) throw ruleViolation(`Task.${String(field)} is set by the gateway and cannot change`, `Task.${String(field)}`);
  }
  const stored = (await decisionTaskRow(e.q, e.id)) as DecisionTaskRow;
  const sides = sidesOf(e.ctx.principal, stored);
  if (sides.length === 0) throw forbidden('Only the targeted ESMS (role esms) or the decision’s MDPH (role mdph) may change this task');
  if (from !== to) {
    const side = sides.find((s) => decisionMoves(from, s).includes(to));
    if (!side) {
      const allowed = sides.flatMap((s) => decisionMoves(from, s).map((m) => `${m} ${ESMS_STATUSES[m].display} (${s})`));
      throw conflict(`From ${from} (${ESMS_STATUSES[from].display}) the task moves to ${allowed.join(', ') || 'nothing'} for you, not to ${to}`, 'Task.businessStatus');
    }
    if ((to === '45' || to === '46') && !reasonCode(task)) throw ruleViolation('An admission impossible carries its reason in statusReason (JDV_J250/J251)', 'Task.statusReason');
  }
  return { resource, row };
}

function reasonCode(task: Task): string | undefined {
  return task.statusReason?.coding?.find((c) => c.code)?.code;
}

// ---------------------------------------------------------------- SDO

/** The value of an sdo-task input, by its slice name (`type.text`, else `type.coding.display`), case-insensitive. */
function input(task: Task, name: string): TaskInput | undefined {
  const wanted = name.toLowerCase();
  return (task.input ?? []).find((i) => (i.type?.text ?? i.type?.coding?.[0]?.display ?? '').toLowerCase() === wanted);
}

/** The text of an input given as a string or as an Identifier (the national material uses both). */
function inputText(task: Task, name: string): string | undefined {
  const i = input(task, name);
  return i?.valueString ?? i?.valueIdentifier?.value ?? undefined;
}

/**
 * An SDO Task pushed by ESMS software (profile sdo-task), create or update:
 * mapped onto the task of the decision it names (idNat_Decision) for the
 * caller's ESMS, then moved as any status change (same rules).
 */
export async function pushSdoTask(ctx: CallContext, sdo: Task, id?: string): Promise<WriteResult> {
  const run = async (q: Queryable): Promise<WriteResult> => {
    if (!ctx.principal) throw unauthorized();
    if (!hasAnyRole(ctx.principal, ['esms', 'mdph'])) throw forbidden('SDO statuses are pushed by ESMS software (role esms)');
    const national = inputText(sdo, 'idNat_Decision');
    const status = input(sdo, 'statutESMS')?.valueCodeableConcept?.coding?.find((c) => c.code)?.code;
    if (!national) throw ruleViolation('The SDO Task names its decision: input idNat_Decision', 'Task.input');
    if (!isEsmsStatus(status)) throw ruleViolation('input statutESMS is a JDV_J252 code', 'Task.input');
    const key = principalKey(ctx.principal) ?? '';
    const { rows } = await q.query<{ id: string }>(
      `SELECT t.id FROM task t JOIN resource_identifier i ON i.resource_type = 'ServiceRequest' AND i.resource_id = t.referral_id
        WHERE i.system = $1 AND i.value = $2 AND t.module = 'decision' AND t.owner_keys @> ARRAY[$3]::text[]
        -- A national id names one decision (imports refuse a second holder); should older data hold it twice, the first holder is the true one.
        ORDER BY (SELECT h.last_updated FROM resource_history h WHERE h.resource_type = 'ServiceRequest' AND h.id = t.referral_id AND h.version = 1), t.id`,
      [ID_NAT_DECISION_SYSTEM, national, key]
    );
    // Another ESMS's decision, or none: the same answer.
    if (rows.length === 0) throw notFound(`No decision ${national} targets this ESMS (a decision that did not target it can be claimed with ServiceRequest/$claim)`);
    const taskId = rows[0].id;
    if (id !== undefined && id !== taskId) throw conflict(`Task/${id} is not the task of decision ${national} for this ESMS (Task/${taskId} is)`, 'Task.id');
    const current = (await readResource({ ...ctx, tx: q }, 'Task', taskId)) as Task;
    const motif = input(sdo, 'motifESMS') ?? input(sdo, 'motifUnite');
    const moved: Task = {
      ...current,
      status: ESMS_STATUSES[status].taskStatus,
      businessStatus: esmsStatusConcept(status),
      ...(motif?.valueCodeableConcept ? { statusReason: motif.valueCodeableConcept } : {}),
      input: sdo.input,
    };
    if (status === esmsStatusOf(current)) {
      return { resource: current, created: false, skipped: 'unchanged' };
    }
    return updateResource({ ...ctx, tx: q }, moved, taskId);
  };
  return ctx.tx ? run(ctx.tx) : ctx.db.transaction(run);
}

// ---------------------------------------------------------------- claim

/**
 * `ServiceRequest/$claim`: an ESMS that a decision did not target puts it on
 * its list with the person's individual number and birth date. A wrong pair
 * gives the same 404 whether or not the person exists, and counts towards the
 * lockout of the client and of the individual number (claim-limit.ts).
 */
export async function claimDecisions(ctx: CallContext, individual: string, birthDate: string, department?: string): Promise<Task[]> {
  if (!hasAnyRole(ctx.principal, ['esms'])) throw forbidden('Decisions are claimed by an ESMS (role esms)');
  const limit = ctx.claimLimit ?? DEFAULT_CLAIM_LIMIT;
  const limitKeys = claimKeys(ctx.principal?.clientId ?? '', individual);
  const run = async (q: Queryable): Promise<Task[] | undefined> => {
    const keys = await organizationKeys(q, principalKey(ctx.principal) ?? '');
    const finess = keys.find((k) => k.startsWith(`${FINESS_SYSTEM}|`))?.slice(FINESS_SYSTEM.length + 1);
    if (!finess) throw forbidden('A claiming ESMS is known by its FINESS number: its token’s organization must be, or have, one');
    await checkClaimLimit(q, limitKeys, limit, ctx.clock.now());
    const { rows } = await q.query<{ id: string; patient_id: string; department: string; esms_category: string; validity_start: string; validity_end: string }>(
      `SELECT r.id, r.patient_id, r.department, r.esms_category, r.validity_start::text, r.validity_end::text FROM referral r
        WHERE r.module = 'decision' AND r.individual = $1 AND r.birth_date = $2::date AND ($3::text IS NULL OR r.department = $3)
          AND r.status = 'active' AND r.validity_end >= $4::date
        ORDER BY r.id`,
      [individual, birthDate, department ?? null, ctx.clock.now().toISOString().slice(0, 10)]
    );
    if (rows.length === 0) {
      // Recorded (and committed) before the 404 is answered: within a Bundle's transaction, which the 404 rolls back, on its own.
      const record = (r: Queryable): Promise<void> => recordClaimFailure(r, limitKeys, individual, limit, ctx.clock.now(), ctx.audit);
      await (ctx.tx ? ctx.db.transaction(record) : record(q));
      return undefined;
    }
    const { rows: existing } = await q.query<{ id: string }>(`SELECT id FROM task WHERE id = ANY($1::text[])`, [rows.map((r) => decisionIds.task(r.id, finess))]);
    const have = new Set(existing.map((t) => t.id));
    for (const r of rows) {
      if (have.has(decisionIds.task(r.id, finess))) continue;
      const task = { decisionId: r.id, patientId: r.patient_id, finess, category: r.esms_category, individual, validFrom: r.validity_start, validTo: r.validity_end };
      await createDecisionTasks(q, r.department, [task], ctx.clock.now().toISOString(), ctx.scheduled, true);
    }
    // What the ESMS has on its list for this person now (claimed or targeted before).
    const { rows: mine } = await q.query<{ id: string }>(`SELECT id FROM task WHERE id = ANY($1::text[]) ORDER BY id`, [rows.map((r) => decisionIds.task(r.id, finess))]);
    const tasks: Task[] = [];
    for (const t of mine) tasks.push((await readResource({ ...ctx, tx: q }, 'Task', t.id)) as Task);
    return tasks;
  };
  const tasks = await (ctx.tx ? run(ctx.tx) : ctx.db.transaction(run));
  if (!tasks) throw notFound('No valid decision matches this individual number and birth date');
  return tasks;
}

/** Whether a ServiceRequest is an orientation decision (its writes go through imports, not the REST API). */
export function isDecisionReference(reference: Reference | undefined): boolean {
  return isDecisionId(parseReference(reference?.reference)?.id);
}


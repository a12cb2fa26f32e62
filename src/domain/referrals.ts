/**
 * Admission requests (module Sanitaire): the rules of ServiceRequest, Task,
 * QuestionnaireResponse (volets) and Communication writes, and the named
 * operations ($remind, $reactivate, $copy). The status table and codes are
 * declarative, in mappings/referral.ts; this module enforces them. Every
 * rule runs inside the write's transaction, so a refused write, or a
 * cascade that fails half-way, changes nothing.
 */
import { randomUUID } from 'node:crypto';
import type { Communication, QuestionnaireResponse, Reference, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import { canonicalJson } from '../../mappings/canonical-json.js';
import { addDuration, DEFAULT_REFERRAL_DURATIONS, type ReferralDurations } from '../../mappings/duration.js';
import { parseReference } from '../../mappings/reference.js';
import {
  allowedMoves,
  businessStatusConcept,
  businessStatusOf,
  isBusinessStatus,
  MESSAGE_CATEGORY_SYSTEM,
  OPEN_STATUSES,
  reasonConcept,
  reasonOf,
  REASONS_BY_MOVE,
  REFERRAL_FLAG_SYSTEM,
  STATUS_TABLE,
  taskRow,
  VALIDATED_VOLET_STATUSES,
  voletOf,
  type BusinessStatus,
  type Reason,
  type Side,
} from '../../mappings/referral.js';
import { conflict, forbidden, preconditionRequired, ruleViolation } from '../fhir/outcomes.js';
import type { Queryable } from '../store/db.js';
import { run, sql, type SqlFragment } from '../store/sql.js';
import { visibleRows } from './access.js';
import { targetChecks, targetRows, type TargetRow } from './directory.js';
import { refreshDeadlines } from './deadlines.js';
import type { Prepared, WriteEvent } from './kinds.js';
import type { Row } from '../../mappings/resource-rows.js';
import { activeSubscriptionsSql, scheduleNotifications } from './notifications.js';
import { canonicalKey, organizationKeys, principalKey, referenceKey } from './parties.js';
import { GATEWAY, hasAnyRole, type Principal } from './principal.js';
import { isDecisionReference, prepareDecisionTask } from './decisions.js';
import { DECISION_CATEGORY } from '../../mappings/decision.js';
import { insertFirstVersions, type VersionWrite } from '../store/resources.js';
import { audit, auditedEntities } from './audit.js';
import { createResource, readResource, requireKind, stamp, updateResource, type CallContext } from './resources.js';

function durations(ctx: CallContext): ReferralDurations {
  return ctx.durations ?? DEFAULT_REFERRAL_DURATIONS;
}

/** The gateway acting within the caller's transaction. */
function asGateway(ctx: CallContext, q: Queryable): CallContext {
  return { ...ctx, tx: q, principal: GATEWAY };
}

/** The keys of the caller's organization (403 when its token names none). */
async function callerKeys(ctx: CallContext, q: Queryable): Promise<string[]> {
  const key = principalKey(ctx.principal);
  if (!key) throw forbidden('This action needs a token that names the caller’s organization');
  // One look-up per request, however many resources a Bundle writes.
  const memo = ctx.memo?.get(`keys|${key}`) as string[] | undefined;
  if (memo) return memo;
  const keys = await organizationKeys(q, key);
  ctx.memo?.set(`keys|${key}`, keys);
  return keys;
}

/** A task's parties and state, as stored. */
interface TaskRow {
  id: string;
  version: number;
  referral_id: string;
  owner_keys: string[];
  requester_keys: string[];
  business_status: BusinessStatus;
  status_since: Date;
  archived: boolean;
}

async function taskRowOf(q: Queryable, id: string, lock = false): Promise<TaskRow | undefined> {
  const { rows } = await q.query<TaskRow>(
    `SELECT id, version, referral_id, owner_keys, requester_keys, business_status, status_since, archived FROM task WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
    [id]
  );
  return rows[0];
}

/** Which side of a task the caller is on, given the move it makes (undefined: neither). */
function sideOf(principal: Principal | undefined, row: Pick<TaskRow, 'owner_keys' | 'requester_keys'>): Side[] {
  const key = principalKey(principal);
  if (!key) return [];
  const sides: Side[] = [];
  if (row.owner_keys.includes(key) && hasAnyRole(principal, ['receiver'])) sides.push('unit');
  if (row.requester_keys.includes(key) && hasAnyRole(principal, ['prescriber'])) sides.push('prescriber');
  return sides;
}

function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a ?? null) === canonicalJson(b ?? null);
}

// ---------------------------------------------------------------- ServiceRequest

const REQUEST_STATUSES_ON_CREATE = ['active', 'draft'];

/**
 * Volets (alias `t`) written by the caller's organization: the only ones it
 * may cite. Reading a volet (a unit reads those of the requests it received)
 * gives no right to put it in a request of one's own.
 */
function authoredBy(principal: Principal | undefined): SqlFragment {
  if (principal?.gateway || hasAnyRole(principal, ['admin'])) return sql`TRUE`;
  const key = principalKey(principal);
  return key ? sql`t.author_keys @> ARRAY[${key}]::text[]` : sql`FALSE`;
}

/**
 * What a request points at, checked in one statement: its subject (a
 * patient the caller may see), its new candidate units (usable targets) and
 * its volets (existing QuestionnaireResponses).
 */
async function checkReferences(ctx: CallContext, q: Queryable, request: ServiceRequest, added: string[], performers: string[]): Promise<void> {
  const subject = parseReference(request.subject?.reference);
  if (!subject || subject.type !== 'Patient') throw ruleViolation('The request needs a subject Patient/{id}', 'ServiceRequest.subject');
  const volets = (request.supportingInfo ?? [])
    .map((s, i) => ({ ref: parseReference(s.reference), i }))
    .filter((v) => v.ref?.type === 'QuestionnaireResponse')
    .map((v) => ({ id: v.ref?.id as string, i: v.i }));
  const { rows } = await run<{ subject: boolean; volets: string[]; targets: TargetRow[] }>(
    q,
    sql`SELECT EXISTS (SELECT 1 FROM patient t WHERE t.id = ${subject.id} AND ${visibleRows(ctx.principal, requireKind('Patient'))}) AS subject,
               (SELECT coalesce(array_agg(t.id), '{}') FROM volet t WHERE t.id = ANY(${volets.map((v) => v.id)}::text[]) AND t.patient_id = ${subject.id}
                   AND ${authoredBy(ctx.principal)}) AS volets,
               (SELECT coalesce(json_agg(x), '[]') FROM (${targetRows(added)}) x) AS targets`,
    { prepare: true }
  );
  const found = rows[0];
  if (!found.subject) throw ruleViolation(`Patient/${subject.id} does not exist`, 'ServiceRequest.subject');
  const checks = targetChecks(added, found.targets);
  for (const id of added) {
    const check = checks.get(id);
    if (!check?.usable) throw ruleViolation(`HealthcareService/${id} cannot receive requests: ${check?.reason ?? 'unknown'}`, `ServiceRequest.performer[${performers.indexOf(id)}]`);
  }
  const missing = volets.find((v) => !found.volets.includes(v.id));
  if (missing) throw ruleViolation(`QuestionnaireResponse/${missing.id} is not a volet of this patient written by your organization`, `ServiceRequest.supportingInfo[${missing.i}]`);
}

/**
 * The requester a unit sees is the caller's own organization, named by its
 * literal reference or by one of its identifiers. Practitioners are not in
 * the directory yet, so a PractitionerRole (whatever its display) cannot be
 * tied to the caller's organization and is refused, as a display alone is.
 */
async function checkRequester(e: WriteEvent, requester: Reference): Promise<void> {
  const literal = parseReference(requester.reference);
  const type = literal?.type ?? requester.type ?? (requester.identifier ? 'Organization' : undefined);
  const key = referenceKey(requester);
  if (type !== 'Organization' || !key || !(await callerKeys(e.ctx, e.q)).includes(key)) {
    throw ruleViolation('The requester is the caller’s own organization: Organization/{id}, or an identifier of it (e.g. its FINESS)', 'ServiceRequest.requester');
  }
}

export async function prepareServiceRequest(e: WriteEvent): Promise<Prepared> {
  const request = e.resource as ServiceRequest;
  const previous = e.previous?.content as ServiceRequest | undefined;
  const gateway = e.ctx.principal?.gateway === true;
  const isDecision = (r: ServiceRequest | undefined): boolean => (r?.category ?? []).some((c) => c.coding?.some((k) => k.code === DECISION_CATEGORY.code && k.system === DECISION_CATEGORY.system));
  if (isDecision(request) || isDecision(previous)) {
    if (!gateway) throw ruleViolation('Orientation decisions are written by their MDPH’s imports (POST /fhir/$import-decisions), not through ServiceRequest', 'ServiceRequest.category');
    return { resource: request };
  }
  const now = e.ctx.clock.now();
  const performers = (request.performer ?? []).map((p, i) => {
    const ref = parseReference(p.reference);
    if (!ref || ref.type !== 'HealthcareService') throw ruleViolation('Each performer must be a candidate unit, HealthcareService/{id}', `ServiceRequest.performer[${i}]`);
    return ref.id;
  });
  if (new Set(performers).size !== performers.length) throw ruleViolation('A unit is listed twice in performer', 'ServiceRequest.performer');
  if (request.status === 'active' && performers.length === 0) throw ruleViolation('An active request needs at least one candidate unit in performer', 'ServiceRequest.performer');
  // Units are checked when they are added, and all of them when a draft is sent.
  const previousPerformers = new Set(previous?.status === 'active' ? (previous.performer ?? []).map((p) => parseReference(p.reference)?.id) : []);
  const added = performers.filter((id) => !previousPerformers.has(id));
  if (!gateway) {
    if (request.status === 'active' && previous?.status !== 'active' && !hasAnyRole(e.ctx.principal, ['prescriber', 'admin'])) {
      throw forbidden('Only a prescriber sends a request (status active); the care team prepares drafts', 'ServiceRequest.status');
    }
    if (previous && parseReference(request.subject?.reference)?.id !== parseReference(previous.subject?.reference)?.id) {
      throw ruleViolation('A request keeps its patient; make a new request for another patient', 'ServiceRequest.subject');
    }
    if (request.requester) await checkRequester(e, request.requester);
  }
  await checkReferences(gateway ? asGateway(e.ctx, e.q) : e.ctx, e.q, request, added, performers);

  if (!previous) {
    if (!REQUEST_STATUSES_ON_CREATE.includes(request.status)) throw ruleViolation(`A new request is active or draft, not ${request.status}`, 'ServiceRequest.status');
    const requester = gateway ? [] : await callerKeys(e.ctx, e.q);
    return {
      resource: { ...request, authoredOn: request.authoredOn ?? now.toISOString() },
      row: { requester_keys: requester, last_prescriber_action_at: now.toISOString() },
    };
  }
  if (!gateway) {
    const { rows } = await e.q.query<{ requester_keys: string[]; archived: boolean }>(`SELECT requester_keys, archived FROM referral WHERE id = $1`, [e.id]);
    const key = principalKey(e.ctx.principal);
    if (!key || !rows[0]?.requester_keys.includes(key)) throw forbidden('Only the prescriber’s organization may change its request');
    if (rows[0].archived) throw conflict('This request is archived and can no longer change');
    if (previous.status !== request.status) {
      if (!hasAnyRole(e.ctx.principal, ['prescriber'])) throw forbidden('Only a prescriber changes the status of a request (activates or cancels it)', 'ServiceRequest.status');
      const allowed: Record<string, string[]> = { draft: ['active', 'revoked'], active: ['revoked'] };
      if (!(allowed[previous.status] ?? []).includes(request.status)) {
        const hint = previous.status === 'revoked' && request.status === 'active' ? ' (to reactivate a cancelled request, POST ServiceRequest/{id}/$reactivate)' : '';
        throw conflict(
          `A request moves from ${previous.status} to ${(allowed[previous.status] ?? []).join(' or ') || 'nothing'}, not to ${request.status}${hint}`,
          'ServiceRequest.status'
        );
      }
    } else if (previous.status === 'revoked') {
      throw conflict('A cancelled request does not change; reactivate it first with $reactivate', 'ServiceRequest.status');
    }
  }
  // The initial request date is kept whatever the update says.
  return {
    resource: { ...request, authoredOn: previous.authoredOn },
    row: gateway ? {} : { last_prescriber_action_at: now.toISOString() },
  };
}

/** The Task the gateway creates for one candidate unit. */
function taskFor(request: ServiceRequest, requestId: string, serviceId: string, now: string): Task {
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    businessStatus: businessStatusConcept('sent'),
    focus: { reference: `ServiceRequest/${requestId}` },
    for: request.subject,
    ...(request.requester ? { requester: request.requester } : {}),
    owner: { reference: `HealthcareService/${serviceId}` },
    authoredOn: now,
    lastModified: now,
  };
}

export async function afterServiceRequest(e: WriteEvent): Promise<void> {
  const request = e.resource as ServiceRequest;
  const previous = e.previous?.content as ServiceRequest | undefined;
  const gatewayCtx = asGateway(e.ctx, e.q);
  // A new request has no task yet.
  const { rows: tasks } = previous
    ? await e.q.query<{ id: string; owner_service_id: string; business_status: BusinessStatus }>(`SELECT id, owner_service_id, business_status FROM task WHERE referral_id = $1 ORDER BY id`, [e.id])
    : { rows: [] };
  const performers = (request.performer ?? []).map((p) => parseReference(p.reference)?.id as string);
  if (request.status === 'active') {
    // Units newly listed get a task, including one dropped earlier whose task was closed then.
    // (a draft's units were never sent; a reactivated request's were)
    const listed = new Set(previous && previous.status !== 'draft' ? (previous.performer ?? []).map((p) => parseReference(p.reference)?.id) : []);
    const open = new Set(tasks.filter((t) => OPEN_STATUSES.includes(t.business_status)).map((t) => t.owner_service_id));
    const adding = performers.filter((id) => !listed.has(id) && !open.has(id));
    if (adding.length > 0 && tasks.some((t) => t.business_status === 'confirmed' || t.business_status === 'admitted')) {
      throw conflict('A unit was confirmed for this request: no other unit can be added', 'ServiceRequest.performer');
    }
    await createTasks(e, request, adding);
    // A unit dropped from the request: its open task is cancelled.
    for (const task of tasks) {
      if (!performers.includes(task.owner_service_id) && OPEN_STATUSES.includes(task.business_status)) {
        await cancelTask(gatewayCtx, task.id, 'cancelled-by-prescriber', false);
      }
    }
  }
  if (previous && previous.status !== 'revoked' && request.status === 'revoked' && e.ctx.principal?.gateway !== true) {
    await cancelRequestTasks(gatewayCtx, e.q, e.id, 'cancelled-by-prescriber');
  }
  // A new request has no deadline yet: none until a unit accepts.
  if (previous) await refreshDeadlines(e.q, e.id, durations(e.ctx), e.ctx.scheduled);
}

/**
 * Creates the tasks of new candidate units, in one statement whatever their
 * number, with each unit's keys and the prescriber's, and their notifications.
 */
async function createTasks(e: WriteEvent, request: ServiceRequest, serviceIds: string[]): Promise<void> {
  if (serviceIds.length === 0) return;
  const now = e.ctx.clock.now().toISOString();
  const { rows } = await e.q.query<{ service: string; keys: string[]; requester_keys: string[]; subscriptions: string[] }>(
    `SELECT s.service, unit_keys(s.service) AS keys, r.requester_keys, ${activeSubscriptionsSql(3)} AS subscriptions
       FROM unnest($1::text[]) AS s(service) CROSS JOIN referral r WHERE r.id = $2`,
    [serviceIds, e.id, 'Task'],
    'task-parties'
  );
  const writes: VersionWrite[] = rows.map((r) => {
    const task = stamp(taskFor(request, e.id, r.service, now), randomUUID(), 1, now) as Task;
    return { resource: task, version: 1, lastUpdated: now, row: { ...taskRow(task), owner_keys: r.keys, requester_keys: r.requester_keys, status_since: now }, identifiers: [] };
  });
  await insertFirstVersions(e.q, requireKind('Task'), writes, { prepare: writes.length <= 20 });
  audit(e.ctx.audit, { action: 'C', interaction: 'create', status: 201, resourceType: 'Task', entities: auditedEntities(writes.map((w) => w.resource)) });
  await scheduleNotifications(e.q, writes.map((w) => w.resource), e.ctx.clock.now(), e.ctx.scheduled, rows[0]?.subscriptions ?? []);
}

/** Cancels a task as the gateway, keeping what it was (for $reactivate when `withRequest`). */
async function cancelTask(ctx: CallContext, taskId: string, reason: Reason, withRequest: boolean): Promise<void> {
  // Locked, then read: a move committed meanwhile (an admission, a refusal) is seen, and kept.
  const { rows } = await (ctx.tx as Queryable).query<{ business_status: BusinessStatus }>(`SELECT business_status FROM task WHERE id = $1 FOR UPDATE`, [taskId]);
  if (!rows[0] || !OPEN_STATUSES.includes(rows[0].business_status)) return;
  const current = (await readResource(ctx, 'Task', taskId)) as Task;
  const cancelled: Task = { ...current, status: 'cancelled', businessStatus: businessStatusConcept('cancelled'), statusReason: reasonConcept(reason) };
  await updateResource(ctx, cancelled, taskId);
  if (withRequest) await (ctx.tx as Queryable).query(`UPDATE task SET cancelled_with_request = true WHERE id = $1`, [taskId]);
}

/** Cancels every open task of a request and marks the request cancelled (request-wide cancellation). */
export async function cancelRequestTasks(ctx: CallContext, q: Queryable, referralId: string, reason: Reason): Promise<void> {
  const { rows } = await q.query<{ id: string }>(`SELECT id FROM task WHERE referral_id = $1 AND business_status = ANY($2::text[]) ORDER BY id FOR UPDATE`, [referralId, OPEN_STATUSES]);
  for (const row of rows) await cancelTask(ctx, row.id, reason, true);
  await q.query(`UPDATE referral SET cancelled_at = $2 WHERE id = $1`, [referralId, ctx.clock.now().toISOString()]);
}

// ---------------------------------------------------------------- Task

const TASK_FIXED: (keyof Task)[] = ['focus', 'for', 'owner', 'requester', 'intent', 'authoredOn', 'identifier', 'basedOn', 'partOf'];

function checkMoveDetails(task: Task, to: BusinessStatus): void {
  const period = task.restriction?.period;
  if (to === 'agreed-in-principle') {
    if (!period?.start || !period.end) throw ruleViolation('An agreement in principle carries its window: restriction.period start and end', 'Task.restriction.period');
    if (Date.parse(period.end) < Date.parse(period.start)) throw ruleViolation('restriction.period ends before it starts', 'Task.restriction.period');
  }
  if (to === 'accepted' && !period?.start) throw ruleViolation('An acceptance carries the proposed admission date: restriction.period.start', 'Task.restriction.period.start');
  if (to === 'refused' || to === 'cancelled') {
    const reason = reasonOf(task);
    const allowed = REASONS_BY_MOVE[to];
    if (!reason || !(allowed as readonly string[]).includes(reason)) {
      throw ruleViolation(`A ${to === 'refused' ? 'refusal' : 'cancellation'} carries a coded reason in statusReason (https://aiguillage.org/fhir/CodeSystem/referral-reason: ${allowed.join(', ')})`, 'Task.statusReason');
    }
  }
}

/** Keeps the gateway's archive flag as stored, whatever the sender wrote in meta.tag. */
function keepFlags(task: Task, previous: Task | undefined): Task {
  const own = (task.meta?.tag ?? []).filter((t) => t.system !== REFERRAL_FLAG_SYSTEM);
  const flags = (previous?.meta?.tag ?? []).filter((t) => t.system === REFERRAL_FLAG_SYSTEM);
  const tag = [...own, ...flags];
  const { tag: _t, ...meta } = task.meta ?? {};
  return { ...task, meta: tag.length > 0 ? { ...meta, tag } : meta } as Task;
}

export async function prepareTask(e: WriteEvent): Promise<Prepared> {
  if (e.previous && isDecisionReference((e.previous.content as Task).focus)) return prepareDecisionTask(e);
  const task = e.resource as Task;
  const previous = e.previous?.content as Task | undefined;
  const gateway = e.ctx.principal?.gateway === true;
  const now = e.ctx.clock.now().toISOString();
  const to = businessStatusOf(task);
  if (!isBusinessStatus(to)) throw ruleViolation(`Task.businessStatus must be a code of https://aiguillage.org/fhir/CodeSystem/referral-status`, 'Task.businessStatus');
  if (task.status !== STATUS_TABLE[to].taskStatus) throw ruleViolation(`businessStatus ${to} goes with status ${STATUS_TABLE[to].taskStatus}, not ${task.status}`, 'Task.status');

  // The tasks of a request are created by the gateway (createTasks), one per unit in ServiceRequest.performer.
  if (!previous) throw ruleViolation('The tasks of an admission request are created by the gateway, one per unit in ServiceRequest.performer', 'Task');

  const from = businessStatusOf(previous) as BusinessStatus;
  const resource = gateway ? { ...task, lastModified: now } : keepFlags({ ...task, lastModified: now }, previous);
  const row: Row = from !== to ? { status_since: now, previous_business_status: from, cancelled_with_request: false } : {};
  if (gateway) return { resource, row };

  for (const field of TASK_FIXED) {
    if (!sameJson(task[field], previous[field])) throw ruleViolation(`Task.${String(field)} is set by the gateway and cannot change`, `Task.${String(field)}`);
  }
  const stored = (await taskRowOf(e.q, e.id)) as TaskRow;
  if (stored.archived) throw conflict('This task is archived and can no longer change');
  if (e.ctx.ifMatch === undefined) throw preconditionRequired('A task is changed with If-Match: the version the change is made on (W/"n")');
  const sides = sideOf(e.ctx.principal, stored);
  if (sides.length === 0) throw forbidden('Only the receiving unit (role receiver) or the prescriber (role prescriber) of this request may change its task');
  if (from === to) {
    if (OPEN_STATUSES.includes(from) === false) throw conflict(`This task is ${from}: it no longer changes`, 'Task.businessStatus');
  } else {
    const side = sides.find((s) => allowedMoves(from, s).includes(to));
    if (!side) {
      const allowed = sides.flatMap((s) => allowedMoves(from, s).map((m) => `${m} (${s})`));
      throw conflict(`A task moves from ${from} to ${allowed.length > 0 ? allowed.join(', ') : 'nothing'} for you, not to ${to}`, 'Task.businessStatus');
    }
  }
  // Each side writes its own details: the unit its window or date, the mover its reason.
  const mover = from === to ? undefined : sides.find((side) => allowedMoves(from, side).includes(to));
  if (mover === 'prescriber' && !sameJson(task.restriction, previous.restriction)) throw ruleViolation('restriction (the agreement window, the proposed date) is the unit’s to set', 'Task.restriction');
  if (to !== 'refused' && to !== 'cancelled' && !sameJson(task.statusReason, previous.statusReason)) throw ruleViolation('statusReason is set with a refusal or a cancellation', 'Task.statusReason');
  if (from === to && !sides.includes('unit') && !sameJson(task.restriction, previous.restriction)) throw ruleViolation('restriction is the unit’s to set', 'Task.restriction');
  if (from === 'confirmed' && to !== 'accepted' && !sameJson(task.restriction, previous.restriction)) {
    throw conflict('The confirmed admission date is frozen; to propose another, move the task back to accepted with the new restriction.period.start, for the prescriber to confirm', 'Task.restriction');
  }
  checkMoveDetails(resource, to);
  return { resource, row };
}

export async function afterTask(e: WriteEvent): Promise<void> {
  const task = e.resource as Task;
  if (isDecisionReference(task.focus)) {
    await scheduleNotifications(e.q, [task], e.ctx.clock.now(), e.ctx.scheduled);
    return;
  }
  const previous = e.previous?.content as Task | undefined;
  const referralId = parseReference(task.focus?.reference)?.id as string;
  const now = e.ctx.clock.now();
  const to = businessStatusOf(task) as BusinessStatus;
  const gateway = e.ctx.principal?.gateway === true;
  if (previous && !gateway) {
    const stored = (await taskRowOf(e.q, e.id)) as TaskRow;
    if (stored.requester_keys.includes(principalKey(e.ctx.principal) ?? '') && hasAnyRole(e.ctx.principal, ['prescriber'])) {
      await e.q.query(`UPDATE referral SET last_prescriber_action_at = $2 WHERE id = $1`, [referralId, now.toISOString()]);
    }
    if (to === 'confirmed' && businessStatusOf(previous) !== 'confirmed') {
      // Confirming one unit cancels every other open task of the request, in this transaction.
      const { rows } = await e.q.query<{ id: string }>(`SELECT id FROM task WHERE referral_id = $1 AND id <> $2 AND business_status = ANY($3::text[]) ORDER BY id FOR UPDATE`, [
        referralId,
        e.id,
        OPEN_STATUSES,
      ]);
      for (const other of rows) await cancelTask(asGateway(e.ctx, e.q), other.id, 'other-unit-chosen', false);
    }
  }
  await scheduleNotifications(e.q, [task], e.ctx.clock.now(), e.ctx.scheduled);
  if (previous) await refreshDeadlines(e.q, referralId, durations(e.ctx), e.ctx.scheduled);
}

/** A unit's first read of a task it received moves it to `read` (DESIGN: "automatically on first read"). */
export async function onTaskRead(ctx: CallContext, task: Resource): Promise<Resource> {
  if (businessStatusOf(task as Task) !== 'sent' || !hasAnyRole(ctx.principal, ['receiver'])) return task;
  const row = await taskRowOf(ctx.tx ?? ctx.db, task.id as string);
  if (!row || !sideOf(ctx.principal, row).includes('unit')) return task;
  const read: Task = { ...(task as Task), status: 'received', businessStatus: businessStatusConcept('read') };
  try {
    return (await updateResource(ctx, read, task.id as string, { ifMatch: Number(task.meta?.versionId) })).resource;
  } catch {
    return (await readResource({ ...ctx, principal: GATEWAY }, 'Task', task.id as string)) as Task; // someone moved it meanwhile
  }
}

// ---------------------------------------------------------------- volets

export async function prepareVolet(e: WriteEvent): Promise<Prepared> {
  const response = e.resource as QuestionnaireResponse;
  const volet = voletOf(response);
  if (!volet) {
    throw ruleViolation(
      'A volet names its questionnaire: https://aiguillage.org/fhir/Questionnaire/volet-medical, volet-soins or volet-administratif',
      'QuestionnaireResponse.questionnaire'
    );
  }
  const previous = e.previous?.content as QuestionnaireResponse | undefined;
  if (previous && voletOf(previous) !== volet) throw ruleViolation('A volet keeps its questionnaire', 'QuestionnaireResponse.questionnaire');
  if (parseReference(response.subject?.reference)?.type !== 'Patient') throw ruleViolation('A volet needs a subject Patient/{id}', 'QuestionnaireResponse.subject');
  const p = e.ctx.principal;
  if (!p?.gateway && !hasAnyRole(p, ['admin'])) {
    if (volet !== 'administrative' && !hasAnyRole(p, ['prescriber', 'care-team'])) {
      throw forbidden(`Role(s) ${p?.roles.join(', ')} may write only the administrative volet`, 'QuestionnaireResponse.questionnaire');
    }
    if (volet === 'medical' && VALIDATED_VOLET_STATUSES.includes(response.status) && !hasAnyRole(p, ['prescriber'])) {
      throw forbidden('Only a prescriber validates the medical volet (status completed or amended); the care team saves it in-progress', 'QuestionnaireResponse.status');
    }
  }
  if (previous) {
    if (!p?.gateway && !hasAnyRole(p, ['admin'])) {
      const key = principalKey(p) ?? '';
      const { rows } = await e.q.query<{ ok: boolean }>(
        // The author's organization, or the requester of a request the volet was written for (one of the author's keys,
        // should the organization be known under another since); citing another organization's volet makes no one its requester.
        `SELECT v.author_keys @> ARRAY[$2]::text[]
                OR EXISTS (SELECT 1 FROM referral r WHERE r.module = 'referral' AND r.volet_ids @> ARRAY[v.id] AND r.requester_keys @> ARRAY[$2]::text[] AND r.requester_keys && v.author_keys) AS ok
           FROM volet v WHERE v.id = $1`,
        [e.id, key]
      );
      if (!rows[0]?.ok) throw forbidden('A volet is changed by the organization that wrote it or sent the request; a receiving unit reads it', 'QuestionnaireResponse');
    }
    if (parseReference(response.subject?.reference)?.id !== parseReference(previous.subject?.reference)?.id) throw ruleViolation('A volet keeps its subject', 'QuestionnaireResponse.subject');
    return { resource: response };
  }
  if (!p?.gateway) {
    // As a request's subject: a patient the caller may see (another organization's is answered as a missing one).
    const subject = parseReference(response.subject?.reference)?.id as string;
    const { rows } = await run<{ found: boolean }>(e.q, sql`SELECT EXISTS (SELECT 1 FROM patient t WHERE t.id = ${subject} AND ${visibleRows(p, requireKind('Patient'))}) AS found`, { prepare: true });
    if (!rows[0].found) throw ruleViolation(`Patient/${subject} does not exist`, 'QuestionnaireResponse.subject');
  }
  return { resource: response, row: { author_keys: p?.gateway ? [] : await callerKeys(e.ctx, e.q) } };
}

// ---------------------------------------------------------------- messages

function organizationReference(key: string): Reference {
  const literal = parseReference(key);
  if (literal) return { reference: key };
  const bar = key.indexOf('|');
  return { type: 'Organization', identifier: { system: key.slice(0, bar), value: key.slice(bar + 1) } };
}

/** The reference by which a side is addressed: its Organization when known, else its first key. */
function sideReference(keys: string[]): Reference {
  const organization = keys.find((k) => k.startsWith('Organization/'));
  return organizationReference(organization ?? keys.find((k) => k.includes('|')) ?? keys[0]);
}

export async function prepareMessage(e: WriteEvent): Promise<Prepared> {
  const message = e.resource as Communication;
  const previous = e.previous?.content as Communication | undefined;
  const now = e.ctx.clock.now().toISOString();
  const gateway = e.ctx.principal?.gateway === true;
  if (previous) {
    if (gateway) return { resource: message };
    const { rows } = await e.q.query<{ recipient_keys: string[] }>(`SELECT recipient_keys FROM message WHERE id = $1`, [e.id]);
    const key = principalKey(e.ctx.principal) ?? '';
    if (!rows[0]?.recipient_keys.includes(key)) throw forbidden('Only the recipient may change a message, to mark it read (received)');
    const { received: _r, ...rest } = message;
    const { received: _p, ...before } = previous;
    if (!sameJson(stripMeta(rest), stripMeta(before))) throw ruleViolation('A message does not change once sent; its recipient only sets received', 'Communication');
    if (previous.received && message.received !== previous.received) throw conflict('This message was already marked read', 'Communication.received');
    if (!message.received) throw ruleViolation('Marking a message read sets received', 'Communication.received');
    return { resource: { ...message, received: previous.received ?? now } };
  }
  const taskId = (message.partOf ?? []).map((p) => parseReference(p.reference)).find((r) => r?.type === 'Task')?.id;
  if (!taskId) throw ruleViolation('A message is about a task: partOf Task/{id}', 'Communication.partOf');
  const task = await taskRowOf(e.q, taskId);
  if (message.received) throw ruleViolation('received is set by the recipient, when it reads the message', 'Communication.received');
  let sender: string[];
  let recipient: string[];
  if (gateway) {
    if (!task) throw ruleViolation(`Task/${taskId} does not exist`, 'Communication.partOf');
    const toUnit = parseReference(message.recipient?.[0]?.reference)?.type === 'HealthcareService';
    [sender, recipient] = toUnit ? [task.requester_keys, task.owner_keys] : [task.owner_keys, task.requester_keys];
  } else {
    const key = principalKey(e.ctx.principal);
    const mine = key && task ? [task.owner_keys.includes(key) ? 'unit' : '', task.requester_keys.includes(key) ? 'prescriber' : ''].filter(Boolean) : [];
    if (!task || mine.length === 0) throw ruleViolation(`Task/${taskId} does not exist`, 'Communication.partOf');
    const fromUnit = mine[0] === 'unit';
    [sender, recipient] = fromUnit ? [task.owner_keys, task.requester_keys] : [task.requester_keys, task.owner_keys];
    if (message.sender) {
      const senderKey = referenceKey(message.sender);
      if (!senderKey || !(await organizationKeys(e.q, key as string)).includes(canonicalKey(senderKey))) {
        throw ruleViolation('The sender must be the caller’s own organization', 'Communication.sender');
      }
    }
    for (const [i, r] of (message.recipient ?? []).entries()) {
      const recipientKey = referenceKey(r);
      if (!recipientKey || !recipient.includes(canonicalKey(recipientKey))) throw ruleViolation('The recipient must be the other side of the task', `Communication.recipient[${i}]`);
    }
  }
  const resource: Communication = {
    ...message,
    sender: message.sender ?? (sideReference(sender) as Communication['sender']),
    recipient: message.recipient && message.recipient.length > 0 ? message.recipient : [sideReference(recipient) as NonNullable<Communication['recipient']>[number]],
    sent: now,
  };
  return { resource, row: { sender_keys: sender, recipient_keys: recipient } };
}

function stripMeta(resource: Resource): unknown {
  const { meta: _m, id: _i, ...rest } = resource;
  return rest;
}

export async function afterMessage(e: WriteEvent): Promise<void> {
  const message = e.resource as Communication;
  if (!e.previous && !e.ctx.principal?.gateway) {
    const { rows } = await e.q.query<{ referral_id: string; requester_keys: string[] }>(
      `SELECT t.referral_id, t.requester_keys FROM task t JOIN message m ON m.task_id = t.id WHERE m.id = $1`,
      [e.id]
    );
    if (rows[0] && rows[0].requester_keys.includes(principalKey(e.ctx.principal) ?? '')) {
      await e.q.query(`UPDATE referral SET last_prescriber_action_at = $2 WHERE id = $1`, [rows[0].referral_id, e.ctx.clock.now().toISOString()]);
      await refreshDeadlines(e.q, rows[0].referral_id, durations(e.ctx), e.ctx.scheduled);
    }
  }
  await scheduleNotifications(e.q, [message], e.ctx.clock.now(), e.ctx.scheduled);
}

/** A reminder (relance), as a message to the other side of a task. */
export function reminderMessage(taskId: string, text: string, recipient?: Reference): Communication {
  return {
    resourceType: 'Communication',
    status: 'completed',
    category: [{ coding: [{ system: MESSAGE_CATEGORY_SYSTEM, code: 'reminder', display: 'Relance' }] }],
    partOf: [{ reference: `Task/${taskId}` }],
    ...(recipient ? { recipient: [recipient as NonNullable<Communication['recipient']>[number]] } : {}),
    payload: [{ contentString: text }],
  };
}

// ---------------------------------------------------------------- operations

/** `POST Task/{id}/$remind`: a manual reminder to the other side, 72 h after the status it waits on. */
export async function remindTask(ctx: CallContext, taskId: string, text: string | undefined): Promise<Communication> {
  const run = async (q: Queryable): Promise<Communication> => {
    await readResource({ ...ctx, tx: q }, 'Task', taskId); // 404 unless visible
    const row = (await taskRowOf(q, taskId, true)) as TaskRow;
    const sides = sideOf(ctx.principal, row);
    const now = ctx.clock.now();
    const waitsOn: Record<Side, BusinessStatus> = { prescriber: 'agreed-in-principle', unit: 'accepted' };
    const side = sides.find((s) => row.business_status === waitsOn[s]);
    if (!side) {
      if (sides.length === 0) throw forbidden('Only the prescriber (role prescriber) or the unit (role receiver) of this request may send a reminder');
      throw conflict(
        `A reminder is possible on an agreement in principle not yet turned into an acceptance (prescriber), or on a proposed date not yet confirmed (unit); this task is ${row.business_status}`,
        'Task.businessStatus'
      );
    }
    const after = durations(ctx).manualReminder;
    const since = new Date(Math.max(new Date(row.status_since).getTime(), await lastReminder(q, taskId, side === 'unit' ? row.owner_keys : row.requester_keys)));
    const allowedAt = addDuration(since, after);
    if (allowedAt > now) throw conflict(`A reminder is possible ${after.text} after ${since.toISOString()}, from ${allowedAt.toISOString()}`, 'Task');
    const defaultText =
      side === 'prescriber'
        ? 'Relance du prescripteur : votre accord de principe attend une acceptation avec une date d’admission.'
        : 'Relance de l’unité : la date d’admission proposée attend votre confirmation.';
    const created = await createResource({ ...ctx, tx: q }, reminderMessage(taskId, text ?? defaultText));
    return created.resource as Communication;
  };
  return ctx.tx ? run(ctx.tx) : ctx.db.transaction(run);
}

async function lastReminder(q: Queryable, taskId: string, senderKeys: string[]): Promise<number> {
  const { rows } = await q.query<{ sent: Date | null }>(
    `SELECT max(sent) AS sent FROM message WHERE task_id = $1 AND category_codes @> ARRAY[$2]::text[] AND sender_keys && $3::text[]`,
    [taskId, `${MESSAGE_CATEGORY_SYSTEM}|reminder`, senderKeys]
  );
  return rows[0]?.sent ? new Date(rows[0].sent).getTime() : 0;
}

async function requireRequester(ctx: CallContext, q: Queryable, requestId: string): Promise<{ archived: boolean; cancelled_at: Date | null }> {
  await readResource({ ...ctx, tx: q }, 'ServiceRequest', requestId); // 404 unless visible
  const { rows } = await q.query<{ requester_keys: string[]; archived: boolean; cancelled_at: Date | null }>(
    `SELECT requester_keys, archived, cancelled_at FROM referral WHERE id = $1 FOR UPDATE`,
    [requestId]
  );
  const key = principalKey(ctx.principal);
  if (!rows[0] || !key || !rows[0].requester_keys.includes(key) || !hasAnyRole(ctx.principal, ['prescriber'])) {
    throw forbidden('Only the prescriber (role prescriber) of this request may do this');
  }
  return rows[0];
}

/** `POST ServiceRequest/{id}/$reactivate`: undoes a cancellation before archiving, restoring each task as it was. */
export async function reactivateRequest(ctx: CallContext, requestId: string): Promise<ServiceRequest> {
  const run = async (q: Queryable): Promise<ServiceRequest> => {
    const state = await requireRequester(ctx, q, requestId);
    if (state.archived) throw conflict('This request is archived: it can no longer be reactivated');
    if (!state.cancelled_at) throw conflict('This request is not cancelled: there is nothing to reactivate');
    const archivedAt = addDuration(new Date(state.cancelled_at), durations(ctx).archiving);
    if (ctx.clock.now() >= archivedAt) throw conflict(`This request was due for archiving on ${archivedAt.toISOString()}: it can no longer be reactivated`);
    const gateway = asGateway(ctx, q);
    const { rows } = await q.query<{ id: string; version: number }>(`SELECT id, version FROM task WHERE referral_id = $1 AND cancelled_with_request ORDER BY id`, [requestId]);
    for (const row of rows) {
      const { rows: before } = await q.query<{ content: Task }>(`SELECT content FROM resource_history WHERE resource_type = 'Task' AND id = $1 AND version = $2`, [row.id, row.version - 1]);
      const { meta: _m, ...restored } = before[0].content;
      await updateResource(gateway, { ...restored, meta: (await readResource(gateway, 'Task', row.id)).meta } as Task, row.id);
    }
    const now = ctx.clock.now().toISOString();
    await q.query(
      `UPDATE referral SET cancelled_at = NULL, reminder_sent_at = NULL, last_prescriber_action_at = $2 WHERE id = $1`,
      [requestId, now]
    );
    const current = (await readResource(gateway, 'ServiceRequest', requestId)) as ServiceRequest;
    // Back to the status it had before its cancellation (a cancelled draft stays a draft).
    const { rows: before } = await q.query<{ status: string }>(
      `SELECT content->>'status' AS status FROM resource_history WHERE resource_type = 'ServiceRequest' AND id = $1 AND content->>'status' <> 'revoked' ORDER BY version DESC LIMIT 1`,
      [requestId]
    );
    const status = (before[0]?.status ?? 'active') as ServiceRequest['status'];
    const result = current.status === status ? current : ((await updateResource(gateway, { ...current, status }, requestId)).resource as ServiceRequest);
    await refreshDeadlines(q, requestId, durations(ctx), ctx.scheduled);
    return result;
  };
  return ctx.tx ? run(ctx.tx) : ctx.db.transaction(run);
}

/** `POST ServiceRequest/{id}/$copy`: a new request for the same patient from an earlier one, with a copy of its administrative volet. */
export async function copyRequest(ctx: CallContext, requestId: string, performers: Reference[]): Promise<ServiceRequest> {
  const run = async (q: Queryable): Promise<ServiceRequest> => {
    await requireRequester(ctx, q, requestId);
    const earlier = (await readResource({ ...ctx, tx: q }, 'ServiceRequest', requestId)) as ServiceRequest;
    const supportingInfo: Reference[] = [];
    for (const info of earlier.supportingInfo ?? []) {
      const ref = parseReference(info.reference);
      if (ref?.type !== 'QuestionnaireResponse') continue;
      const volet = (await readResource({ ...ctx, tx: q }, 'QuestionnaireResponse', ref.id)) as QuestionnaireResponse;
      if (voletOf(volet) !== 'administrative') continue;
      const { id: _i, meta: _m, ...copy } = volet;
      const created = await createResource({ ...ctx, tx: q }, copy as QuestionnaireResponse);
      supportingInfo.push({ reference: `QuestionnaireResponse/${created.resource.id}` });
    }
    const { id: _i, meta: _m, authoredOn: _a, performer: _p, supportingInfo: _s, identifier: _d, ...rest } = earlier;
    const request: ServiceRequest = {
      ...rest,
      status: 'active',
      performer: performers as ServiceRequest['performer'],
      replaces: [{ reference: `ServiceRequest/${requestId}` }],
      ...(supportingInfo.length > 0 ? { supportingInfo } : {}),
    };
    return (await createResource({ ...ctx, tx: q }, request)).resource as ServiceRequest;
  };
  if (performers.length === 0) throw ruleViolation('$copy needs the candidate units: parameter performer (valueReference HealthcareService/{id})', 'Parameters.parameter');
  return ctx.tx ? run(ctx.tx) : ctx.db.transaction(run);
}

/**
 * Task: a unit's part of an admission request (its status along the table
 * of mappings/referral.ts, moved by the unit or the prescriber), or an
 * ESMS's part of an orientation decision (decision/decision-task.ts).
 * Confirming one unit cancels the request's other open tasks; a unit's
 * first read of a task sent to it marks it read. SDO Tasks pushed by ESMS
 * software are kept as sent and move the decision's task (decision/sdo.ts).
 */
import type { Resource, Task } from '@medplum/fhirtypes';
import { SDO_TASK_PROFILE } from '../../../mappings/decision/codes.js';
import { parseReference } from '../../../mappings/reference.js';
import {
  allowedMoves,
  businessStatusConcept,
  businessStatusOf,
  isBusinessStatus,
  OPEN_STATUSES,
  reasonOf,
  REASONS_BY_MOVE,
  REFERRAL_FLAG_SYSTEM,
  STATUS_TABLE,
  taskRow,
  type BusinessStatus,
} from '../../../mappings/referral.js';
import type { Row } from '../../../mappings/resource-rows.js';
import { conflict, forbidden, preconditionRequired, ruleViolation } from '../../core/outcomes.js';
import { sql } from '../../store/sql.js';
import { lockReferralOfTask, recordPrescriberAction } from '../../store/tables/referral.js';
import { lockTasksOfReferral, TASK_COLUMNS, taskParties, tasksOwnedBy } from '../../store/tables/task.js';
import { COMMON_PARAMS, REQUEST_ROLES, TAG_PARAM, token } from '../common-params.js';
import { isDecisionReference, prepareDecisionTask } from '../decision/decision-task.js';
import { afterSdoRecord, isSdoRecord, prepareSdo, presentTasks } from '../decision/sdo.js';
import type { CallContext, Prepared, Repository, ResourceKind, WriteEvent } from '../kind.js';
import { principalKey } from '../parties.js';
import { GATEWAY, hasAnyRole } from '../../core/principal.js';
import { cancelTask } from './cancel.js';
import { asGateway, PRESCRIBER_SIDE, sameJson, sidesOf } from './shared.js';

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

/** The unit's answers: the first of them ends the wait the indicators measure. */
const ANSWERS: readonly BusinessStatus[] = ['agreed-in-principle', 'accepted', 'refused'];

/** What a move tells the indicators: first read, first answer, admission, and the reason of a refusal or a cancellation. */
function indicatorFacts(from: BusinessStatus, to: BusinessStatus, task: Task, now: string): Row {
  const facts: Row = {};
  if (from === 'sent' && to !== 'cancelled') facts.read_at = now;
  if ((from === 'sent' || from === 'read') && ANSWERS.includes(to)) facts.answered_at = now;
  if (to === 'admitted') facts.admitted_at = now;
  if (to === 'refused' || to === 'cancelled') facts.status_reason = reasonOf(task) ?? null;
  return facts;
}

/** Keeps the gateway's archive flag as stored, whatever the sender wrote in meta.tag. */
function keepFlags(task: Task, previous: Task | undefined): Task {
  const own = (task.meta?.tag ?? []).filter((t) => t.system !== REFERRAL_FLAG_SYSTEM);
  const flags = (previous?.meta?.tag ?? []).filter((t) => t.system === REFERRAL_FLAG_SYSTEM);
  const tag = [...own, ...flags];
  const { tag: _t, ...meta } = task.meta ?? {};
  return { ...task, meta: tag.length > 0 ? { ...meta, tag } : meta };
}

async function prepareTask(e: WriteEvent): Promise<Prepared> {
  const sdo = await prepareSdo(e);
  if (sdo) return sdo;
  if (e.previous && isDecisionReference((e.previous.content as Task).focus)) return prepareDecisionTask(e);
  const task = e.resource as Task;
  const previous = e.previous?.content as Task | undefined;
  const gateway = e.ctx.principal?.gateway === true;
  const now = e.ctx.clock.now().toISOString();
  const to = businessStatusOf(task);
  if (!isBusinessStatus(to)) throw ruleViolation(`Task.businessStatus must be a code of https://aiguillage.org/fhir/CodeSystem/referral-status`, 'Task.businessStatus');
  if (task.status !== STATUS_TABLE[to].taskStatus) throw ruleViolation(`businessStatus ${to} goes with status ${STATUS_TABLE[to].taskStatus}, not ${task.status}`, 'Task.status');

  // The tasks of a request are created by the gateway, one per unit in ServiceRequest.performer.
  if (!previous) throw ruleViolation('The tasks of an admission request are created by the gateway, one per unit in ServiceRequest.performer', 'Task');

  const from = businessStatusOf(previous) as BusinessStatus;
  const resource = gateway ? { ...task, lastModified: now } : keepFlags({ ...task, lastModified: now }, previous);
  const row: Row = from !== to ? { status_since: now, previous_business_status: from, cancelled_with_request: false, ...indicatorFacts(from, to, task, now) } : {};
  if (gateway) return { resource, row };

  for (const field of TASK_FIXED) {
    if (!sameJson(task[field], previous[field])) throw ruleViolation(`Task.${String(field)} is set by the gateway and cannot change`, `Task.${String(field)}`);
  }
  const stored = await taskParties(e.q, e.id);
  if (!stored) throw ruleViolation(`Task/${e.id} does not exist`, 'Task');
  if (stored.archived) throw conflict('This task is archived and can no longer change');
  if (e.ctx.ifMatch === undefined) throw preconditionRequired('A task is changed with If-Match: the version the change is made on (W/"n")');
  const sides = sidesOf(e.ctx.principal, stored);
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
  // Task.note holds the unit's own notes (seed 002: "visibles uniquement par les utilisateurs VT de l'unité"):
  // the prescriber never sees them, so its changes keep them, and it writes to the unit with a Communication.
  if (!sides.includes('unit')) {
    if (task.note !== undefined && !sameJson(task.note, previous.note)) {
      throw ruleViolation('Task.note holds the receiving unit’s private notes; the prescriber writes to the unit with a Communication', 'Task.note');
    }
    const { note: _note, ...rest } = resource;
    return { resource: previous.note ? { ...rest, note: previous.note } : rest, row };
  }
  return { resource, row };
}

/**
 * Tasks as their caller sees them: ESMS software sees a decision's in the
 * SDO shape, and only the unit's organization sees the unit's notes
 * (Task.note) of a request's task.
 */
async function presentTask(ctx: CallContext, tasks: Resource[]): Promise<Resource[]> {
  const shown = await presentTasks(ctx, tasks);
  const p = ctx.principal;
  if (p?.gateway || hasAnyRole(p, ['admin'])) return shown;
  const noted = shown.filter((t) => (t as Task).note !== undefined && !isDecisionReference((t as Task).focus));
  if (noted.length === 0) return shown;
  const key = principalKey(p);
  const own = key ? await tasksOwnedBy(ctx.tx ?? ctx.db, noted.map((t) => t.id as string), key) : new Set<string>();
  return shown.map((t) => {
    if (!noted.includes(t) || own.has(t.id as string)) return t;
    const { note: _note, ...rest } = t as Task;
    return rest;
  });
}

async function afterTask(e: WriteEvent): Promise<void> {
  const task = e.resource as Task;
  const previous = e.previous?.content as Task | undefined;
  if (isSdoRecord(task)) return afterSdoRecord(e);
  if (isDecisionReference(task.focus) || !previous || e.ctx.principal?.gateway === true) return;
  const referralId = parseReference(task.focus?.reference)?.id as string;
  const stored = await taskParties(e.q, e.id);
  if (stored?.requester_keys.includes(principalKey(e.ctx.principal) ?? '') && hasAnyRole(e.ctx.principal, PRESCRIBER_SIDE)) {
    await recordPrescriberAction(e.q, referralId, e.ctx.clock.now().toISOString());
  }
  if (businessStatusOf(task) === 'confirmed' && businessStatusOf(previous) !== 'confirmed') {
    // Confirming one unit cancels every other open task of the request, in this transaction.
    for (const other of await lockTasksOfReferral(e.q, referralId, OPEN_STATUSES, e.id)) await cancelTask(asGateway(e.ctx, e.q), e.repo, other, 'other-unit-chosen', false);
  }
}

/** A unit's first read of a task it received moves it to `read` (DESIGN: "automatically on first read"). */
async function onTaskRead(ctx: CallContext, task: Resource, repo: Repository): Promise<Resource> {
  if (businessStatusOf(task as Task) !== 'sent' || !hasAnyRole(ctx.principal, ['receiver'])) return task;
  const row = await taskParties(ctx.tx ?? ctx.db, task.id as string);
  if (!row || !sidesOf(ctx.principal, row).includes('unit')) return task;
  const read: Task = { ...(task as Task), status: 'received', businessStatus: businessStatusConcept('read') };
  try {
    return (await repo.update(ctx, read, task.id as string, { ifMatch: Number(task.meta?.versionId) })).resource;
  } catch {
    return repo.read({ ...ctx, principal: GATEWAY }, 'Task', task.id as string); // someone moved it meanwhile
  }
}

export const TASK: ResourceKind<Task> = {
  type: 'Task',
  table: 'task',
  columns: TASK_COLUMNS,
  toRow: taskRow,
  profiles: [],
  supportedProfiles: [SDO_TASK_PROFILE],
  searchParams: [
    ...COMMON_PARAMS,
    { code: 'focus', type: 'reference', kind: 'reference', column: 'referral_id', target: 'ServiceRequest', documentation: 'The request (ServiceRequest) of the task' },
    { code: 'patient', type: 'reference', kind: 'reference', column: 'patient_id', target: 'Patient', documentation: 'The patient' },
    { ...token('owner', 'owner_keys', 'The unit: HealthcareService/id, its Organization/id, or an identifier system|value of either'), expression: 'Task.owner' },
    { ...token('requester', 'requester_keys', 'The prescriber’s organization: Organization/id or its identifier system|value'), expression: 'Task.requester' },
    { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'requested | received | accepted | in-progress | completed | rejected | cancelled' },
    token('business-status', 'business_status_tokens', 'https://aiguillage.org/fhir/CodeSystem/referral-status code: sent, read, agreed-in-principle, accepted, confirmed, admitted, refused, cancelled'),
    { ...TAG_PARAM, documentation: 'A tag, e.g. https://aiguillage.org/fhir/CodeSystem/referral-flag|archived' },
    { code: 'expiring-within', type: 'special', kind: 'days-ahead', column: 'validity_end', documentation: 'Tasks of orientation decisions whose validity ends within N days from today', expression: 'Task.focus.resolve().occurrence.ofType(Period).end' },
    { code: 'validity-alert', type: 'token', kind: 'validity-alert', column: 'validity_end', documentation: 'Tasks of orientation decisions by the colour of their end of validity: expired, red (30 days or less), orange (31 to 90), green (beyond)', expression: 'Task.focus.resolve().occurrence.ofType(Period).end' },
  ],
  includes: [
    { param: 'focus', target: 'ServiceRequest', column: 'referral_id', array: false },
    { param: 'patient', target: 'Patient', column: 'patient_id', array: false },
    { param: 'owner', target: 'HealthcareService', column: 'owner_service_id', array: false },
  ],
  access: {
    read: REQUEST_ROLES,
    write: ['prescriber', 'portal', 'receiver', 'esms', 'mdph', 'admin'],
    visibleTo: (key) => sql`(t.owner_keys @> ARRAY[${key}]::text[] OR t.requester_keys @> ARRAY[${key}]::text[])`,
    partiesWrite: true,
  },
  patientData: true,
  subscribable: true,
  clientIds: false,
  rules: {
    prepare: prepareTask,
    after: afterTask,
    onRead: onTaskRead,
    present: presentTask,
    // A task's request is locked before the task: cascades and deadlines lock the request first too.
    lockFirst: (q, id) => lockReferralOfTask(q, id),
  },
};

/**
 * The SDO flows of ESMS software (profile sdo-task), as rules of the Task
 * kind (so within the one write path):
 *
 * - a pushed SDO Task is kept as the ESMS sent it (a Task of its own, module
 *   `sdo`, readable by that ESMS and the decision's MDPH), and the decision's
 *   own task for that ESMS is moved to the status it says, as any status
 *   change (same moves, same access checks: `prepareDecisionTask`);
 * - an SDO Task put over a decision's task (what an ESMS does with a task it
 *   pulled in the SDO shape) moves that task;
 * - ESMS software is shown decisions' tasks in the guide's shape.
 */
import type { Resource, Task } from '@medplum/fhirtypes';
import { FINESS_SYSTEM } from '../../../mappings/decision/codes.js';
import { decisionTaskMovedBy, isSdoTask, repeatedSlices, sdoInputText, sdoStatusOf, sdoViewOf } from '../../../mappings/decision/sdo.js';
import { esmsStatusOf, isEsmsStatus, type EsmsStatus } from '../../../mappings/decision/statuses.js';
import { ID_NAT_DECISION_SYSTEM } from '../../../mappings/decision/codes.js';
import { conflict, forbidden, notFound, ruleViolation, unauthorized } from '../../core/outcomes.js';
import { hasAnyRole } from '../../core/principal.js';
import { decisionTaskForEsms, decisionTaskParties, sdoFactsOf } from '../../store/tables/task.js';
import type { CallContext, Prepared, WriteEvent } from '../kind.js';
import { principalKey } from '../parties.js';
import { isDecisionReference, prepareDecisionTask } from './decision-task.js';


/** Whether a stored Task is an SDO Task kept as an ESMS sent it (not a decision's or a request's own task). */
export function isSdoRecord(task: Resource | undefined): boolean {
  return isSdoTask(task) && !isDecisionReference(task.focus);
}

/** What an SDO Task says: the decision it names, for the caller's ESMS, and the status (checked). */
async function readPush(e: WriteEvent, sdo: Task): Promise<{ taskId: string; status: EsmsStatus }> {
  const principal = e.ctx.principal;
  if (!principal) throw unauthorized();
  if (!hasAnyRole(principal, ['esms'])) throw forbidden('SDO Tasks are pushed by ESMS software (role esms)');
  const repeated = repeatedSlices(sdo);
  if (repeated.length > 0) throw ruleViolation(`Each input of an SDO Task is given once at most: ${repeated.join(', ')} repeated`, 'Task.input');
  const national = sdoInputText(sdo, 'idNat_Decision');
  const status = sdoStatusOf(sdo);
  if (!national) throw ruleViolation('The SDO Task names its decision: input idNat_Decision', 'Task.input');
  if (!isEsmsStatus(status)) throw ruleViolation('input statutESMS is a JDV_J252 code', 'Task.input');
  // The ESMS is the caller (its token), not idNat_Struct: the guide's examples carry a placeholder there.
  const taskId = await decisionTaskForEsms(e.q, ID_NAT_DECISION_SYSTEM, national, principalKey(principal) ?? '');
  // Another ESMS's decision, or none: the same answer.
  if (!taskId) throw notFound(`No decision ${national} targets this ESMS (a decision that did not target it can be claimed with ServiceRequest/$claim)`);
  return { taskId, status };
}

/**
 * An SDO Task written as a Task of its own (create, or update of one the
 * ESMS pushed before): stored as sent, visible to the parties of the
 * decision's task it names; the move itself follows in `afterSdoRecord`.
 */
async function prepareSdoRecord(e: WriteEvent): Promise<Prepared> {
  const sdo = e.resource as Task;
  if (!isSdoTask(sdo)) throw ruleViolation('An SDO Task pushed by an ESMS is replaced by an SDO Task (meta.profile sdo-task)', 'Task.meta.profile');
  // The gateway changes no ESMS's push (it has no organization to push for); kept as is should it rewrite one.
  if (e.ctx.principal?.gateway) return { resource: sdo, row: { module: 'sdo', status_since: e.ctx.clock.now().toISOString() } };
  const { taskId } = await readPush(e, sdo);
  if (e.previous) {
    const before = await readPush(e, e.previous.content as Task);
    if (before.taskId !== taskId) throw conflict(`Task/${e.id} is about the decision's task Task/${before.taskId}, not Task/${taskId}: push a new SDO Task`, 'Task.input');
  }
  const parties = await decisionTaskParties(e.q, taskId);
  if (!parties) throw notFound(`Task/${taskId} not found`);
  return {
    resource: sdo,
    row: { module: 'sdo', owner_keys: parties.owner_keys, requester_keys: parties.requester_keys, status_since: e.ctx.clock.now().toISOString() },
  };
}

/** After an SDO Task is stored: the decision's task it names moves to its status (same rules as any move). */
export async function afterSdoRecord(e: WriteEvent): Promise<void> {
  if (e.ctx.principal?.gateway) return;
  const sdo = e.resource as Task;
  const { taskId, status } = await readPush(e, sdo);
  const current = (await e.repo.read(e.ctx, 'Task', taskId)) as Task;
  if (status === esmsStatusOf(current)) return;
  await e.repo.update(e.ctx, decisionTaskMovedBy(current, sdo, status), taskId);
}

/**
 * The rules of a write involving an SDO Task, or undefined when there is
 * none: an SDO Task kept as sent, or one put over a decision's own task.
 */
export async function prepareSdo(e: WriteEvent): Promise<Prepared | undefined> {
  const previous = e.previous?.content as Task | undefined;
  if (previous && isDecisionReference(previous.focus)) {
    if (!isSdoTask(e.resource)) return undefined;
    const sdo = e.resource;
    const { taskId, status } = await readPush(e, sdo);
    if (taskId !== e.id) throw conflict(`Task/${e.id} is not the task of decision ${sdoInputText(sdo, 'idNat_Decision')} for this ESMS (Task/${taskId} is)`, 'Task.input');
    // statutESMS is the guide's field (a businessStatus left as pulled follows it); a businessStatus moved elsewhere is refused, not ignored.
    const business = esmsStatusOf(sdo);
    if (business !== undefined && business !== status && business !== esmsStatusOf(previous)) {
      throw ruleViolation(`businessStatus (${business}) and input statutESMS (${status}) disagree: the status an SDO Task sets is its statutESMS; give the same in both, or leave businessStatus as pulled`, 'Task.businessStatus');
    }
    return prepareDecisionTask({ ...e, resource: decisionTaskMovedBy(previous, sdo, status) });
  }
  if (isSdoRecord(previous) || (!previous && isSdoTask(e.resource))) return prepareSdoRecord(e);
  return undefined;
}

/**
 * What ESMS software is shown of Tasks: the decisions' tasks it owns in the
 * guide's shape (profile sdo-task); everything else as stored.
 */
export async function presentTasks(ctx: CallContext, tasks: Resource[]): Promise<Resource[]> {
  if (!hasAnyRole(ctx.principal, ['esms']) || hasAnyRole(ctx.principal, ['admin', 'mdph'])) return tasks;
  const decisionTasks = tasks.filter((t) => isDecisionReference((t as Task).focus));
  if (decisionTasks.length === 0) return tasks;
  const facts = await sdoFactsOf(ctx.tx ?? (ctx.db), decisionTasks.map((t) => t.id as string), FINESS_SYSTEM);
  return tasks.map((t) => {
    const f = facts.get(t.id as string);
    const status = esmsStatusOf(t as Task);
    if (!f || !isEsmsStatus(status)) return t;
    return sdoViewOf(t as Task, { finess: f.finess, esmsName: f.esms_name ?? undefined, decisionIds: f.decision_ids ?? [] }, status);
  });
}

/**
 * The SDO flows of ESMS software (profile sdo-task): a pushed SDO Task is
 * mapped onto the task of the decision it names (idNat_Decision) for the
 * caller's ESMS, then moved as any status change (same rules).
 */
import type { Task, TaskInput } from '@medplum/fhirtypes';
import { ID_NAT_DECISION_SYSTEM, SDO_TASK_PROFILE } from '../../../mappings/decision/codes.js';
import { esmsStatusConcept, esmsStatusOf, ESMS_STATUSES, isEsmsStatus } from '../../../mappings/decision/statuses.js';
import { conflict, forbidden, notFound, ruleViolation, unauthorized } from '../../core/outcomes.js';
import { decisionTaskForEsms } from '../../store/tables/task.js';
import type { CallContext, WriteResult } from '../kind.js';
import { principalKey } from '../parties.js';
import { hasAnyRole } from '../../core/principal.js';
import { readResource, unitOfWork, updateResource } from '../repository.js';

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

/** Whether a body claims the SDO Task profile (ESMS software's status pushes). */
export function isSdoTask(body: unknown): boolean {
  return (body as Task | undefined)?.resourceType === 'Task' && ((body as Task).meta?.profile ?? []).includes(SDO_TASK_PROFILE);
}

/** An SDO Task pushed by ESMS software, create (`id` absent) or update: the decision's task moved to the status it says. */
export async function pushSdoTask(ctx: CallContext, sdo: Task, id?: string): Promise<WriteResult> {
  return unitOfWork(ctx, async (unit) => {
    if (!unit.principal) throw unauthorized();
    if (!hasAnyRole(unit.principal, ['esms', 'mdph'])) throw forbidden('SDO statuses are pushed by ESMS software (role esms)');
    const national = inputText(sdo, 'idNat_Decision');
    const status = input(sdo, 'statutESMS')?.valueCodeableConcept?.coding?.find((c) => c.code)?.code;
    if (!national) throw ruleViolation('The SDO Task names its decision: input idNat_Decision', 'Task.input');
    if (!isEsmsStatus(status)) throw ruleViolation('input statutESMS is a JDV_J252 code', 'Task.input');
    const taskId = await decisionTaskForEsms(unit.tx, ID_NAT_DECISION_SYSTEM, national, principalKey(unit.principal) ?? '');
    // Another ESMS's decision, or none: the same answer.
    if (!taskId) throw notFound(`No decision ${national} targets this ESMS (a decision that did not target it can be claimed with ServiceRequest/$claim)`);
    if (id !== undefined && id !== taskId) throw conflict(`Task/${id} is not the task of decision ${national} for this ESMS (Task/${taskId} is)`, 'Task.id');
    const current = (await readResource(unit, 'Task', taskId)) as Task;
    if (status === esmsStatusOf(current)) return { resource: current, created: false, skipped: 'unchanged' };
    const motif = input(sdo, 'motifESMS') ?? input(sdo, 'motifUnite');
    const moved: Task = {
      ...current,
      status: ESMS_STATUSES[status].taskStatus,
      businessStatus: esmsStatusConcept(status),
      ...(motif?.valueCodeableConcept ? { statusReason: motif.valueCodeableConcept } : {}),
      input: sdo.input,
    };
    return updateResource(unit, moved, taskId);
  });
}

/**
 * The task of an orientation decision for one ESMS: who may set which
 * TRE_R357 status (DECISION_MOVES, in mappings), and the reason an
 * "admission impossible" carries.
 */
import type { Reference, Task } from '@medplum/fhirtypes';
import { canonicalJson } from '../../../mappings/canonical-json.js';
import { isDecisionId } from '../../../mappings/decision/resources.js';
import { ADMITTED_STATUSES, decisionMoves, esmsStatusConcept, esmsStatusOf, ESMS_STATUSES, isEsmsStatus, type DecisionSide, type EsmsStatus } from '../../../mappings/decision/statuses.js';
import { parseReference } from '../../../mappings/reference.js';
import type { Row } from '../../../mappings/resource-rows.js';
import { conflict, forbidden, ruleViolation } from '../../core/outcomes.js';
import { decisionTaskParties } from '../../store/tables/task.js';
import type { Prepared, WriteEvent } from '../kind.js';
import { principalKey } from '../parties.js';
import { hasAnyRole, type Principal } from '../../core/principal.js';

const FIXED: (keyof Task)[] = ['focus', 'for', 'owner', 'requester', 'intent', 'authoredOn', 'identifier', 'basedOn', 'partOf'];

function sidesOf(principal: Principal | undefined, row: { owner_keys: string[]; requester_keys: string[] }): DecisionSide[] {
  const key = principalKey(principal);
  if (!key) return [];
  const sides: DecisionSide[] = [];
  if (row.owner_keys.includes(key) && hasAnyRole(principal, ['esms'])) sides.push('esms');
  if (row.requester_keys.includes(key) && hasAnyRole(principal, ['mdph'])) sides.push('mdph');
  return sides;
}

function reasonCode(task: Task): string | undefined {
  return task.statusReason?.coding?.find((c) => c.code)?.code;
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
  const stored = await decisionTaskParties(e.q, e.id);
  const sides = stored ? sidesOf(e.ctx.principal, stored) : [];
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

/** Whether a reference names an orientation decision (written by imports, not through the REST API). */
export function isDecisionReference(reference: Reference | undefined): boolean {
  return isDecisionId(parseReference(reference?.reference)?.id);
}

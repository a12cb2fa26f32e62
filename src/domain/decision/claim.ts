/**
 * `ServiceRequest/$claim`: an ESMS that a decision did not target puts it on
 * its list with the person's individual number and birth date ("déclarer une
 * notification"). A wrong pair gives the same 404 whether or not the person
 * exists, and counts towards the lockout of the client and of the
 * individual number (claim-limit.ts).
 */
import type { Task } from '@medplum/fhirtypes';
import { FINESS_SYSTEM } from '../../../mappings/decision/codes.js';
import { decisionIds } from '../../../mappings/decision/resources.js';
import { forbidden, notFound } from '../../core/outcomes.js';
import type { Queryable } from '../../store/db.js';
import { claimableDecisions } from '../../store/tables/referral.js';
import { existingTasks } from '../../store/tables/task.js';
import type { CallContext } from '../kind.js';
import { organizationKeys, principalKey } from '../parties.js';
import { hasAnyRole } from '../../core/principal.js';
import { readResource, unitOfWork } from '../repository.js';
import { DEFAULT_CLAIM_LIMIT } from '../settings.js';
import { checkClaimLimit, claimKeys, recordClaimFailure } from './claim-limit.js';
import { createDecisionTasks } from './import-write.js';

/** Claims the valid decisions of a person for the caller's ESMS; returns the tasks the ESMS now has for them. */
export async function claimDecisions(ctx: CallContext, individual: string, birthDate: string, department?: string): Promise<Task[]> {
  if (!hasAnyRole(ctx.principal, ['esms'])) throw forbidden('Decisions are claimed by an ESMS (role esms)');
  const limit = ctx.claimLimit ?? DEFAULT_CLAIM_LIMIT;
  const limitKeys = claimKeys(ctx.principal?.clientId ?? '', individual);
  const tasks = await unitOfWork(ctx, async (unit): Promise<Task[] | undefined> => {
    const q = unit.tx;
    const keys = await organizationKeys(q, principalKey(unit.principal) ?? '');
    const finess = keys.find((k) => k.startsWith(`${FINESS_SYSTEM}|`))?.slice(FINESS_SYSTEM.length + 1);
    if (!finess) throw forbidden('A claiming ESMS is known by its FINESS number: its token’s organization must be, or have, one');
    await checkClaimLimit(q, limitKeys, limit, unit.clock.now());
    const decisions = await claimableDecisions(q, { individual, birthDate, department, today: unit.clock.now().toISOString().slice(0, 10) });
    if (decisions.length === 0) {
      // Recorded (and committed) before the 404 is answered: within a Bundle's transaction, which the 404 rolls back, on its own.
      const record = (r: Queryable): Promise<void> => recordClaimFailure(unit, r, limitKeys, individual, limit);
      await (ctx.tx ? ctx.db.transaction(record) : record(q));
      return undefined;
    }
    const ids = decisions.map((r) => decisionIds.task(r.id, finess));
    const have = await existingTasks(q, ids);
    for (const r of decisions) {
      if (have.has(decisionIds.task(r.id, finess))) continue;
      const task = { decisionId: r.id, patientId: r.patient_id, finess, category: r.esms_category, individual, validFrom: r.validity_start, validTo: r.validity_end };
      await createDecisionTasks(unit, r.department, [task], unit.clock.now().toISOString(), true);
    }
    // What the ESMS has on its list for this person now (claimed or targeted before).
    const mine = [...(await existingTasks(q, ids))].sort();
    const found: Task[] = [];
    for (const id of mine) found.push((await readResource(unit, 'Task', id)) as Task);
    return found;
  });
  if (!tasks) throw notFound('No valid decision matches this individual number and birth date');
  return tasks;
}

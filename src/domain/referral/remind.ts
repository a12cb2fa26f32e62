/** `POST Task/{id}/$remind`: a manual reminder (relance) to the other side of a task, 72 h after the status it waits on. */
import type { Communication } from '@medplum/fhirtypes';
import { addDuration } from '../../../mappings/duration.js';
import { MESSAGE_CATEGORY_SYSTEM, type BusinessStatus, type Side } from '../../../mappings/referral.js';
import { conflict, forbidden } from '../../core/outcomes.js';
import { lastSent } from '../../store/tables/message.js';
import { taskParties, type TaskParties } from '../../store/tables/task.js';
import type { CallContext } from '../kind.js';
import { createResource, readResource, unitOfWork } from '../repository.js';
import { reminderMessage } from './message.js';
import { durations, sidesOf } from './shared.js';

/** What each side's reminder waits on. */
const WAITS_ON: Record<Side, BusinessStatus> = { prescriber: 'agreed-in-principle', unit: 'accepted' };

const DEFAULT_TEXT: Record<Side, string> = {
  prescriber: 'Relance du prescripteur : votre accord de principe attend une acceptation avec une date d’admission.',
  unit: 'Relance de l’unité : la date d’admission proposée attend votre confirmation.',
};

/** Sends the reminder as a message of the caller's side (409 before 72 h, or on another status). */
export async function remindTask(ctx: CallContext, taskId: string, text: string | undefined): Promise<Communication> {
  return unitOfWork(ctx, async (unit) => {
    await readResource(unit, 'Task', taskId); // 404 unless visible
    const row = (await taskParties(unit.tx, taskId, true)) as TaskParties;
    const sides = sidesOf(unit.principal, row);
    const side = sides.find((s) => row.business_status === WAITS_ON[s]);
    if (!side) {
      if (sides.length === 0) throw forbidden('Only the prescriber (role prescriber) or the unit (role receiver) of this request may send a reminder');
      throw conflict(
        `A reminder is possible on an agreement in principle not yet turned into an acceptance (prescriber), or on a proposed date not yet confirmed (unit); this task is ${row.business_status}`,
        'Task.businessStatus'
      );
    }
    const after = durations(unit).manualReminder;
    const previous = await lastSent(unit.tx, taskId, `${MESSAGE_CATEGORY_SYSTEM}|reminder`, side === 'unit' ? row.owner_keys : row.requester_keys);
    const since = new Date(Math.max(new Date(row.status_since).getTime(), previous));
    const allowedAt = addDuration(since, after);
    if (allowedAt > unit.clock.now()) throw conflict(`A reminder is possible ${after.text} after ${since.toISOString()}, from ${allowedAt.toISOString()}`, 'Task');
    return (await createResource(unit, reminderMessage(taskId, text ?? DEFAULT_TEXT[side]))).resource as Communication;
  });
}

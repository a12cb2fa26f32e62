/** Cancelling the tasks of an admission request as the gateway: one unit's, or every open one with the request. */
import type { Task } from '@medplum/fhirtypes';
import { businessStatusConcept, OPEN_STATUSES, reasonConcept, type BusinessStatus, type Reason } from '../../../mappings/referral.js';
import type { Queryable } from '../../store/db.js';
import { recordCancellation } from '../../store/tables/referral.js';
import { lockTaskStatus, lockTasksOfReferral, markCancelledWithRequest } from '../../store/tables/task.js';
import type { CallContext, Repository } from '../kind.js';

/** Cancels a task as the gateway, keeping what it was (for $reactivate when `withRequest`). */
export async function cancelTask(ctx: CallContext & { tx: Queryable }, repo: Repository, taskId: string, reason: Reason, withRequest: boolean): Promise<void> {
  // Locked, then read: a move committed meanwhile (an admission, a refusal) is seen, and kept.
  const status = await lockTaskStatus(ctx.tx, taskId);
  if (!status || !OPEN_STATUSES.includes(status as BusinessStatus)) return;
  const current = (await repo.read(ctx, 'Task', taskId)) as Task;
  const cancelled: Task = { ...current, status: 'cancelled', businessStatus: businessStatusConcept('cancelled'), statusReason: reasonConcept(reason) };
  await repo.update(ctx, cancelled, taskId);
  if (withRequest) await markCancelledWithRequest(ctx.tx, taskId);
}

/** Cancels every open task of a request and marks the request cancelled (request-wide cancellation). */
export async function cancelRequestTasks(ctx: CallContext & { tx: Queryable }, repo: Repository, referralId: string, reason: Reason): Promise<void> {
  for (const id of await lockTasksOfReferral(ctx.tx, referralId, OPEN_STATUSES)) await cancelTask(ctx, repo, id, reason, true);
  await recordCancellation(ctx.tx, referralId, ctx.clock.now().toISOString());
}

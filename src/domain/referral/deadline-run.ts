/**
 * Running a deadline that fired (queue `deadlines`): in one transaction,
 * checks that its job is still pending and that the request's state still
 * calls for it now, does it as the gateway (recorded under its name), marks
 * the job done and plans the next one. Run twice, it does it once.
 */
import type { ServiceRequest, Task } from '@medplum/fhirtypes';
import type { ReferralDurations } from '../../../mappings/duration.js';
import { REFERRAL_FLAG_SYSTEM } from '../../../mappings/referral.js';
import { DEADLINES_QUEUE, type DeadlineJob, type DeadlineKind } from '../../jobs/catalogue.js';
import { completeJob, type ScheduledJob } from '../../jobs/schedule.js';
import type { Database, Queryable } from '../../store/db.js';
import { isPending } from '../../store/tables/job-schedule.js';
import { lockReferral, recordArchiving, recordReminder } from '../../store/tables/referral.js';
import { lockTasksOfReferral, tasksInStatus } from '../../store/tables/task.js';
import { auditTrail } from '../audit/trail.js';
import type { Clock } from '../clock.js';
import { GATEWAY } from '../../core/principal.js';
import { createResource, flushEvents, readResource, repository, updateResource, type UnitContext } from '../repository.js';
import { cancelRequestTasks } from './cancel.js';
import { loadDeadlineState, nextDeadline, refreshDeadlines } from './deadlines.js';
import { reminderMessage } from './message.js';

/** Runs a deadline; returns what it did (nothing, when it no longer applies) and the jobs it recorded. */
export async function runDeadline(
  deps: { db: Database; clock: Clock; durations: ReferralDurations; complete?: (q: Queryable) => Promise<void> },
  jobId: string,
  data: DeadlineJob
): Promise<{ done?: DeadlineKind; scheduled: ScheduledJob[] }> {
  const scheduled: ScheduledJob[] = [];
  const done = await deps.db.transaction(async (q) => {
    // The request first, then the job: the order every writer of a request follows.
    await lockReferral(q, data.referral);
    if (!(await isPending(q, DEADLINES_QUEUE, jobId, true))) return undefined;
    const now = deps.clock.now();
    const state = await loadDeadlineState(q, data.referral, false);
    const next = state ? nextDeadline(state, deps.durations) : undefined;
    const unit: UnitContext = {
      db: deps.db,
      tx: q,
      principal: GATEWAY,
      clock: deps.clock,
      scheduled,
      durations: deps.durations,
      audit: auditTrail({ principal: GATEWAY, requestId: `deadline-${jobId}` }),
      events: [],
    };
    let did: DeadlineKind | undefined;
    if (next && next.kind === data.kind && next.at <= now) {
      if (next.kind === 'remind') await remind(unit, data.referral);
      if (next.kind === 'cancel') await cancel(unit, data.referral);
      if (next.kind === 'archive') await archive(unit, data.referral);
      did = next.kind;
    }
    await (deps.complete ? deps.complete(q) : completeJob(q, DEADLINES_QUEUE, jobId));
    await flushEvents(unit, q, unit.events);
    // The next deadline, whether or not this one applied.
    await refreshDeadlines(q, data.referral, deps.durations, scheduled);
    return did;
  });
  return { done, scheduled };
}

/** The automatic reminder: a message to the prescriber on each accepted task. */
async function remind(ctx: UnitContext, referralId: string): Promise<void> {
  for (const task of await tasksInStatus(ctx.tx, referralId, 'accepted')) {
    await createResource(
      ctx,
      reminderMessage(
        task,
        'Relance automatique : une proposition d’admission attend votre confirmation depuis plus de deux mois. Sans action de votre part, la demande sera annulée automatiquement.'
      )
    );
  }
  await recordReminder(ctx.tx, referralId, ctx.clock.now().toISOString());
}

/** The automatic cancellation: every open task, reason "automatic-cancellation"; the request revoked. */
async function cancel(ctx: UnitContext, referralId: string): Promise<void> {
  await cancelRequestTasks(ctx, repository, referralId, 'automatic-cancellation');
  const request = (await readResource(ctx, 'ServiceRequest', referralId)) as ServiceRequest;
  await updateResource(ctx, { ...request, status: 'revoked' }, referralId);
}

const ARCHIVED = { system: REFERRAL_FLAG_SYSTEM, code: 'archived', display: 'Archivée' };

/** Archiving: the archived flag on the request and its tasks. */
async function archive(ctx: UnitContext, referralId: string): Promise<void> {
  for (const id of await lockTasksOfReferral(ctx.tx, referralId)) {
    const task = (await readResource(ctx, 'Task', id)) as Task;
    await updateResource(ctx, { ...task, meta: { ...task.meta, tag: [...(task.meta?.tag ?? []), ARCHIVED] } }, id);
  }
  const request = (await readResource(ctx, 'ServiceRequest', referralId)) as ServiceRequest;
  await updateResource(ctx, { ...request, meta: { ...request.meta, tag: [...(request.meta?.tag ?? []), ARCHIVED] } }, referralId);
  await recordArchiving(ctx.tx, referralId);
}

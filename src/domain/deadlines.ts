/**
 * The deadlines of admission requests (seed 002, "Les mécanismes de
 * relances"): automatic reminder to the prescriber after 2 months without
 * action on a request with an unconfirmed acceptance, automatic cancellation
 * 30 days after it without prescriber action, archiving 15 days after a
 * cancellation. A request has at most one pending deadline at a time, the
 * next one its state calls for; it is a row of `job_schedule` (PostgreSQL is
 * the truth), replaced whenever the state changes. The job re-reads the
 * state when it fires and does nothing if the deadline no longer applies.
 */
import type { ServiceRequest, Task } from '@medplum/fhirtypes';
import { addDuration, type ReferralDurations } from '../../mappings/duration.js';
import { REFERRAL_FLAG_SYSTEM } from '../../mappings/referral.js';
import { completeJob, scheduleJob, type ScheduledJob } from '../queues/schedule.js';
import type { Database, Queryable } from '../store/db.js';
import type { Clock } from './clock.js';
import { auditTrail, flushAudit } from './audit.js';
import { GATEWAY } from './principal.js';
import { cancelRequestTasks, reminderMessage } from './referrals.js';
import { createResource, readResource, updateResource, type CallContext } from './resources.js';

export const DEADLINES_QUEUE = 'deadlines';

export type DeadlineKind = 'remind' | 'cancel' | 'archive';

/** What the deadlines of a request depend on. */
export interface DeadlineState {
  status: string;
  archived: boolean;
  cancelledAt: Date | null;
  reminderSentAt: Date | null;
  lastPrescriberActionAt: Date | null;
  /** The last action on the request by anyone (the prescriber's, or a task's last move). */
  lastActionAt: Date | null;
  /** Whether a unit accepted and the prescriber has not confirmed. */
  unconfirmedAcceptance: boolean;
}

/** The next deadline a request's state calls for (pure). */
export function nextDeadline(state: DeadlineState, d: ReferralDurations): { kind: DeadlineKind; at: Date } | undefined {
  if (state.archived) return undefined;
  if (state.cancelledAt) return { kind: 'archive', at: addDuration(state.cancelledAt, d.archiving) };
  if (state.status !== 'active' || !state.unconfirmedAcceptance || !state.lastActionAt) return undefined;
  if (state.reminderSentAt && (!state.lastPrescriberActionAt || state.reminderSentAt >= state.lastPrescriberActionAt)) {
    return { kind: 'cancel', at: addDuration(state.reminderSentAt, d.automaticCancellation) };
  }
  return { kind: 'remind', at: addDuration(state.lastActionAt, d.automaticReminder) };
}

async function loadState(q: Queryable, referralId: string, lock: boolean): Promise<DeadlineState | undefined> {
  if (lock) await q.query(`SELECT 1 FROM referral WHERE id = $1 FOR UPDATE`, [referralId]);
  const { rows } = await q.query<{
    status: string;
    archived: boolean;
    cancelled_at: Date | null;
    reminder_sent_at: Date | null;
    last_prescriber_action_at: Date | null;
    last_task_move: Date | null;
    accepted: boolean;
  }>(
    `SELECT r.status, r.archived, r.cancelled_at, r.reminder_sent_at, r.last_prescriber_action_at,
            (SELECT max(t.status_since) FROM task t WHERE t.referral_id = r.id) AS last_task_move,
            EXISTS (SELECT 1 FROM task t WHERE t.referral_id = r.id AND t.business_status = 'accepted') AS accepted
       FROM referral r WHERE r.id = $1`,
    [referralId],
    'deadline-state'
  );
  const r = rows[0];
  if (!r) return undefined;
  const date = (v: Date | null): Date | null => (v ? new Date(v) : null);
  const times = [date(r.last_prescriber_action_at), date(r.last_task_move)].filter((t): t is Date => t !== null);
  return {
    status: r.status,
    archived: r.archived,
    cancelledAt: date(r.cancelled_at),
    reminderSentAt: date(r.reminder_sent_at),
    lastPrescriberActionAt: date(r.last_prescriber_action_at),
    lastActionAt: times.length > 0 ? new Date(Math.max(...times.map((t) => t.getTime()))) : null,
    unconfirmedAcceptance: r.accepted,
  };
}

function jobIdOf(referralId: string, kind: DeadlineKind, at: Date): string {
  return `deadline.${referralId}.${kind}.${at.getTime()}`;
}

/**
 * Makes the request's pending deadline the one its state calls for: the
 * others are retired, the right one recorded (within the caller's transaction).
 */
export async function refreshDeadlines(q: Queryable, referralId: string, d: ReferralDurations, scheduled: ScheduledJob[] | undefined): Promise<void> {
  // Under the request's lock: two writers cannot each retire the other's deadline.
  const state = await loadState(q, referralId, true);
  const next = state ? nextDeadline(state, d) : undefined;
  const wanted = next ? jobIdOf(referralId, next.kind, next.at) : '';
  await q.query(
    `UPDATE job_schedule SET state = 'done', last_error = 'superseded', updated_at = now()
      WHERE queue = $1 AND subject = $2 AND state = 'pending' AND job_id <> $3`,
    [DEADLINES_QUEUE, referralId, wanted],
    'retire-deadlines'
  );
  if (!next) return;
  const { rows: existing } = await q.query(`SELECT 1 FROM job_schedule WHERE queue = $1 AND job_id = $2 AND state = 'pending'`, [DEADLINES_QUEUE, wanted], 'deadline-exists');
  if (existing.length > 0) return;
  const job = await scheduleJob(q, DEADLINES_QUEUE, wanted, { referral: referralId, kind: next.kind }, next.at, referralId);
  scheduled?.push(job);
}

/** Data of a `deadlines` job. */
export interface DeadlineJob {
  referral: string;
  kind: DeadlineKind;
}

/**
 * Runs a deadline that fired: in one transaction, checks that its row is
 * still pending and that the request's state still calls for it now, does
 * it, marks the job done and records the next one. Run twice, it does it once.
 */
export async function runDeadline(
  deps: { db: Database; clock: Clock; durations: ReferralDurations; complete?: (q: Queryable) => Promise<void> },
  jobId: string,
  data: DeadlineJob
): Promise<{ done?: DeadlineKind; scheduled: ScheduledJob[] }> {
  const scheduled: ScheduledJob[] = [];
  const done = await deps.db.transaction(async (q) => {
    // The request first, then the job: the order every writer of a request follows.
    await q.query(`SELECT 1 FROM referral WHERE id = $1 FOR UPDATE`, [data.referral]);
    const { rows } = await q.query<{ state: string }>(`SELECT state FROM job_schedule WHERE queue = $1 AND job_id = $2 FOR UPDATE`, [DEADLINES_QUEUE, jobId]);
    if (rows[0]?.state !== 'pending') return undefined;
    const now = deps.clock.now();
    const state = await loadState(q, data.referral, false);
    const next = state ? nextDeadline(state, deps.durations) : undefined;
    const trail = auditTrail({ principal: GATEWAY, requestId: `deadline-${jobId}` });
    const ctx: CallContext = { db: deps.db, tx: q, principal: GATEWAY, clock: deps.clock, scheduled, durations: deps.durations, audit: trail };
    let did: DeadlineKind | undefined;
    if (next && next.kind === data.kind && next.at <= now) {
      if (next.kind === 'remind') await remind(ctx, q, data.referral);
      if (next.kind === 'cancel') await cancel(ctx, q, data.referral);
      if (next.kind === 'archive') await archive(ctx, q, data.referral);
      did = next.kind;
    }
    await flushAudit(q, trail, now);
    await (deps.complete ? deps.complete(q) : completeJob(q, DEADLINES_QUEUE, jobId));
    await refreshDeadlines(q, data.referral, deps.durations, scheduled);
    return did;
  });
  return { done, scheduled };
}

/** The automatic reminder: a message to the prescriber on each accepted task. */
async function remind(ctx: CallContext, q: Queryable, referralId: string): Promise<void> {
  const { rows } = await q.query<{ id: string }>(`SELECT id FROM task WHERE referral_id = $1 AND business_status = 'accepted' ORDER BY id`, [referralId]);
  for (const task of rows) {
    await createResource(
      ctx,
      reminderMessage(
        task.id,
        'Relance automatique : une proposition d’admission attend votre confirmation depuis plus de deux mois. Sans action de votre part, la demande sera annulée automatiquement.'
      )
    );
  }
  await q.query(`UPDATE referral SET reminder_sent_at = $2 WHERE id = $1`, [referralId, ctx.clock.now().toISOString()]);
}

/** The automatic cancellation: every open task, reason "automatic-cancellation"; the request revoked. */
async function cancel(ctx: CallContext, q: Queryable, referralId: string): Promise<void> {
  await cancelRequestTasks(ctx, q, referralId, 'automatic-cancellation');
  const request = (await readResource(ctx, 'ServiceRequest', referralId)) as ServiceRequest;
  await updateResource(ctx, { ...request, status: 'revoked' }, referralId);
}

const ARCHIVED = { system: REFERRAL_FLAG_SYSTEM, code: 'archived', display: 'Archivée' };

/** Archiving: the archived flag on the request and its tasks. */
async function archive(ctx: CallContext, q: Queryable, referralId: string): Promise<void> {
  const { rows } = await q.query<{ id: string }>(`SELECT id FROM task WHERE referral_id = $1 ORDER BY id`, [referralId]);
  for (const { id } of rows) {
    const task = (await readResource(ctx, 'Task', id)) as Task;
    await updateResource(ctx, { ...task, meta: { ...task.meta, tag: [...(task.meta?.tag ?? []), ARCHIVED] } }, id);
  }
  const request = (await readResource(ctx, 'ServiceRequest', referralId)) as ServiceRequest;
  await updateResource(ctx, { ...request, meta: { ...request.meta, tag: [...(request.meta?.tag ?? []), ARCHIVED] } }, referralId);
  await q.query(`UPDATE referral SET archived = true WHERE id = $1`, [referralId]);
}

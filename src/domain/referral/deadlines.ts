/**
 * Planning the deadlines of admission requests (seed 002, "Les mécanismes
 * de relances"): automatic reminder to the prescriber after 2 months without
 * action on a request with an unconfirmed acceptance, automatic cancellation
 * 30 days after it without prescriber action, archiving 15 days after a
 * cancellation. A request has at most one pending deadline at a time, the
 * next one its state calls for; it is a row of `job_schedule` (PostgreSQL is
 * the truth), replaced whenever the state changes: the deadline listener
 * plans again every request a unit of work touched, before it commits.
 */
import { isDecisionId } from '../../../mappings/decision/resources.js';
import { addDuration, type ReferralDurations } from '../../../mappings/duration.js';
import { parseReference } from '../../../mappings/reference.js';
import { DEADLINES_QUEUE, deadlineJobId, enqueueDeadline, type DeadlineKind } from '../../jobs/catalogue.js';
import type { ScheduledJob } from '../../jobs/schedule.js';
import type { Queryable } from '../../store/db.js';
import { isPending, retirePendingJobs } from '../../store/tables/job-schedule.js';
import { deadlineRow, lockReferral } from '../../store/tables/referral.js';
import type { DomainEvent, WriteListener } from '../kind.js';
import { durations } from './shared.js';

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

/** A request's deadline state, as stored (`lock`: the request's row locked first). */
export async function loadDeadlineState(q: Queryable, referralId: string, lock: boolean): Promise<DeadlineState | undefined> {
  if (lock) await lockReferral(q, referralId);
  const r = await deadlineRow(q, referralId);
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

/**
 * Makes the request's pending deadline the one its state calls for: the
 * others are retired, the right one recorded (within the caller's transaction).
 */
export async function refreshDeadlines(q: Queryable, referralId: string, d: ReferralDurations, scheduled: ScheduledJob[] | undefined): Promise<void> {
  // Under the request's lock: two writers cannot each retire the other's deadline.
  const state = await loadDeadlineState(q, referralId, true);
  const next = state ? nextDeadline(state, d) : undefined;
  const wanted = next ? deadlineJobId(referralId, next.kind, next.at) : '';
  await retirePendingJobs(q, DEADLINES_QUEUE, referralId, wanted);
  if (!next || (await isPending(q, DEADLINES_QUEUE, wanted))) return;
  scheduled?.push(await enqueueDeadline(q, { referral: referralId, kind: next.kind }, next.at));
}

/**
 * The requests whose deadlines a unit of work may have moved: those of the
 * tasks and requests it updated (a new request has none until a unit
 * accepts), and those with activity of their own (a prescriber's message).
 */
function touched(events: readonly DomainEvent[]): string[] {
  const referrals = new Set<string>();
  for (const e of events) {
    if (e.event === 'referral-activity') referrals.add(e.referral);
    if (e.event !== 'write' || e.action !== 'updated') continue;
    for (const r of e.resources) {
      if (r.resourceType === 'ServiceRequest' && !isDecisionId(r.id)) referrals.add(r.id as string);
      if (r.resourceType === 'Task') {
        const focus = parseReference((r).focus?.reference)?.id;
        if (focus && !isDecisionId(focus)) referrals.add(focus);
      }
    }
  }
  return [...referrals].sort();
}

export const deadlineListener: WriteListener = {
  name: 'deadlines',
  async flush(ctx, q, events) {
    for (const referral of touched(events)) await refreshDeadlines(q, referral, durations(ctx), ctx.scheduled);
  },
  inline(_ctx, events) {
    return touched(events).length > 0 ? undefined : null;
  },
};

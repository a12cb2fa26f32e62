/**
 * Every queue of the gateway: its name, the data of its jobs, and the
 * function that records one (in PostgreSQL, within the caller's
 * transaction; Redis is told once it commits). The workers that run them are
 * in `queues/workers/`, one file per queue.
 */
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../store/db.js';
import { scheduleJob, type ScheduledJob } from './schedule.js';

/** Subscriptions: dispatching events to subscriptions, delivering them, heartbeats. */
export const NOTIFY_QUEUE = 'notify';
/**
 * Data of a `notify` job: a run of the dispatcher (events → each
 * subscription's numbered events), a delivery of a subscription's pending
 * events, or its heartbeat.
 */
export type NotifyJob = { dispatch: true } | { deliver: string } | { heartbeat: string };

/** Records a run of the dispatcher (each its own job: one already running may have read the events before these). */
export function scheduleDispatch(q: Queryable, now: Date): Promise<ScheduledJob> {
  return scheduleJob(q, NOTIFY_QUEUE, `dispatch.${randomUUID()}`, { dispatch: true } satisfies NotifyJob, now);
}

/** Records a delivery of a subscription's events up to `through` (the same delivery is recorded once). */
export function scheduleDelivery(q: Queryable, subscription: string, through: number, now: Date): Promise<ScheduledJob> {
  return scheduleJob(q, NOTIFY_QUEUE, `deliver.${subscription}.${through}`, { deliver: subscription } satisfies NotifyJob, now);
}

/** Records the delivery of an e-mail digest at `at`, when its period ends. */
export function scheduleDigest(q: Queryable, subscription: string, at: Date): Promise<ScheduledJob> {
  return scheduleJob(q, NOTIFY_QUEUE, `digest.${subscription}.${at.getTime()}`, { deliver: subscription } satisfies NotifyJob, at);
}

/** Records a subscription's next heartbeat, at `at` (one per subscription and time). */
export function scheduleHeartbeat(q: Queryable, subscription: string, at: Date): Promise<ScheduledJob> {
  return scheduleJob(q, NOTIFY_QUEUE, `heartbeat.${subscription}.${at.getTime()}`, { heartbeat: subscription } satisfies NotifyJob, at);
}

/** The referral indicators' rollup, recomputed periodically. */
export const INDICATORS_QUEUE = 'indicators';
/** Data of an `indicators` job. */
export type IndicatorsJob = { refresh: true };

/**
 * Records the next refresh of the referral indicators, at the end of the
 * current period (one job per period, whichever process records it).
 */
export function scheduleIndicatorsRefresh(q: Queryable, now: Date, intervalMs: number): Promise<ScheduledJob> {
  const next = (Math.floor(now.getTime() / intervalMs) + 1) * intervalMs;
  return scheduleJob(q, INDICATORS_QUEUE, `refresh.${next}`, { refresh: true } satisfies IndicatorsJob, new Date(next));
}

/** Deadlines of admission requests: automatic reminder, automatic cancellation, archiving. */
export const DEADLINES_QUEUE = 'deadlines';
/** What a deadline does. */
export type DeadlineKind = 'remind' | 'cancel' | 'archive';
/** Data of a `deadlines` job. */
export interface DeadlineJob {
  referral: string;
  kind: DeadlineKind;
}
/** The id of a request's deadline of this kind at this time (the same deadline is recorded once). */
export function deadlineJobId(referral: string, kind: DeadlineKind, at: Date): string {
  return `deadline.${referral}.${kind}.${at.getTime()}`;
}
/** Records a request's next deadline (its job id from deadlineJobId). */
export function enqueueDeadline(q: Queryable, data: DeadlineJob, at: Date): Promise<ScheduledJob> {
  return scheduleJob(q, DEADLINES_QUEUE, deadlineJobId(data.referral, data.kind, at), data, at, data.referral);
}

/** MDPH decisions imports, run (or resumed) in chunks. */
export const MDPH_IMPORT_QUEUE = 'mdph-import';
/** Data of an `mdph-import` job. */
export interface ImportJob {
  importId: string;
}
/** Records the run of an uploaded import. */
export function enqueueImport(q: Queryable, importId: string, now: Date): Promise<ScheduledJob> {
  return scheduleJob(q, MDPH_IMPORT_QUEUE, `import.${importId}`, { importId } satisfies ImportJob, now);
}

/** Bundles accepted with `Prefer: respond-async`, run in chunks. */
export const ASYNC_BUNDLE_QUEUE = 'async-bundle';
/** Data of an `async-bundle` job. */
export interface AsyncBundleJob {
  requestId: string;
}
/** Records the run of an accepted asynchronous Bundle. */
export function enqueueAsyncBundle(q: Queryable, requestId: string, now: Date): Promise<ScheduledJob> {
  return scheduleJob(q, ASYNC_BUNDLE_QUEUE, `bundle-${requestId}`, { requestId } satisfies AsyncBundleJob, now);
}

/** Pulls of the directory from a ROR FHIR API, on a schedule. */
export const ROR_SYNC_QUEUE = 'ror-sync';
/** Data of a `ror-sync` job: a pull (`auto`: a delta after a completed pull, else a full load). */
export interface PullJob {
  kind: 'pull';
  mode: 'full' | 'auto';
}
/** The id of the pull planned for the interval slot after `now` (deterministic: planning it twice plans it once). */
export function nextPullJob(now: Date, intervalMs: number): { jobId: string; runAt: Date } {
  const runAt = new Date(Math.ceil((now.getTime() + 1) / intervalMs) * intervalMs);
  return { jobId: `pull-${runAt.getTime()}`, runAt };
}
/** Records a pull. */
export function enqueuePull(q: Queryable, jobId: string, runAt: Date): Promise<ScheduledJob> {
  return scheduleJob(q, ROR_SYNC_QUEUE, jobId, { kind: 'pull', mode: 'auto' } satisfies PullJob, runAt);
}

/** Every queue, for the registry of workers. */
export const QUEUES = [NOTIFY_QUEUE, DEADLINES_QUEUE, MDPH_IMPORT_QUEUE, ASYNC_BUNDLE_QUEUE, ROR_SYNC_QUEUE] as const;

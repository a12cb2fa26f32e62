/**
 * Recording background work in PostgreSQL, the schedule's source of truth.
 * A job is written in the same transaction as the change that calls for it;
 * Redis is told afterwards (see registry.ts), and a reconciler tells it again
 * whatever it missed.
 */
import type { Queryable } from '../store/db.js';
import { markJobDone, upsertJob } from '../store/tables/job-schedule.js';

const JOB_ID = /^[A-Za-z0-9_.-]{1,200}$/;

/** A job recorded in PostgreSQL, to tell Redis about once its transaction commits. */
export interface ScheduledJob {
  queue: string;
  jobId: string;
  data: unknown;
  runAt: Date;
}

/** Records a job in PostgreSQL within the caller's transaction; push it with `Queues.push` after commit. */
export async function scheduleJob(q: Queryable, queue: string, jobId: string, data: unknown, runAt: Date, subject?: string): Promise<ScheduledJob> {
  if (!JOB_ID.test(jobId)) throw new Error(`invalid job id "${jobId}" (letters, digits, _ . - only)`);
  await upsertJob(q, { queue, jobId, data, runAt, subject });
  return { queue, jobId, data, runAt };
}

/** Marks a job done within the caller's transaction. */
export async function completeJob(q: Queryable, queue: string, jobId: string): Promise<void> {
  await markJobDone(q, queue, jobId);
}

/** The `job_schedule` table's named queries beyond recording and completing jobs (jobs/schedule.ts). */
import type { Queryable } from '../db.js';
import { run, sql } from '../sql.js';

/** Retires a subject's pending jobs of a queue, but the one wanted (superseded by it). */
export async function retirePendingJobs(q: Queryable, queue: string, subject: string, keep: string): Promise<void> {
  await run(q, sql`UPDATE job_schedule SET state = 'done', last_error = 'superseded', updated_at = now() WHERE queue = ${queue} AND subject = ${subject} AND state = 'pending' AND job_id <> ${keep}`, {
    prepare: true,
  });
}

/** Whether a job is pending (`lock`: FOR UPDATE, so that a second run waits and then finds it done). */
export async function isPending(q: Queryable, queue: string, jobId: string, lock = false): Promise<boolean> {
  const { rows } = await run<{ state: string }>(
    q,
    lock ? sql`SELECT state FROM job_schedule WHERE queue = ${queue} AND job_id = ${jobId} FOR UPDATE` : sql`SELECT state FROM job_schedule WHERE queue = ${queue} AND job_id = ${jobId}`,
    { prepare: true }
  );
  return rows[0]?.state === 'pending';
}

/** Whether a pending pull is planned (other than the one running now). */
export async function pullPlanned(q: Queryable, queue: string, runningJobId: string): Promise<boolean> {
  const { rows } = await run(q, sql`SELECT 1 FROM job_schedule WHERE queue = ${queue} AND job_id LIKE 'pull-%' AND job_id <> ${runningJobId} AND state = 'pending' LIMIT 1`);
  return rows.length > 0;
}

/** Records a job (or records it again: pending, attempts reset) within the caller's transaction. */
export async function upsertJob(q: Queryable, job: { queue: string; jobId: string; data: unknown; runAt: Date; subject?: string }): Promise<void> {
  await run(
    q,
    sql`INSERT INTO job_schedule (queue, job_id, data, run_at, subject) VALUES (${job.queue}, ${job.jobId}, ${JSON.stringify(job.data)}::text::jsonb, ${job.runAt.toISOString()}::timestamptz, ${job.subject ?? null})
        ON CONFLICT (queue, job_id) DO UPDATE SET data = EXCLUDED.data, run_at = EXCLUDED.run_at, subject = EXCLUDED.subject, state = 'pending', attempts = 0, last_error = NULL, updated_at = now()`,
    { prepare: true }
  );
}

/** Marks a job done within the caller's transaction. */
export async function markJobDone(q: Queryable, queue: string, jobId: string): Promise<void> {
  await run(q, sql`UPDATE job_schedule SET state = 'done', updated_at = now() WHERE queue = ${queue} AND job_id = ${jobId}`, { prepare: true });
}

/** Marks a pending job failed, with the reason (its attempts ran out). */
export async function markJobFailed(q: Queryable, queue: string, jobId: string, error: string): Promise<void> {
  await run(q, sql`UPDATE job_schedule SET state = 'failed', last_error = ${error}, updated_at = now() WHERE queue = ${queue} AND job_id = ${jobId} AND state = 'pending'`);
}

/** A job's state and data, as a worker starts it. */
export async function jobToRun<D>(q: Queryable, queue: string, jobId: string): Promise<{ state: string; data: D } | undefined> {
  const { rows } = await run<{ state: string; data: D }>(q, sql`SELECT state, data FROM job_schedule WHERE queue = ${queue} AND job_id = ${jobId}`, { prepare: true });
  return rows[0];
}

/** Counts one more attempt of a job. */
export async function countAttempt(q: Queryable, queue: string, jobId: string): Promise<void> {
  await run(q, sql`UPDATE job_schedule SET attempts = attempts + 1, updated_at = now() WHERE queue = ${queue} AND job_id = ${jobId}`, { prepare: true });
}

/** Pending jobs of a queue due by `horizon`, after a position (run_at as text, job id), in order. */
export async function pendingJobs(q: Queryable, queue: string, horizon: string, after: [string, string], limit: number): Promise<{ job_id: string; data: unknown; run_at: Date; run_at_text: string }[]> {
  const { rows } = await run<{ job_id: string; data: unknown; run_at: Date; run_at_text: string }>(
    q,
    sql`SELECT job_id, data, run_at, run_at::text AS run_at_text FROM job_schedule
         WHERE queue = ${queue} AND state = 'pending' AND run_at <= ${horizon}::timestamptz AND (run_at, job_id) > (${after[0]}::timestamptz, ${after[1]})
         ORDER BY run_at, job_id LIMIT ${limit}`
  );
  return rows;
}

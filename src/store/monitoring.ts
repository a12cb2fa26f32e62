/**
 * What the metrics say of the work recorded in PostgreSQL: decision imports
 * under way, the ROR pull under way, and the job schedule (how late the due
 * jobs are, how many failed for good). Read at each scrape, so each query is
 * small: the running imports and pulls are few, and the schedule's due and failed
 * jobs are found through its partial indexes (of pending jobs, of failed ones).
 */
import type { Queryable } from './db.js';
import { run, sql } from './sql.js';

/** Decision imports not finished yet, with the rows their applied chunks hold so far. */
export async function importsUnderWay(q: Queryable): Promise<{ state: string; imports: number; bytes: number; rows_done: number; rows_ok: number; rows_rejected: number }[]> {
  const { rows } = await run<{ state: string; imports: number; bytes: string; rows_done: number; rows_ok: number; rows_rejected: number }>(
    q,
    sql`SELECT i.state, count(*)::int AS imports, coalesce(sum(i.bytes), 0)::text AS bytes,
               coalesce(sum(c.rows), 0)::int AS rows_done, coalesce(sum(c.rows_ok), 0)::int AS rows_ok, coalesce(sum(c.rows_rejected), 0)::int AS rows_rejected
          FROM decision_import i
          LEFT JOIN LATERAL (SELECT sum(rows) AS rows, sum(rows_ok) AS rows_ok, sum(rows_rejected) AS rows_rejected FROM decision_import_chunk WHERE import_id = i.id) c ON true
         WHERE i.state IN ('accepted', 'in-progress')
         GROUP BY i.state`
  );
  return rows.map((r) => ({ ...r, bytes: Number(r.bytes) }));
}

/** The ROR pull under way (at most one), and when the last one completed. */
export async function pullUnderWay(q: Queryable): Promise<{ running?: { mode: string; applied: number; skipped: number; rejected: number; started_at: Date }; lastCompleted?: Date }> {
  const { rows } = await run<{ mode: string; applied: number; skipped: number; rejected: number; started_at: Date }>(
    q,
    sql`SELECT mode, applied, skipped, rejected, started_at FROM ror_sync WHERE state = 'running' LIMIT 1`
  );
  const { rows: last } = await run<{ at: Date | null }>(q, sql`SELECT max(finished_at) AS at FROM ror_sync WHERE state = 'completed'`);
  return { running: rows[0], lastCompleted: last[0]?.at ?? undefined };
}

/** Per queue: the pending jobs already due, how late the oldest of them is (seconds), and the jobs failed for good. */
export async function scheduleHealth(q: Queryable, now: Date): Promise<{ queue: string; due: number; lag_seconds: number; failed: number }[]> {
  const { rows } = await run<{ queue: string; due: number; lag_seconds: number; failed: number }>(
    q,
    sql`WITH due AS (
          SELECT queue, count(*)::int AS due, extract(epoch FROM ${now.toISOString()}::timestamptz - min(run_at))::float8 AS lag_seconds
            FROM job_schedule WHERE state = 'pending' AND run_at <= ${now.toISOString()}::timestamptz GROUP BY queue
        ), failed AS (
          SELECT queue, count(*)::int AS failed FROM job_schedule WHERE state = 'failed' GROUP BY queue
        )
        SELECT coalesce(due.queue, failed.queue) AS queue, coalesce(due.due, 0) AS due, coalesce(due.lag_seconds, 0) AS lag_seconds, coalesce(failed.failed, 0) AS failed
          FROM due FULL JOIN failed ON failed.queue = due.queue`
  );
  return rows;
}

/** The `ror_sync` table: one row per pull of the directory from a ROR API, with where it stands (resumable). */
import type { Queryable } from '../db.js';
import { lockKeys } from '../locks.js';
import { run, sql } from '../sql.js';

/** A pull as stored. */
export interface SyncRow {
  id: string;
  mode: 'full' | 'delta';
  state: 'running' | 'completed' | 'failed';
  since: Date | null;
  started_at: Date;
  status_url: string | null;
  files: { type?: string; url: string }[] | null;
  file_index: number;
  file_offset: number;
  next_url: string | null;
  applied: number;
  skipped: number;
  rejected: number;
  errors: { resource: string; error: string }[];
}

/** Most rejections a pull's report keeps. */
export const MAX_SYNC_ERRORS = 50;

/** Serialises the opening of pulls (one runs at a time), for the rest of the transaction. */
export async function lockPulls(q: Queryable): Promise<void> {
  await lockKeys(q, 'ror-sync', ['open']);
}

/** The running pull, if any. */
export async function runningPull(q: Queryable): Promise<string | undefined> {
  const { rows } = await run<{ id: string }>(q, sql`SELECT id FROM ror_sync WHERE state = 'running'`);
  return rows[0]?.id;
}

/** When the last completed pull started. */
export async function lastCompletedPull(q: Queryable): Promise<Date | undefined> {
  const { rows } = await run<{ started_at: Date }>(q, sql`SELECT started_at FROM ror_sync WHERE state = 'completed' ORDER BY started_at DESC LIMIT 1`);
  return rows[0]?.started_at;
}

/** Records a new pull. */
export async function insertPull(q: Queryable, p: { id: string; mode: 'full' | 'delta'; since: string | null; startedAt: string; nextUrl: string | null }): Promise<void> {
  await run(q, sql`INSERT INTO ror_sync (id, mode, since, started_at, next_url) VALUES (${p.id}, ${p.mode}, ${p.since}::timestamptz, ${p.startedAt}::timestamptz, ${p.nextUrl})`);
}

/** A pull (`lock`: FOR UPDATE). */
export async function loadPull(q: Queryable, id: string, lock = false): Promise<SyncRow | undefined> {
  const { rows } = await run<SyncRow>(q, lock ? sql`SELECT * FROM ror_sync WHERE id = ${id} FOR UPDATE` : sql`SELECT * FROM ror_sync WHERE id = ${id}`);
  return rows[0];
}

/** Adds a step's counts and rejections (the first MAX_SYNC_ERRORS kept) to a pull. */
export async function addPullCounts(q: Queryable, id: string, counts: { applied: number; skipped: number; errors: { resource: string; error: string }[] }): Promise<void> {
  await run(
    q,
    sql`UPDATE ror_sync SET applied = applied + ${counts.applied}, skipped = skipped + ${counts.skipped}, rejected = rejected + ${counts.errors.length},
          errors = CASE WHEN jsonb_array_length(errors) < ${MAX_SYNC_ERRORS} THEN errors || ${JSON.stringify(counts.errors.slice(0, MAX_SYNC_ERRORS))}::text::jsonb ELSE errors END, updated_at = now()
        WHERE id = ${id}`
  );
}

/** Moves a pull along: its export's status URL, its files, its place in them, or its next page. */
export async function movePull(
  q: Queryable,
  id: string,
  to: { statusUrl: string } | { files: { type?: string; url: string }[] } | { fileIndex: number; fileOffset: number } | { nextUrl: string | null }
): Promise<void> {
  if ('statusUrl' in to) await run(q, sql`UPDATE ror_sync SET status_url = ${to.statusUrl}, updated_at = now() WHERE id = ${id}`);
  else if ('files' in to) await run(q, sql`UPDATE ror_sync SET files = ${JSON.stringify(to.files)}::text::jsonb, updated_at = now() WHERE id = ${id}`);
  else if ('fileIndex' in to) await run(q, sql`UPDATE ror_sync SET file_index = ${to.fileIndex}, file_offset = ${to.fileOffset} WHERE id = ${id}`);
  else await run(q, sql`UPDATE ror_sync SET next_url = ${to.nextUrl} WHERE id = ${id}`);
}

/** Marks a pull failed, with the reason. */
export async function failPull(q: Queryable, id: string, error: string): Promise<void> {
  await run(q, sql`UPDATE ror_sync SET state = 'failed', errors = errors || ${JSON.stringify([{ resource: '-', error }])}::text::jsonb, finished_at = now() WHERE id = ${id}`);
}

/** Marks a running pull completed. */
export async function completePull(q: Queryable, id: string, at: string): Promise<void> {
  await run(q, sql`UPDATE ror_sync SET state = 'completed', finished_at = ${at}::timestamptz, updated_at = now() WHERE id = ${id} AND state = 'running'`);
}

/**
 * The tables of MDPH imports: `decision_import` (one per upload, with its
 * state and counts), `decision_import_part` (the file, in parts, until it is
 * applied), `decision_import_chunk` (each chunk applied, with its counts:
 * the progress a resumed run starts from) and `decision_import_error` (the
 * rejected rows).
 */
import type { Principal } from '../../core/principal.js';
import type { Queryable } from '../db.js';
import { run, sql } from '../sql.js';

/** Records a new import. */
export async function insertImport(q: Queryable, i: { id: string; department: string; principal: Principal; source: 'csv' | 'bundle'; lineEntries?: number[] }): Promise<void> {
  const principal = JSON.stringify({ clientId: i.principal.clientId, organization: i.principal.organization, roles: i.principal.roles });
  await run(
    q,
    sql`INSERT INTO decision_import (id, department, principal, encoding, source, line_entries)
        VALUES (${i.id}, ${i.department}, ${principal}::text::jsonb, 'utf-8', ${i.source}, ${i.lineEntries ? JSON.stringify(i.lineEntries) : null}::text::jsonb)`
  );
}

/** Stores one part of an import's file. */
export async function insertPart(q: Queryable, importId: string, seq: number, data: Buffer): Promise<void> {
  await run(q, sql`INSERT INTO decision_import_part (import_id, seq, data) VALUES (${importId}, ${seq}, ${data})`);
}

/** One part of an import's file (none past the last). */
export async function readPart(q: Queryable, importId: string, seq: number): Promise<Buffer | undefined> {
  const { rows } = await run<{ data: Buffer }>(q, sql`SELECT data FROM decision_import_part WHERE import_id = ${importId} AND seq = ${seq}`);
  return rows[0]?.data;
}

/** Records the size and encoding of an uploaded file. */
export async function recordFile(q: Queryable, importId: string, encoding: string, bytes: number): Promise<void> {
  await run(q, sql`UPDATE decision_import SET encoding = ${encoding}, bytes = ${bytes} WHERE id = ${importId}`);
}

/** What a run needs of an import. */
export async function importToRun(q: Queryable, importId: string): Promise<{ department: string; encoding: string; state: string; principal: Principal } | undefined> {
  const { rows } = await run<{ department: string; encoding: string; state: string; principal: Principal }>(
    q,
    sql`SELECT department, encoding, state, principal FROM decision_import WHERE id = ${importId}`
  );
  return rows[0];
}

/** Marks an import running. */
export async function markRunning(q: Queryable, importId: string): Promise<void> {
  await run(q, sql`UPDATE decision_import SET state = 'in-progress', updated_at = now() WHERE id = ${importId}`);
}

/** The chunks of an import already applied. */
export async function appliedChunks(q: Queryable, importId: string): Promise<Set<number>> {
  const { rows } = await run<{ chunk_no: number }>(q, sql`SELECT chunk_no FROM decision_import_chunk WHERE import_id = ${importId}`);
  return new Set(rows.map((r) => r.chunk_no));
}

/** Records a chunk as applied (false when an earlier run did: the chunk is skipped). */
export async function claimChunk(q: Queryable, c: { importId: string; chunkNo: number; lastRow: number; rows: number; ok: number; rejected: number }): Promise<boolean> {
  const { rows } = await run(
    q,
    sql`INSERT INTO decision_import_chunk (import_id, chunk_no, last_row, rows, rows_ok, rows_rejected)
        VALUES (${c.importId}, ${c.chunkNo}, ${c.lastRow}, ${c.rows}, ${c.ok}, ${c.rejected}) ON CONFLICT DO NOTHING RETURNING 1`
  );
  return rows.length > 0;
}

/** Corrects a chunk's counts (rows refused while it was written). */
export async function recountChunk(q: Queryable, importId: string, chunkNo: number, ok: number, rejected: number): Promise<void> {
  await run(q, sql`UPDATE decision_import_chunk SET rows_ok = ${ok}, rows_rejected = ${rejected} WHERE import_id = ${importId} AND chunk_no = ${chunkNo}`);
}

/** Records rejected rows (line number, column, reason). */
export async function insertErrors(q: Queryable, importId: string, errors: readonly { line: number; column: string; reason: string }[]): Promise<void> {
  if (errors.length === 0) return;
  await run(
    q,
    sql`INSERT INTO decision_import_error (import_id, row_number, column_name, reason)
        SELECT ${importId}, n, c, r FROM unnest(${errors.map((e) => e.line)}::int[], ${errors.map((e) => e.column)}::text[], ${errors.map((e) => e.reason)}::text[]) AS x(n, c, r)
        ON CONFLICT DO NOTHING`
  );
}

/** Marks an import completed, with the counts of its chunks, and drops its file. */
export async function markCompleted(q: Queryable, importId: string): Promise<void> {
  await run(
    q,
    sql`UPDATE decision_import i SET state = 'completed', updated_at = now(), rows_done = c.done, rows_ok = c.ok, rows_rejected = c.rejected
          FROM (SELECT coalesce(max(last_row), 0) AS done, coalesce(sum(rows_ok), 0) AS ok, coalesce(sum(rows_rejected), 0) AS rejected FROM decision_import_chunk WHERE import_id = ${importId}) c
         WHERE i.id = ${importId}`
  );
  await dropFile(q, importId);
}

/** Marks an import failed, with the reason, and drops its file. */
export async function markFailed(q: Queryable, importId: string, error: string): Promise<void> {
  await run(q, sql`UPDATE decision_import SET state = 'failed', error = ${error}, updated_at = now() WHERE id = ${importId}`);
  await dropFile(q, importId);
}

async function dropFile(q: Queryable, importId: string): Promise<void> {
  await run(q, sql`DELETE FROM decision_import_part WHERE import_id = ${importId}`);
}

/** An import's state and counts (summed over its chunks while it runs). */
export async function importProgress(q: Queryable, importId: string): Promise<{ state: string; rows_done: number; rows_ok: number; rows_rejected: number }> {
  const { rows } = await run<{ state: string; rows_done: number; rows_ok: number; rows_rejected: number }>(
    q,
    sql`SELECT i.state,
               CASE WHEN i.state = 'completed' THEN i.rows_done ELSE (SELECT coalesce(sum(c.rows), 0)::int FROM decision_import_chunk c WHERE c.import_id = i.id) END AS rows_done,
               CASE WHEN i.state = 'completed' THEN i.rows_ok ELSE (SELECT coalesce(sum(c.rows_ok), 0)::int FROM decision_import_chunk c WHERE c.import_id = i.id) END AS rows_ok,
               CASE WHEN i.state = 'completed' THEN i.rows_rejected ELSE (SELECT coalesce(sum(c.rows_rejected), 0)::int FROM decision_import_chunk c WHERE c.import_id = i.id) END AS rows_rejected
          FROM decision_import i WHERE i.id = ${importId}`
  );
  return rows[0];
}

/** What a report says of an import beyond its counts. */
export interface ImportRow {
  principal: Principal;
  state: string;
  encoding: string;
  error: string | null;
  department: string;
  source: string;
  line_entries: number[] | null;
}

/** An import, for its report. */
export async function importRow(q: Queryable, importId: string): Promise<ImportRow | undefined> {
  const { rows } = await run<ImportRow>(q, sql`SELECT principal, state, encoding, error, department, source, line_entries FROM decision_import WHERE id = ${importId}`);
  return rows[0];
}

/** The first rejected rows of an import, in line order. */
export async function importErrors(q: Queryable, importId: string, limit: number): Promise<{ row_number: number; column_name: string; reason: string }[]> {
  const { rows } = await run<{ row_number: number; column_name: string; reason: string }>(
    q,
    sql`SELECT row_number, column_name, reason FROM decision_import_error WHERE import_id = ${importId} ORDER BY row_number, column_name LIMIT ${limit}`
  );
  return rows;
}

/** Refreshes the statistics of the decision tables after a large import, and vacuums the decisions (their indicators read the index alone). */
export async function refreshDecisionStatistics(q: Queryable): Promise<void> {
  await q.exec('VACUUM (ANALYZE) referral');
  await q.exec('ANALYZE task; ANALYZE patient');
}

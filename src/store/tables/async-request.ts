/** The `async_request` and `async_request_entry` tables: Bundles accepted with `Prefer: respond-async`, and their entries' answers. */
import type { BundleEntry, OperationOutcome } from '@medplum/fhirtypes';
import { principalFromStore, storedPrincipal, type Principal } from '../../core/principal.js';
import type { Queryable } from '../db.js';
import { run, sql } from '../sql.js';

/** Records an accepted Bundle. */
export async function insertAsyncRequest(q: Queryable, r: { id: string; principal?: Principal; input: unknown; total: number }): Promise<void> {
  await run(
    q,
    sql`INSERT INTO async_request (id, kind, client_id, principal, input, total)
        VALUES (${r.id}, 'bundle', ${r.principal?.clientId ?? 'anonymous'}, ${JSON.stringify(r.principal ? storedPrincipal(r.principal) : null)}::text::jsonb, ${JSON.stringify(r.input)}::text::jsonb, ${r.total})`
  );
}

/** Where a Bundle's run stands, locked for its next chunk. */
export async function lockAsyncRequest(q: Queryable, id: string): Promise<{ state: string; principal: Principal | null; type: 'batch' | 'transaction'; processed: number; total: number } | undefined> {
  const { rows } = await run<{ state: string; principal: Parameters<typeof principalFromStore>[0]; type: 'batch' | 'transaction'; processed: number; total: number }>(
    q,
    sql`SELECT state, principal, input->>'type' AS type, processed, total FROM async_request WHERE id = ${id} FOR UPDATE`
  );
  return rows[0] && { ...rows[0], principal: principalFromStore(rows[0].principal) };
}

/** The Bundle as accepted. */
export async function asyncInput(q: Queryable, id: string): Promise<unknown> {
  const { rows } = await run<{ input: unknown }>(q, sql`SELECT input FROM async_request WHERE id = ${id}`);
  return rows[0]?.input;
}

/** Entries `from` (exclusive) to `to` (inclusive) of a Bundle, 1-based. */
export async function asyncEntries(q: Queryable, id: string, from: number, to: number): Promise<BundleEntry[]> {
  const { rows } = await run<{ entry: BundleEntry }>(
    q,
    sql`SELECT e.entry FROM async_request r, jsonb_array_elements(r.input->'entry') WITH ORDINALITY AS e(entry, n)
         WHERE r.id = ${id} AND e.n > ${from} AND e.n <= ${to} ORDER BY e.n`
  );
  return rows.map((r) => r.entry);
}

/** Stores the answers of entries from index `first` on (0-based). */
export async function insertAnswers(q: Queryable, id: string, first: number, answers: readonly BundleEntry[]): Promise<void> {
  if (answers.length === 0) return;
  await run(
    q,
    sql`INSERT INTO async_request_entry (request_id, index, response)
        SELECT ${id}, i, r FROM unnest(${answers.map((_, k) => first + k)}::int[], ${answers.map((a) => JSON.stringify(a))}::text[]::jsonb[]) AS x(i, r)`
  );
}

/** Moves a Bundle's run on: entries processed, and its state. */
export async function recordProgress(q: Queryable, id: string, processed: number, state: 'in-progress' | 'completed'): Promise<void> {
  await run(q, sql`UPDATE async_request SET processed = ${processed}, state = ${state}, updated_at = now() WHERE id = ${id}`);
}

/** Marks a Bundle failed, with the answer its failure gets. */
export async function recordFailure(q: Queryable, id: string, error: { status: number; outcome: OperationOutcome }): Promise<void> {
  await run(q, sql`UPDATE async_request SET state = 'failed', error = ${JSON.stringify(error)}::text::jsonb, updated_at = now() WHERE id = ${id}`);
}

/** A Bundle's status, for its status URL. */
export async function asyncRequestStatus(
  q: Queryable,
  id: string
): Promise<{ state: string; client_id: string; type: string; processed: number; total: number; error: { status: number; outcome: OperationOutcome } | null } | undefined> {
  const { rows } = await run<{ state: string; client_id: string; type: string; processed: number; total: number; error: { status: number; outcome: OperationOutcome } | null }>(
    q,
    sql`SELECT state, client_id, input->>'type' AS type, processed, total, error FROM async_request WHERE id = ${id}`
  );
  return rows[0];
}

/** The answers of a Bundle's entries, in order. */
export async function asyncAnswers(q: Queryable, id: string): Promise<BundleEntry[]> {
  const { rows } = await run<{ response: BundleEntry }>(q, sql`SELECT response FROM async_request_entry WHERE request_id = ${id} ORDER BY index`);
  return rows.map((r) => r.response);
}

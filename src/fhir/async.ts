/**
 * The FHIR asynchronous request pattern for Bundles (`Prefer: respond-async`):
 * the Bundle is recorded with a job in one transaction and answered 202 with
 * `Content-Location` of a status URL; a worker then runs it in chunks, each
 * chunk's entries and its progress committed together, so a crash resumes
 * after the last chunk; the status URL answers 202 with `X-Progress` until the
 * final report (the batch- or transaction-response Bundle) is ready.
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, OperationOutcome } from '@medplum/fhirtypes';
import { audit, auditTrail, dropAuditSince, flushAudit } from '../domain/audit.js';
import type { Principal } from '../domain/principal.js';
import { hasAnyRole } from '../domain/principal.js';
import type { Queryable } from '../store/db.js';
import { scheduleJob } from '../queues/schedule.js';
import { checkBundle, processBundle, runBatchSlice } from './bundle.js';
import { badRequest, FhirError, notFound, okOutcome, toFhirError } from './outcomes.js';
import type { FhirRequest, FhirResponse, FhirServices } from './types.js';
import { findControlCharacter } from './validation.js';

/** The queue that runs directory work: pushed Bundles and ROR pulls. */
export const ROR_SYNC_QUEUE = 'ror-sync';

/** Job data of an asynchronous Bundle. */
export interface AsyncBundleJob {
  kind: 'bundle';
  requestId: string;
}

const CHUNK = 200;

/** Whether the request asks for asynchronous processing. */
export function wantsAsync(prefer: string | undefined): boolean {
  return /respond-async/i.test(prefer ?? '');
}

function statusUrl(services: FhirServices, id: string): string {
  return `${services.baseUrl}/_async/${id}`;
}

/** Records a Bundle for asynchronous processing and answers 202. */
export async function acceptAsyncBundle(services: FhirServices, request: FhirRequest): Promise<FhirResponse> {
  const bundle = checkBundle(services, request.body);
  // The Bundle is stored before its entries are checked: what PostgreSQL cannot store (NUL, lone surrogates) is refused now.
  const unstorable = findControlCharacter(bundle, 'Bundle');
  if (unstorable) throw badRequest('Strings may not contain control characters other than tab, CR and LF, nor lone surrogates', unstorable);
  const id = randomUUID();
  const jobId = `bundle-${id}`;
  const data: AsyncBundleJob = { kind: 'bundle', requestId: id };
  const runAt = services.clock.now();
  await services.db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO async_request (id, kind, client_id, principal, input, total) VALUES ($1, 'bundle', $2, $3::text::jsonb, $4::text::jsonb, $5)`,
      [id, request.principal?.clientId ?? 'anonymous', JSON.stringify(request.principal ?? null), JSON.stringify(bundle), bundle.type === 'transaction' ? 1 : bundle.entry.length]
    );
    await scheduleJob(tx, ROR_SYNC_QUEUE, jobId, data, runAt);
  });
  await services.jobs?.push(ROR_SYNC_QUEUE, [{ jobId, data, runAt }]);
  return { status: 202, headers: { 'Content-Location': statusUrl(services, id) }, body: okOutcome(`Accepted: ${bundle.entry.length} entries; poll ${statusUrl(services, id)}`) };
}

interface RequestRow {
  state: string;
  principal: Principal | null;
  type: 'batch' | 'transaction';
  processed: number;
  total: number;
}

/**
 * Runs (or resumes) an asynchronous Bundle; idempotent. `stopAfterChunks`
 * ends the run early, as a crash would, leaving the rest for the next run.
 * Each chunk reads only its own entries, so a large Bundle is not read again
 * in full for every chunk.
 */
export async function runAsyncBundle(services: FhirServices, requestId: string, options: { chunkSize?: number; stopAfterChunks?: number } = {}): Promise<void> {
  const chunkSize = options.chunkSize ?? CHUNK;
  for (let chunk = 0; chunk < (options.stopAfterChunks ?? Infinity); chunk++) {
    const finished = await services.db.transaction(async (tx) => {
      const { rows } = await tx.query<RequestRow>(
        `SELECT state, principal, input->>'type' AS type, processed, total FROM async_request WHERE id = $1 FOR UPDATE`,
        [requestId]
      );
      const row = rows[0];
      if (!row || row.state === 'completed' || row.state === 'failed' || row.state === 'cancelled') return true;
      const trail = auditTrail({ principal: row.principal ?? undefined, requestId: `async-${requestId}` });
      const base: FhirRequest = { method: 'POST', path: '', query: new URLSearchParams(), principal: row.principal ?? undefined, tx, audit: trail };
      if (row.type === 'transaction') {
        const input = await tx.query<{ input: Bundle }>('SELECT input FROM async_request WHERE id = $1', [requestId]);
        await runTransaction(services, tx, requestId, { ...base, body: input.rows[0].input });
        return true;
      }
      const end = Math.min(row.processed + chunkSize, row.total);
      const { rows: entries } = await tx.query<{ entry: BundleEntry }>(
        `SELECT e.entry FROM async_request r, jsonb_array_elements(r.input->'entry') WITH ORDINALITY AS e(entry, n)
          WHERE r.id = $1 AND e.n > $2 AND e.n <= $3 ORDER BY e.n`,
        [requestId, row.processed, end]
      );
      const answers = await runBatchSlice(services, base, tx, entries.map((e) => e.entry), row.processed);
      await flushAudit(tx, trail, services.clock.now()); // the refused entries' events
      await tx.query(
        'INSERT INTO async_request_entry (request_id, index, response) SELECT $1, i, r FROM unnest($2::int[], $3::text[]::jsonb[]) AS x(i, r)',
        [requestId, answers.map((_, k) => row.processed + k), answers.map((a) => JSON.stringify(a))]
      );
      const done = end >= row.total;
      await tx.query(`UPDATE async_request SET processed = $2, state = $3, updated_at = now() WHERE id = $1`, [requestId, end, done ? 'completed' : 'in-progress']);
      return done;
    });
    if (finished) return;
  }
}

async function runTransaction(services: FhirServices, tx: Queryable, requestId: string, request: FhirRequest): Promise<void> {
  await tx.query('SAVEPOINT async_transaction');
  try {
    const response = await processBundle(services, request);
    const entries = (response.body as Bundle).entry ?? [];
    for (let i = 0; i < entries.length; i++) {
      await tx.query('INSERT INTO async_request_entry (request_id, index, response) VALUES ($1, $2, $3::text::jsonb)', [requestId, i, JSON.stringify(entries[i])]);
    }
    await tx.query(`UPDATE async_request SET processed = 1, state = 'completed', updated_at = now() WHERE id = $1`, [requestId]);
  } catch (err) {
    const fhirError = toFhirError(err);
    if (!fhirError) throw err;
    await tx.query('ROLLBACK TO SAVEPOINT async_transaction');
    dropAuditSince(request.audit, 0);
    audit(request.audit, { action: 'E', interaction: 'transaction', status: fhirError.status, entities: [], detail: fhirError.outcome.issue?.[0]?.diagnostics?.slice(0, 500) });
    await flushAudit(tx, request.audit, services.clock.now());
    await tx.query(`UPDATE async_request SET state = 'failed', error = $2::text::jsonb, updated_at = now() WHERE id = $1`, [
      requestId,
      JSON.stringify({ status: fhirError.status, outcome: fhirError.outcome }),
    ]);
  }
}

/** The status URL: 202 with progress, then the final report; only for the client that sent it (or admin). */
export async function asyncStatus(services: FhirServices, principal: Principal | undefined, id: string): Promise<FhirResponse> {
  const { rows } = await services.db.query<{ state: string; client_id: string; type: string; processed: number; total: number; error: { status: number; outcome: OperationOutcome } | null }>(
    `SELECT state, client_id, input->>'type' AS type, processed, total, error FROM async_request WHERE id = $1`,
    [id]
  );
  const row = rows[0];
  if (!row || !principal || (row.client_id !== principal.clientId && !hasAnyRole(principal, ['admin']))) throw notFound(`No asynchronous request ${id}`);
  if (row.state === 'accepted' || row.state === 'in-progress') {
    return { status: 202, headers: { 'X-Progress': `${row.processed} of ${row.total} processed`, 'Retry-After': '2' }, body: okOutcome(`In progress: ${row.processed} of ${row.total}`) };
  }
  if (row.state === 'failed' && row.error) throw new FhirError(row.error.status, row.error.outcome);
  if (row.state === 'cancelled') throw notFound(`Asynchronous request ${id} was cancelled`);
  const { rows: entries } = await services.db.query<{ response: BundleEntry }>('SELECT response FROM async_request_entry WHERE request_id = $1 ORDER BY index', [id]);
  const type = row.type === 'transaction' ? 'transaction-response' : 'batch-response';
  return { status: 200, body: { resourceType: 'Bundle', type, entry: entries.map((e) => e.response) } };
}

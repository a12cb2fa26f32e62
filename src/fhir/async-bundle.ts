/**
 * The FHIR asynchronous request pattern for Bundles (`Prefer: respond-async`):
 * the Bundle is recorded with a job (queue `async-bundle`) in one
 * transaction and answered 202 with `Content-Location` of a status URL; a
 * worker then runs it in chunks, each chunk's entries and its progress
 * committed together, so a crash resumes after the last chunk; the status
 * URL answers 202 with `X-Progress` until the final report (the batch- or
 * transaction-response Bundle) is ready.
 */
import { randomUUID } from 'node:crypto';
import type { Bundle } from '@medplum/fhirtypes';
import { badRequest, FhirError, notFound, okOutcome, toFhirError } from '../core/outcomes.js';
import { auditTrail, dropAuditSince } from '../domain/audit/trail.js';
import { recordTransactionFailure } from './interaction-audit.js';
import { listOf } from '../core/json.js';
import type { DomainEvent } from '../domain/kind.js';
import { hasAnyRole, type Principal } from '../core/principal.js';
import { flushEvents } from '../domain/repository.js';
import { enqueueAsyncBundle } from '../jobs/catalogue.js';
import { underSavepoint, type Queryable } from '../store/db.js';
import {
  asyncAnswers,
  asyncEntries,
  asyncInput,
  asyncRequestStatus,
  insertAnswers,
  insertAsyncRequest,
  lockAsyncRequest,
  recordFailure,
  recordProgress,
} from '../store/tables/async-request.js';
import { checkBundle, processBundle, runBatchSlice } from './bundle.js';
import { contextOf } from './context.js';
import type { FhirRequest, FhirResponse, FhirServices } from './types.js';
import { findControlCharacter } from './validation.js';

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
  const job = await services.db.transaction(async (tx) => {
    await insertAsyncRequest(tx, { id, principal: request.principal, input: bundle, total: bundle.type === 'transaction' ? 1 : bundle.entry.length });
    return enqueueAsyncBundle(tx, id, services.clock.now());
  });
  await services.jobs?.push(job.queue, [job]);
  return { status: 202, headers: { 'Content-Location': statusUrl(services, id) }, body: okOutcome(`Accepted: ${bundle.entry.length} entries; poll ${statusUrl(services, id)}`) };
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
      const row = await lockAsyncRequest(tx, requestId);
      if (!row || row.state === 'completed' || row.state === 'failed' || row.state === 'cancelled') return true;
      const events: DomainEvent[] = [];
      const base: FhirRequest = {
        method: 'POST',
        path: '',
        query: new URLSearchParams(),
        principal: row.principal ?? undefined,
        tx,
        events,
        scheduled: [],
        memo: new Map(),
        audit: auditTrail({ principal: row.principal ?? undefined, requestId: `async-${requestId}` }),
      };
      if (row.type === 'transaction') {
        await runTransaction(services, tx, requestId, { ...base, events, body: await asyncInput(tx, requestId) });
        return true;
      }
      const end = Math.min(row.processed + chunkSize, row.total);
      const answers = await runBatchSlice(services, base, tx, await asyncEntries(tx, requestId, row.processed, end), row.processed);
      // The chunk's writes and refused entries are told to the listeners (audit included) before it commits.
      await flushEvents(contextOf(services, base), tx, events);
      await insertAnswers(tx, requestId, row.processed, answers);
      const done = end >= row.total;
      await recordProgress(tx, requestId, end, done ? 'completed' : 'in-progress');
      return done;
    });
    if (finished) return;
  }
}

async function runTransaction(services: FhirServices, tx: Queryable, requestId: string, request: FhirRequest & { events: DomainEvent[] }): Promise<void> {
  try {
    await underSavepoint(tx, 'async_transaction', async () => {
      const response = await processBundle(services, request);
      await flushEvents(contextOf(services, request), tx, request.events);
      await insertAnswers(tx, requestId, 0, (response.body as Bundle).entry ?? []);
      await recordProgress(tx, requestId, 1, 'completed');
    });
  } catch (err) {
    const fhirError = toFhirError(err);
    if (!fhirError) throw err;
    request.events.length = 0;
    dropAuditSince(request.audit, 0);
    recordTransactionFailure(request.audit, fhirError);
    await flushEvents(contextOf(services, request), tx, []);
    await recordFailure(tx, requestId, { status: fhirError.status, outcome: fhirError.outcome });
  }
}

/** The status URL: 202 with progress, then the final report; only for the client that sent it (or admin). */
export async function asyncStatus(services: FhirServices, principal: Principal | undefined, id: string): Promise<FhirResponse> {
  const row = await asyncRequestStatus(services.db, id);
  if (!row || !principal || (row.client_id !== principal.clientId && !hasAnyRole(principal, ['admin']))) throw notFound(`No asynchronous request ${id}`);
  if (row.state === 'accepted' || row.state === 'in-progress') {
    return { status: 202, headers: { 'X-Progress': `${row.processed} of ${row.total} processed`, 'Retry-After': '2' }, body: okOutcome(`In progress: ${row.processed} of ${row.total}`) };
  }
  if (row.state === 'failed' && row.error) throw new FhirError(row.error.status, row.error.outcome);
  if (row.state === 'cancelled') throw notFound(`Asynchronous request ${id} was cancelled`);
  const type = row.type === 'transaction' ? 'transaction-response' : 'batch-response';
  return { status: 200, body: { resourceType: 'Bundle', type, ...listOf('entry', await asyncAnswers(services.db, id)) } };
}

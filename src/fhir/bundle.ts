/**
 * `batch` and `transaction` Bundles at the FHIR base. A transaction runs in
 * one database transaction: ids of created resources are decided first
 * (conditional creates included), then every `urn:uuid:` reference is
 * rewritten, then the writes run in FHIR's order (POST, PUT, then GET); any
 * failure rolls everything back and answers for the entry that failed. A batch
 * runs each entry on its own and reports each outcome.
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { badRequest, FhirError, payloadTooLarge, toFhirError, unauthorized } from '../core/outcomes.js';
import { authorize } from '../domain/access.js';
import { dropAuditSince } from '../domain/audit/trail.js';
import { writeDirectoryBatch, type BatchItem } from '../domain/directory/push.js';
import type { DomainEvent } from '../domain/kind.js';
import { kindOf } from '../domain/registry.js';
import { createResource, dropEventsSince, findConditionalMatch, findUpsertTarget, flushEvents, requireKind, type UnitContext } from '../domain/repository.js';
import { underSavepoint, type Queryable } from '../store/db.js';
import { contextOf } from './context.js';
import { recordRefusal } from './interaction-audit.js';
import { conditionalQuery, validateBody, writeResponse } from './interactions/common.js';
import type { FhirRequest, FhirResponse, FhirServices } from './types.js';
import { findPath } from './walk.js';
import { listOf } from '../core/json.js';

interface EntryPlan {
  index: number;
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  type: string;
  fullUrl?: string;
  resource?: Resource;
  ifNoneExist?: string;
  ifMatch?: string;
  /** For a POST: the id decided in the first phase, and whether it matched an existing resource. */
  id?: string;
  matched?: Resource;
}

const ORDER: Record<EntryPlan['method'], number> = { POST: 0, PUT: 1, GET: 2 };

/** Entries of a batch committed together (each still under its own savepoint). */
const BATCH_SLICE = 500;

function entryPath(index: number): string {
  return `Bundle.entry[${index}]`;
}

/** Re-addresses an error to the entry that caused it: `Patient.birthDate` becomes `Bundle.entry[3].resource.birthDate`. */
function atEntry(err: unknown, index: number, type?: string): unknown {
  const fhirError = toFhirError(err);
  if (!fhirError) return err;
  const inEntry = (e: string): string | undefined =>
    e.startsWith('Bundle.') ? e : type && (e === type || e.startsWith(`${type}.`) || e.startsWith(`${type}[`)) ? `${entryPath(index)}.resource${e.slice(type.length)}` : undefined;
  const issues = fhirError.outcome.issue.map((i) => {
    const mapped = (i.expression ?? []).map(inEntry).filter((e): e is string => !!e);
    return {
      ...i,
      diagnostics: `entry[${index}]: ${i.diagnostics ?? i.details?.text ?? ''}`,
      expression: mapped.length > 0 ? mapped : [entryPath(index), ...(i.expression ?? [])],
    };
  });
  return new FhirError(fhirError.status, { ...fhirError.outcome, issue: issues }, fhirError.headers);
}

function planEntry(entry: BundleEntry, index: number): EntryPlan {
  const path = entryPath(index);
  const request = entry.request;
  if (!request?.method || !request.url) throw badRequest(`entry[${index}] needs request.method and request.url`, `${path}.request`);
  const method = request.method;
  if (method !== 'GET' && method !== 'POST' && method !== 'PUT') {
    throw badRequest(`entry[${index}]: ${method} is not supported in a Bundle (GET, POST, PUT are)`, `${path}.request.method`);
  }
  const url = request.url.replace(/^\//, '');
  const type = url.split(/[/?]/)[0];
  if (method !== 'GET') {
    requireKind(type);
    if (!entry.resource) throw badRequest(`entry[${index}]: ${method} needs a resource`, `${path}.resource`);
    if (method === 'POST' && url !== type) throw badRequest(`entry[${index}]: POST url must be the type ("${type}")`, `${path}.request.url`);
    if (method === 'PUT' && !/^[A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(url)) {
      throw badRequest(`entry[${index}]: PUT url must be Type/id (conditional update is not supported)`, `${path}.request.url`);
    }
  }
  return {
    index,
    method,
    url,
    type,
    fullUrl: entry.fullUrl,
    resource: entry.resource,
    ifNoneExist: request.ifNoneExist,
    ifMatch: request.ifMatch,
  };
}

/** The path of the first `urn:` reference left in a value, if any. */
function unresolvedReference(value: unknown, path: string): string | undefined {
  return findPath(value, path, (key, v) => key === 'reference' && typeof v === 'string' && /^urn:(uuid|oid):/.test(v));
}

/** Replaces every `reference` equal to a key of `map` (deep), returning a new value. */
function rewriteReferences<T>(value: T, map: Map<string, string>): T {
  if (Array.isArray(value)) return value.map((v: unknown) => rewriteReferences(v, map)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = k === 'reference' && typeof v === 'string' && map.has(v) ? map.get(v) : rewriteReferences(v, map);
    }
    return out as T;
  }
  return value;
}

function entryRequest(plan: EntryPlan, principal: FhirRequest['principal']): FhirRequest {
  const [path, search] = plan.url.split('?');
  return {
    method: plan.method,
    path,
    query: new URLSearchParams(search ?? ''),
    body: plan.resource,
    ifMatch: plan.ifMatch,
    ifNoneExist: plan.ifNoneExist,
    principal,
  };
}

function responseEntry(response: FhirResponse): BundleEntry {
  const headers = response.headers ?? {};
  // A write that was skipped answers with an OperationOutcome saying why: it goes to `outcome`.
  const isOutcome = response.body?.resourceType === 'OperationOutcome';
  return {
    ...(response.body && !isOutcome ? { resource: response.body } : {}),
    response: {
      status: String(response.status),
      ...(headers.Location ? { location: headers.Location } : {}),
      ...(headers.ETag ? { etag: headers.ETag } : {}),
      ...(response.body?.meta?.lastUpdated ? { lastModified: response.body.meta.lastUpdated } : {}),
      ...(isOutcome ? { outcome: response.body as OperationOutcome } : {}),
    },
  };
}

/**
 * An entry's answer naming what its write created besides itself (the Tasks
 * of an admission request, one per unit), so that the sender knows them
 * without searching: information issues in `response.outcome`.
 */
function withAlsoCreated(entry: BundleEntry, events: readonly DomainEvent[]): BundleEntry {
  const self = entry.resource;
  const created = events.flatMap((e) => (e.event === 'write' && e.action === 'created' ? e.resources : [])).filter((r) => r.resourceType !== self?.resourceType || r.id !== self?.id);
  if (created.length === 0 || !entry.response) return entry;
  const issue: OperationOutcome['issue'] = created.map((r) => {
    const owner = (r as { owner?: { reference?: string } }).owner?.reference;
    return { severity: 'information', code: 'informational', diagnostics: `Also created: ${r.resourceType}/${r.id}${owner ? ` (owner ${owner})` : ''}` };
  });
  return { ...entry, response: { ...entry.response, outcome: { resourceType: 'OperationOutcome', issue } } };
}

function errorEntry(err: FhirError): BundleEntry {
  return { response: { status: String(err.status), outcome: err.outcome } };
}

/**
 * A batch entry's resource may not point at another entry: a batch's entries
 * are independent (FHIR R4 §3.1.0.11.1), and a `urn:uuid:` reference stored
 * as sent points nowhere. Checked once the caller may write the type, so that
 * 401 and 403 come first as for any write.
 */
function checkIndependent(plan: EntryPlan, principal: FhirRequest['principal']): void {
  // A resource written (not an operation's Parameters).
  if (!plan.resource || plan.resource.resourceType !== plan.type || (plan.method !== 'POST' && plan.method !== 'PUT')) return;
  const kind = kindOf(plan.type);
  if (kind) authorize(principal, kind, 'write');
  const left = unresolvedReference(plan.resource, `${entryPath(plan.index)}.resource`);
  if (left) throw badRequest('A batch’s entries are independent: this reference points at a urn: (send linked entries as a transaction, whose urn:uuid references are resolved)', left);
}

/** The entry's resource with its `urn:uuid:` references resolved; 400 for one that does not resolve. */
function resolved(plan: EntryPlan, references: Map<string, string>): Resource {
  const resource = rewriteReferences(plan.resource as Resource, references);
  const left = unresolvedReference(resource, `${entryPath(plan.index)}.resource`);
  if (left) throw badRequest(`A reference points at a urn: that no entry of the transaction has as fullUrl`, left);
  return resource;
}

/** Checks that a body is a batch or transaction Bundle within the size limit. */
export function checkBundle(services: FhirServices, body: unknown): Bundle & { type: 'batch' | 'transaction'; entry: BundleEntry[] } {
  const bundle = body as Bundle | undefined;
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') throw badRequest('POST to the base expects a Bundle', 'resourceType');
  if (bundle.type !== 'batch' && bundle.type !== 'transaction') throw badRequest(`Bundle.type must be batch or transaction, got "${bundle.type}"`, 'Bundle.type');
  if (!Array.isArray(bundle.entry ?? [])) throw badRequest('Bundle.entry must be an array', 'Bundle.entry');
  const entries = bundle.entry ?? [];
  if (entries.length > services.maxBundleEntries) throw payloadTooLarge(`A Bundle may carry at most ${services.maxBundleEntries} entries; this one has ${entries.length}`);
  const notObject = entries.findIndex((e) => !e || typeof e !== 'object' || Array.isArray(e));
  if (notObject >= 0) throw badRequest(`entry[${notObject}] must be an object`, entryPath(notObject));
  return { ...bundle, type: bundle.type, entry: entries };
}

/** Handles `POST /fhir` with a batch or transaction Bundle. */
export async function processBundle(services: FhirServices, request: FhirRequest): Promise<FhirResponse> {
  const bundle = checkBundle(services, request.body);
  if (bundle.type === 'transaction') return transaction(services, request, bundle, bundle.entry);
  // Entries are independent, each under its own savepoint; committing them a
  // slice at a time spares a commit (and its WAL flush) per entry.
  const responses = new Array<BundleEntry>(bundle.entry.length);
  for (let start = 0; start < bundle.entry.length; start += BATCH_SLICE) {
    const slice = bundle.entry.slice(start, start + BATCH_SLICE);
    const run = async (tx: Queryable): Promise<void> => {
      const events: DomainEvent[] = request.events ?? [];
      const answers = await runBatchSlice(services, { ...request, tx, events }, tx, slice, start);
      answers.forEach((answer, i) => (responses[start + i] = answer));
      // A slice of its own commits here: its writes' listeners first.
      if (!request.tx) await flushEvents(contextOf(services, { ...request, tx, events }), tx, events);
    };
    await (request.tx ? run(request.tx) : services.db.transaction(run));
  }
  return { status: 200, body: { resourceType: 'Bundle', type: 'batch-response', ...listOf('entry', responses) } };
}

/**
 * Runs a slice of a batch within `tx` (entries `start`…): the plain
 * directory writes in bulk, the others one by one. Returns the slice's
 * answers in order.
 */
export async function runBatchSlice(services: FhirServices, request: FhirRequest, tx: Queryable, slice: BundleEntry[], start: number): Promise<BundleEntry[]> {
  // (Without a token no entry writes: each is answered alone, 401 before its resource is looked at.)
  const answered = request.principal ? await directoryWrites(services, { ...request, tx }, tx, slice, start) : new Map<number, BundleEntry>();
  const answers: BundleEntry[] = [];
  for (let i = 0; i < slice.length; i++) answers.push(answered.get(start + i) ?? (await batchEntry(services, { ...request, tx }, slice[i], start + i)));
  return answers;
}

/**
 * The plain directory writes of a batch slice (PUT/POST of a directory type,
 * no If-* condition) go through the bulk writer, a savepoint per type; the
 * answers are keyed by entry index, and the other entries are left to
 * `batchEntry`.
 */
async function directoryWrites(services: FhirServices, request: FhirRequest, tx: Queryable, slice: BundleEntry[], start: number): Promise<Map<number, BundleEntry>> {
  const answered = new Map<number, BundleEntry>();
  const groups = new Map<string, { index: number; item: BatchItem }[]>();
  for (let i = 0; i < slice.length; i++) {
    const entry = slice[i];
    const index = start + i;
    const method = entry.request?.method;
    const type = entry.resource?.resourceType;
    const kind = type ? kindOf(type) : undefined;
    if ((method !== 'PUT' && method !== 'POST') || !kind?.upsertOnNationalKeys || entry.request?.ifMatch || entry.request?.ifNoneExist) continue;
    try {
      const plan = planEntry(entry, index);
      checkIndependent(plan, request.principal);
      if (plan.type !== type) throw badRequest(`entry[${index}]: the resource is a ${type}, the URL says ${plan.type}`, `${entryPath(index)}.request.url`);
      const resource = validateBody(services, entry.resource, requireKind(plan.type));
      const id = method === 'PUT' ? plan.url.split('/')[1] : undefined;
      if (id !== undefined && resource.id !== undefined && resource.id !== id) throw badRequest(`The body's id "${resource.id}" differs from the URL's "${id}"`, `${plan.type}.id`);
      groups.set(plan.type, [...(groups.get(plan.type) ?? []), { index, item: { resource, id } }]);
    } catch (err) {
      const fhirError = toFhirError(atEntry(err, index, type));
      if (!fhirError) throw err;
      answered.set(index, errorEntry(fhirError));
    }
  }
  for (const [type, group] of groups) {
    const ctx = contextOf(services, request) as UnitContext;
    const mark = ctx.events.length;
    try {
      const outcomes = await underSavepoint(tx, 'directory_batch', () => writeDirectoryBatch(ctx, requireKind(type), group.map((g) => g.item)));
      outcomes.forEach((o, i) => {
        const index = group[i].index;
        answered.set(index, 'result' in o ? responseEntry(writeResponse(services, o.result)) : errorEntry(toFhirError(atEntry(o.error, index, type)) as FhirError));
      });
    } catch (err) {
      dropEventsSince(ctx, mark);
      for (const { index } of group) {
        const fhirError = toFhirError(atEntry(err, index, type));
        if (!fhirError) throw err;
        answered.set(index, errorEntry(fhirError));
      }
    }
  }
  return answered;
}

/**
 * Runs one entry of a batch and answers for it: its response, or its error.
 * Within an open transaction (`request.tx`) the entry runs under a savepoint,
 * so a failed entry undoes only itself.
 */
export async function batchEntry(services: FhirServices, request: FhirRequest, entry: BundleEntry, index: number): Promise<BundleEntry> {
  const tx = request.tx;
  const mark = request.audit?.pending.length ?? 0;
  const eventMark = request.events?.length ?? 0;
  let entryReq: FhirRequest | undefined;
  try {
    return await underSavepoint(tx, 'batch_entry', async () => {
      const plan = planEntry(entry, index);
      checkIndependent(plan, request.principal);
      entryReq = { ...entryRequest(plan, request.principal), tx, events: request.events, scheduled: request.scheduled, memo: request.memo, audit: request.audit };
      return responseEntry(await services.handle(entryReq));
    });
  } catch (err) {
    const fhirError = toFhirError(atEntry(err, index, entry.resource?.resourceType));
    if (!fhirError) throw err;
    dropAuditSince(request.audit, mark);
    if (request.events && request.events.length > eventMark) request.events.length = eventMark;
    // (An entry run as a request of its own, outside a Bundle's jobs, has stored its refusal already.)
    if (entryReq) recordRefusal(request.audit, entryReq, err);
    return errorEntry(fhirError);
  }
}

async function transaction(services: FhirServices, request: FhirRequest, bundle: Bundle, entries: BundleEntry[]): Promise<FhirResponse> {
  // Without a token, an entry that needs one fails the transaction before anything is validated.
  if (!request.principal) {
    entries.forEach((entry, i) => {
      const { method, url } = entry.request ?? {};
      if (typeof method === 'string' && typeof url === 'string' && !services.isPublic(method, url.replace(/^\//, '').split('?')[0])) throw atEntry(unauthorized(), i);
    });
  }
  // Base-rule validation of the whole Bundle first, so expressions point into it.
  services.validator.validate(bundle);
  const plans = entries.map((entry, i) => {
    try {
      return planEntry(entry, i);
    } catch (err) {
      throw atEntry(err, i);
    }
  });
  const fullUrls = new Set<string>();
  for (const plan of plans) {
    if (!plan.fullUrl) continue;
    if (fullUrls.has(plan.fullUrl)) throw badRequest(`entry[${plan.index}]: fullUrl ${plan.fullUrl} appears twice`, `${entryPath(plan.index)}.fullUrl`);
    fullUrls.add(plan.fullUrl);
  }
  const inTransaction = <T>(fn: (tx: Queryable) => Promise<T>): Promise<T> => (request.tx ? fn(request.tx) : services.db.transaction(fn));
  const responses = await inTransaction(async (tx: Queryable) => {
    const events: DomainEvent[] = request.events ?? [];
    const ctx = contextOf(services, { ...request, tx, events }) as UnitContext;
    const references = new Map<string, string>();
    // Phase 1: the id of every created resource (an existing one when a conditional create matches).
    for (const plan of plans.filter((p) => p.method === 'POST')) {
      try {
        // Before any look-up: a conditional create's match is returned as the answer, so it is the caller's only if it may create.
        authorize(ctx.principal, requireKind(plan.type), 'write');
        if (plan.ifNoneExist) {
          const condition = conditionalQuery(services, requireKind(plan.type), plan.ifNoneExist);
          plan.matched = await findConditionalMatch(tx, ctx.principal, requireKind(plan.type), condition);
        }
        plan.id = plan.matched?.id ?? (await findUpsertTarget(tx, requireKind(plan.type), plan.resource as Resource)) ?? randomUUID();
        if (plan.fullUrl) references.set(plan.fullUrl, `${plan.type}/${plan.id}`);
      } catch (err) {
        throw atEntry(err, plan.index);
      }
    }
    for (const plan of plans.filter((p) => p.method === 'PUT')) {
      if (plan.fullUrl?.startsWith('urn:uuid:')) references.set(plan.fullUrl, plan.url);
    }
    // Phase 2: writes, in FHIR's order; then reads, which see the writes.
    const results = new Array<BundleEntry>(plans.length);
    for (const plan of [...plans].sort((a, b) => ORDER[a.method] - ORDER[b.method] || a.index - b.index)) {
      try {
        if (plan.method === 'POST') {
          if (plan.matched) {
            results[plan.index] = responseEntry({ status: 200, body: plan.matched });
            continue;
          }
          const resource = validateBody(services, resolved(plan, references), requireKind(plan.type), `${entryPath(plan.index)}.resource`);
          const before = events.length;
          const entry = responseEntry(writeResponse(services, await createResource(ctx, resource, { id: plan.id })));
          results[plan.index] = withAlsoCreated(entry, events.slice(before));
        } else {
          const entryReq = entryRequest({ ...plan, resource: plan.method === 'PUT' ? resolved(plan, references) : undefined }, request.principal);
          results[plan.index] = responseEntry(await services.handle({ ...entryReq, tx, events, scheduled: request.scheduled, memo: request.memo, audit: request.audit }));
        }
      } catch (err) {
        throw atEntry(err, plan.index, plan.type);
      }
    }
    // The transaction commits here when it is its own: its writes' listeners first.
    if (!request.tx) await flushEvents(ctx, tx, events);
    return results;
  });
  return { status: 200, body: { resourceType: 'Bundle', type: 'transaction-response', ...listOf('entry', responses) } };
}

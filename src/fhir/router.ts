/**
 * The FHIR router: a plain request in, a status and a resource out. It
 * parses FHIR syntax (paths, search parameters, If-* headers), validates,
 * and calls the domain; it never touches HTTP or SQL.
 */
import type { Bundle, BundleEntry, Parameters, Resource, Task } from '@medplum/fhirtypes';
import { SDO_TASK_PROFILE } from '../../mappings/decision.js';
import { FIRST_INSTANT, instantRange, LAST_INSTANT, sqlInstant } from '../../mappings/fhir-date.js';
import { importReport } from '../domain/decision-import.js';
import { claimDecisions, pushSdoTask } from '../domain/decisions.js';
import { computeIndicators, indicatorQuery } from '../domain/indicators.js';
import { copyRequest, reactivateRequest, remindTask } from '../domain/referrals.js';
import type { ScheduledJob } from '../queues/schedule.js';
import { authorize } from '../domain/access.js';
import { audit, auditedEntities, auditTrail, dropAuditSince, flushAudit, isAudited, markAudited, PATIENT_DATA, type AuditRecord } from '../domain/audit.js';
import { kindOf } from '../domain/kinds.js';
import type { SearchQuery } from '../domain/search.js';
import {
  createResource,
  readResource,
  readResourceHistory,
  readResourceVersion,
  requireKind,
  searchResources,
  updateResource,
  type CallContext,
  type WriteResult,
} from '../domain/resources.js';
import { acceptAsyncBundle, asyncStatus, wantsAsync } from './async.js';
import { auditEventInteraction } from './audit-request.js';
import { processBundle } from './bundle.js';
import { capabilityStatement } from './capability.js';
import { badRequest, notAllowed, notFound, okOutcome, outcome, issue, toFhirError, unauthorized, unsupportedMediaType } from './outcomes.js';
import { encodeCursor, parseSearch } from './search-request.js';
import { pushScheduled, type FhirRequest, type FhirResponse, type FhirServices } from './types.js';

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const TYPE = /^[A-Z][A-Za-z]{1,63}$/;

/** The `Prefer` header's `handling=lenient`. */
export function isLenient(prefer: string | undefined): boolean {
  return /handling\s*=\s*lenient/i.test(prefer ?? '');
}

/**
 * Whether a request may be answered without a token: the CapabilityStatement;
 * reads, histories and searches of the types everyone may read (the
 * directory); a Bundle, whose entries are each answered as alone (a read of
 * the directory, or 401); and methods no path supports (405 to anyone).
 * Anything else needs a token, and is refused before its body is read.
 */
export function isPublic(method: string, path: string): boolean {
  const m = method.toUpperCase();
  if (m !== 'GET' && m !== 'HEAD' && m !== 'POST' && m !== 'PUT') return true;
  const segments = path.split('/').filter((s) => s !== '');
  const [type, second] = segments;
  if (m === 'POST' && segments.length === 0) return true;
  if ((m === 'GET' || m === 'HEAD') && segments.length === 1 && type === 'metadata') return true;
  if (kindOf(type ?? '')?.access.read !== 'public') return false;
  if (m === 'GET' || m === 'HEAD') return !segments.some((s) => s.startsWith('$'));
  return m === 'POST' && segments.length === 2 && second === '_search';
}

/** Reads an ETag or If-Match value `W/"3"` (or `3`) as a version number. */
export function parseVersionTag(value: string): number {
  const m = /^(?:W\/)?"?(\d{1,9})"?$/.exec(value.trim());
  if (!m) throw badRequest(`If-Match must be a version ETag such as W/"3", got ${JSON.stringify(value)}`, 'If-Match');
  return Number(m[1]);
}

function checkId(id: string): string {
  if (!ID.test(id)) throw badRequest(`Invalid id "${id}": 1 to 64 characters among A-Z a-z 0-9 - .`);
  return id;
}

/** Headers of a stored version: ETag, Last-Modified and Location. */
export function versionHeaders(services: FhirServices, resource: Resource): Record<string, string> {
  const version = resource.meta?.versionId ?? '';
  return {
    ETag: `W/"${version}"`,
    'Last-Modified': new Date(resource.meta?.lastUpdated ?? Date.now()).toUTCString(),
    Location: `${services.baseUrl}/${resource.resourceType}/${resource.id}/_history/${version}`,
  };
}

/** The answer to a write: 201/200 with the resource, or 200 with an OperationOutcome when a stale push was ignored. */
export function writeResponse(services: FhirServices, result: WriteResult): FhirResponse {
  const headers = versionHeaders(services, result.resource);
  if (result.skipped === 'stale') {
    const stored = `${result.resource.resourceType}/${result.resource.id}`;
    return {
      status: 200,
      headers,
      body: outcome(
        issue('conflict', `Update ignored: ${stored} already holds a version at least as recent (version ${result.resource.meta?.versionId}); nothing was changed`, undefined, 'warning')
      ),
    };
  }
  return { status: result.created ? 201 : 200, body: result.resource, headers };
}

/** Checks a request body as a resource of `type` and against the kind's profiles. */
export function validateBody(services: FhirServices, body: unknown, type: string, path?: string): Resource {
  const kind = requireKind(type);
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The body must be a JSON resource', path);
  const bodyType = (body as { resourceType?: unknown }).resourceType;
  if (bodyType !== type) throw badRequest(`The body is a ${String(bodyType)}, the URL says ${type}`, path ? `${path}.resourceType` : 'resourceType');
  services.validator.validate(body, kind.profiles, path);
  return body;
}

/** Parses the If-None-Exist criteria of a conditional create. */
export function conditionalQuery(services: FhirServices, type: string, criteria: string): { query: SearchQuery; key: string } {
  const kind = requireKind(type);
  const params = new URLSearchParams(criteria.replace(/^\?/, '').replace(new RegExp(`^${type}\\?`), ''));
  const parsed = parseSearch(kind, params, services.search);
  if (parsed.query.criteria.length === 0) throw badRequest('If-None-Exist needs at least one search criterion', 'If-None-Exist');
  const key = parsed.canonical.map(([k, v]) => `${k}=${v}`).sort().join('&');
  return { query: parsed.query, key };
}

function searchBundle(services: FhirServices, type: string, request: FhirRequest, ctx: CallContext): Promise<FhirResponse> {
  const kind = requireKind(type);
  // Who asks is settled before what is asked: no token is 401 and a role that may not read the type 403, whatever the parameters.
  authorize(ctx.principal, kind, 'read');
  const parsed = parseSearch(kind, request.query, services.search, isLenient(request.prefer));
  return searchResources(ctx, parsed.query).then((page) => {
    const entities = auditedEntities([...page.resources, ...page.included]);
    if (PATIENT_DATA.has(type) || entities.length > 0) {
      audit(request.audit, { action: 'R', interaction: 'search-type', status: 200, resourceType: type, entities, query: new URLSearchParams(parsed.canonical).toString() });
    }
    const link = (cursor?: string): string => {
      const params = new URLSearchParams(parsed.canonical);
      if (!params.has('_count')) params.set('_count', String(parsed.query.count));
      if (cursor) params.set('_cursor', cursor);
      return `${services.baseUrl}/${type}?${params.toString()}`;
    };
    const self = request.query.get('_cursor') ?? undefined;
    const entries: BundleEntry[] = [
      ...page.resources.map((r) => ({ fullUrl: `${services.baseUrl}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'match' as const } })),
      ...page.included.map((r) => ({ fullUrl: `${services.baseUrl}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'include' as const } })),
    ];
    if (parsed.ignored.length > 0) {
      entries.push({
        resource: outcome(issue('not-supported', `Ignored unsupported parameter(s): ${parsed.ignored.join(', ')}`, undefined, 'warning')),
        search: { mode: 'outcome' },
      });
    }
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      ...(page.total !== undefined ? { total: page.total } : {}),
      link: [{ relation: 'self', url: link(self) }, ...(page.next ? [{ relation: 'next', url: link(encodeCursor(page.next)) }] : [])],
      entry: entries,
    };
    return { status: 200, body: bundle };
  });
}

function parseHistoryOptions(services: FhirServices, query: URLSearchParams): { since?: string; count: number; after?: { lastUpdated: string; id: string; version: number } } {
  let count = services.search.defaultCount;
  let since: string | undefined;
  let after: { lastUpdated: string; id: string; version: number } | undefined;
  for (const [key, value] of query) {
    if (key === '_count') {
      if (!/^\d{1,9}$/.test(value)) throw badRequest(`_count must be a non-negative integer, got "${value}"`, '_count');
      count = Math.min(Number(value), services.search.maxCount);
    } else if (key === '_since') {
      const range = /^\d{4}-\d{2}-\d{2}T/.test(value) ? instantRange(value) : undefined;
      if (!range) throw badRequest(`_since must be an instant, got "${value}"`, '_since');
      // Within the years PostgreSQL reads (no version is stored outside them), and as the links can repeat it.
      since = new Date(Math.min(Math.max(range.low, FIRST_INSTANT), LAST_INSTANT)).toISOString();
    } else if (key === '_cursor') {
      try {
        const [lastUpdated, id, version] = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as [string, string, number];
        // As the server wrote it: an ISO instant of years 0001–9999, an id, a version number.
        const instant = typeof lastUpdated === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(lastUpdated) ? Date.parse(lastUpdated) : NaN;
        if (Number.isNaN(instant) || sqlInstant(instant) !== lastUpdated || typeof id !== 'string' || id.includes('\u0000') || !Number.isInteger(version) || version < 1 || version > 2 ** 31 - 1) throw new Error();
        after = { lastUpdated, id, version };
      } catch {
        throw badRequest('Invalid _cursor: use the links of a previous page as given', '_cursor');
      }
    } else if (key !== '_format') {
      throw badRequest(`Unsupported history parameter "${key}"; supported: _count, _since`, key);
    }
  }
  return { since, count, after };
}

async function history(services: FhirServices, request: FhirRequest, ctx: CallContext, type: string, id?: string): Promise<FhirResponse> {
  const options = parseHistoryOptions(services, request.query);
  const page = await readResourceHistory(ctx, type, { ...options, id });
  if (PATIENT_DATA.has(type)) {
    audit(request.audit, { action: 'R', interaction: id ? 'history-instance' : 'history-type', status: 200, resourceType: type, entities: auditedEntities(page.entries.map((e) => e.content)) });
  }
  const base = `${services.baseUrl}/${type}${id ? `/${id}` : ''}/_history`;
  const link = (cursor?: string): string => {
    const params = new URLSearchParams();
    if (options.since) params.set('_since', options.since);
    params.set('_count', String(options.count));
    if (cursor) params.set('_cursor', cursor);
    return `${base}?${params.toString()}`;
  };
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'history',
    link: [
      { relation: 'self', url: link(request.query.get('_cursor') ?? undefined) },
      ...(page.next ? [{ relation: 'next', url: link(encodeCursor([page.next.lastUpdated, page.next.id, page.next.version])) }] : []),
    ],
    entry: page.entries.map((e) => ({
      fullUrl: `${services.baseUrl}/${type}/${e.id}`,
      resource: e.content,
      request: { method: e.version === 1 ? 'POST' : 'PUT', url: e.version === 1 ? type : `${type}/${e.id}` },
      response: { status: e.version === 1 ? '201 Created' : '200 OK', etag: `W/"${e.version}"`, lastModified: e.lastUpdated.toISOString() },
    })),
  };
  return { status: 200, body: bundle };
}

/** Unwraps the resource of a `$validate` body (a resource, or Parameters with a `resource` part). */
function validateOperation(services: FhirServices, type: string, body: unknown): FhirResponse {
  const kind = requireKind(type);
  let resource = body;
  if (body && typeof body === 'object' && (body as Resource).resourceType === 'Parameters') {
    checkParameters(services, body, false);
    const part = ((body as { parameter?: { name?: string; resource?: unknown }[] }).parameter ?? []).find((p) => p.name === 'resource');
    if (!part?.resource) throw badRequest('$validate expects a resource, or Parameters with a "resource" parameter', 'Parameters.parameter');
    resource = part.resource;
  }
  if ((resource as Resource | undefined)?.resourceType !== type) {
    return { status: 200, body: outcome(issue('structure', `Expected a ${type}`, 'resourceType')) };
  }
  const issues = services.validator.check(resource, kind.profiles);
  const found = [...issues.base, ...issues.profile];
  return { status: 200, body: found.length > 0 ? outcome(...found) : okOutcome(`${type} is valid`) };
}

/**
 * Handles one FHIR interaction. Jobs its writes recorded are told to Redis
 * once it has committed (an enclosing Bundle does it for its entries). A
 * write of patient data runs in one transaction with its audit events; the
 * events of reads and refusals are stored (group commit) before answering.
 */
export async function handleFhir(services: FhirServices, request: FhirRequest): Promise<FhirResponse> {
  if (request.scheduled) return route(services, request, request.scheduled);
  const scheduled: ScheduledJob[] = [];
  const trail = request.audit ?? auditTrail({ principal: request.principal });
  const full: FhirRequest = { ...request, scheduled, memo: request.memo ?? new Map(), audit: trail };
  let response: FhirResponse;
  try {
    if (!request.tx && writesPatientData(request)) {
      response = await services.db.transaction(async (tx) => {
        const answer = await route(services, { ...full, tx }, scheduled);
        await flushAudit(tx, trail, services.clock.now());
        return answer;
      });
    } else {
      response = await route(services, full, scheduled);
      if (request.tx) await flushAudit(request.tx, trail, services.clock.now());
    }
  } catch (err) {
    // The writes were rolled back, their events with them: what is stored is the refusal (unless already stored).
    dropAuditSince(trail, 0);
    const refused = isAudited(err) ? undefined : refusalRecord(request, err);
    if (refused) {
      audit(trail, refused);
      await services.audit.append(trail, services.clock.now()).catch(() => undefined); // the error answered is the request's own
    }
    markAudited(err);
    throw err;
  }
  if (!request.tx) await pushScheduled(services, scheduled);
  await services.audit.append(trail, services.clock.now());
  return response;
}

/** Whether a request writes patient data outside any transaction yet (a create, an update or an operation). */
function writesPatientData(request: FhirRequest): boolean {
  const method = request.method.toUpperCase();
  if (method === 'GET' || method === 'HEAD') return false;
  const segments = request.path.split('/').filter((s) => s !== '');
  const [type, second] = segments;
  if (!PATIENT_DATA.has(type) || second === '_search' || second === '$validate') return false;
  // A plain create or update stores its own audit event, in its transaction or its one statement (domain/resources.ts).
  const plain = !isSdoTask(request.body) && ((segments.length === 1 && method === 'POST') || (segments.length === 2 && method === 'PUT'));
  return !plain;
}

/** The audit event of a request on patient data that failed (none for other requests). */
export function refusalRecord(request: FhirRequest, err: unknown): AuditRecord | undefined {
  const status = toFhirError(err)?.status ?? 500;
  const detail = (toFhirError(err)?.outcome.issue?.[0]?.diagnostics ?? 'Internal error').slice(0, 500);
  const method = request.method.toUpperCase();
  const segments = request.path.split('/').filter((s) => s !== '');
  const [type, second, third] = segments;
  if (segments.length === 0) {
    const interaction = (request.body as Bundle | undefined)?.type === 'transaction' ? 'transaction' : 'batch';
    return method === 'POST' ? { action: 'E', interaction, status, entities: [], detail } : undefined;
  }
  if (!PATIENT_DATA.has(type)) return undefined;
  const id = second !== undefined && ID.test(second) ? second : undefined;
  const entities = id ? [{ type, id }] : [];
  const operation = [second, third].find((s) => s?.startsWith('$'));
  if (operation) return { action: 'E', interaction: 'operation', status, resourceType: type, entities, query: operation, detail };
  if (method === 'GET' || second === '_search') {
    const interaction = segments.length === 1 || second === '_search' ? 'search-type' : third === '_history' ? (segments.length === 4 ? 'vread' : 'history-instance') : second === '_history' ? 'history-type' : 'read';
    return { action: 'R', interaction, status, resourceType: type, entities, ...(interaction === 'search-type' ? { query: request.query.toString().slice(0, 2_000) } : {}), detail };
  }
  if (method === 'POST') return { action: 'C', interaction: 'create', status, resourceType: type, entities, detail };
  if (method === 'PUT') return { action: 'U', interaction: 'update', status, resourceType: type, entities, detail };
  if (method === 'DELETE') return { action: 'D', interaction: 'delete', status, resourceType: type, entities, detail };
  return { action: 'E', interaction: method.toLowerCase(), status, resourceType: type, entities, detail };
}

/** Whether a body claims the SDO Task profile (ESMS software's status pushes). */
function isSdoTask(body: unknown): boolean {
  return (body as Resource | undefined)?.resourceType === 'Task' && ((body as Task).meta?.profile ?? []).includes(SDO_TASK_PROFILE);
}

/** The `valueDate` of a named parameter of a Parameters body, if any. */
function dateParameter(body: unknown, name: string): string | undefined {
  const part = ((body as Parameters | undefined)?.parameter ?? []).find((p) => p.name === name);
  const value = part?.valueDate;
  const real = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value) && new Date(`${value}T00:00:00Z`).toISOString().slice(0, 10) === value;
  if (part && !real) throw badRequest(`Parameter ${name} is a valueDate, a real day YYYY-MM-DD`, `Parameters.parameter.where(name='${name}')`);
  return part?.valueDate;
}

/** The `valueString` of a named parameter of a Parameters body, if any. */
function stringParameter(body: unknown, name: string): string | undefined {
  if (body === undefined || body === null) return undefined;
  if ((body as Resource).resourceType !== 'Parameters') throw badRequest('The operation takes a Parameters resource', 'resourceType');
  const part = ((body as Parameters).parameter ?? []).find((p) => p.name === name);
  if (part && typeof part.valueString !== 'string') throw badRequest(`Parameter ${name} is a valueString`, `Parameters.parameter.where(name='${name}')`);
  return part?.valueString;
}

/** Named operations on one resource: `Task/{id}/$remind`, `ServiceRequest/{id}/$reactivate`, `ServiceRequest/{id}/$copy`. */
/** Checks an operation's body, when it has one, as a FHIR Parameters resource (400 otherwise). */
function checkParameters(services: FhirServices, body: unknown, full = true): void {
  if (body === undefined || body === null) return;
  if ((body as Resource).resourceType !== 'Parameters') throw badRequest('The operation takes a Parameters resource', 'resourceType');
  const parameter = (body as { parameter?: unknown }).parameter;
  if (parameter !== undefined && (!Array.isArray(parameter) || parameter.some((p) => !p || typeof p !== 'object' || typeof (p as { name?: unknown }).name !== 'string'))) {
    throw badRequest('Parameters.parameter is a list of named parameters', 'Parameters.parameter');
  }
  if (full) services.validator.validate(body);
}

async function instanceOperation(services: FhirServices, request: FhirRequest, ctx: CallContext, type: string, id: string, name: string): Promise<FhirResponse> {
  if (request.method.toUpperCase() !== 'POST') throw notAllowed(`${name} is called with POST`);
  if (!request.principal) throw unauthorized();
  checkParameters(services, request.body);
  if (type === 'Task' && name === '$remind') {
    const text = stringParameter(request.body, 'message');
    if (text !== undefined && text.trim() === '') throw badRequest('message, when given, is not empty', "Parameters.parameter.where(name='message')");
    const message = await remindTask(ctx, id, text);
    return { status: 201, body: message, headers: versionHeaders(services, message) };
  }
  if (type === 'ServiceRequest' && name === '$reactivate') {
    stringParameter(request.body, '-');
    const reactivated = await reactivateRequest(ctx, id);
    return { status: 200, body: reactivated, headers: versionHeaders(services, reactivated) };
  }
  if (type === 'ServiceRequest' && name === '$copy') {
    const body = request.body as Parameters | undefined;
    if (body?.resourceType !== 'Parameters') throw badRequest('$copy takes a Parameters resource with performer (valueReference) parameters', 'resourceType');
    const performers = (body.parameter ?? []).filter((p) => p.name === 'performer').map((p, i) => {
      if (!p.valueReference?.reference) throw badRequest('performer is a valueReference to HealthcareService/{id}', `Parameters.parameter[${i}]`);
      return p.valueReference;
    });
    const created = await copyRequest(ctx, id, performers);
    return { status: 201, body: created, headers: versionHeaders(services, created) };
  }
  throw notFound(`Operation ${name} is not supported on ${type}/{id}`);
}

async function route(services: FhirServices, request: FhirRequest, scheduled: ScheduledJob[]): Promise<FhirResponse> {
  const ctx: CallContext = { db: services.db, tx: request.tx, principal: request.principal, clock: services.clock, scheduled, durations: services.durations, memo: request.memo, allowPrivateEndpoints: services.allowPrivateEndpoints, claimLimit: services.claimLimit, audit: request.audit };
  const segments = request.path.split('/').filter((s) => s !== '');
  const method = request.method.toUpperCase();
  const [type, second, third, fourth] = segments;
  // Who asks is settled before what is asked (the HTTP layer does it too; a Bundle's entries arrive here).
  if (!request.principal && !isPublic(method, request.path)) throw unauthorized();

  if (segments.length === 0) {
    if (method === 'POST' && wantsAsync(request.prefer)) {
      if (!request.principal) throw unauthorized();
      return acceptAsyncBundle(services, request);
    }
    if (method === 'POST') return processBundle(services, request);
    throw notAllowed(`${method} on the base is not supported; POST a batch or transaction Bundle`);
  }
  if (type === 'metadata' && segments.length === 1) {
    if (method !== 'GET') throw notAllowed('metadata is read with GET');
    return { status: 200, body: capabilityStatement(services.baseUrl, services.validator.profiles, services.version, services.clock.now().toISOString().slice(0, 10)) };
  }
  if ((type === '_async' || type === '_import') && segments.length === 2 && method === 'GET' && !request.principal) throw unauthorized();
  if (type === '_async' && segments.length === 2 && method === 'GET') return asyncStatus(services, request.principal, checkId(second));
  if (type === '_import' && segments.length === 2 && method === 'GET') {
    const report = await importReport(services.db, request.principal, checkId(second));
    return { status: report.status, body: report.outcome, headers: report.progress ? { 'X-Progress': report.progress, 'Retry-After': '2' } : {} };
  }
  if (type === '$indicators' && segments.length === 1) {
    if (method !== 'GET') throw notAllowed('$indicators is read with GET');
    if (!request.principal) throw unauthorized();
    const today = services.clock.now().toISOString().slice(0, 10);
    const query = indicatorQuery(request.principal, request.query, today);
    // Aggregates over every decision: sorts in memory, and no JIT compile for a statement run once.
    const body = await services.db.transaction(async (q) => {
      await q.query(`SET LOCAL work_mem = '64MB'`);
      await q.query(`SET LOCAL jit = off`);
      return computeIndicators(q, query);
    });
    return { status: 200, body };
  }
  if (type === 'AuditEvent') {
    if (segments[1] !== undefined) checkId(segments[1]);
    return auditEventInteraction(services, request, segments);
  }
  if (type === '$import-decisions') throw unsupportedMediaType('POST the decisions file with Content-Type text/csv and Prefer: respond-async');
  if (!TYPE.test(type)) throw notFound(`Unknown path /${segments.join('/')}`);
  if (!kindOf(type)) {
    throw notFound(services.validator.resourceTypes.has(type) ? `Resource type ${type} is not supported by this server` : `Unknown resource type ${type}`);
  }

  if (segments.length === 1 && type === 'Task' && method === 'POST' && isSdoTask(request.body)) {
    const task = validateBody(services, request.body, 'Task');
    return writeResponse(services, await pushSdoTask(ctx, task as Task));
  }
  if (segments.length === 1) {
    if (method === 'GET') return searchBundle(services, type, request, ctx);
    if (method === 'POST') {
      authorize(request.principal, requireKind(type), 'write');
      const resource = validateBody(services, request.body, type);
      // An empty If-None-Exist is a condition without criteria (400), not the absence of one.
      const ifNoneExist = request.ifNoneExist !== undefined ? conditionalQuery(services, type, request.ifNoneExist) : undefined;
      return writeResponse(services, await createResource(ctx, resource, { ifNoneExist }));
    }
    throw notAllowed(`${method} /${type} is not supported`);
  }
  if (segments.length === 2 && second === '_search' && method === 'POST') {
    return searchBundle(services, type, request, ctx);
  }
  if (segments.length === 2 && second === '_history' && method === 'GET') return history(services, request, ctx, type);
  if (segments.length === 2 && second === '$validate' && method === 'POST') return validateOperation(services, type, request.body);
  if (segments.length === 2 && type === 'ServiceRequest' && second === '$claim') {
    if (method !== 'POST') throw notAllowed('$claim is called with POST');
    if (!request.principal) throw unauthorized();
    checkParameters(services, request.body);
    const individual = stringParameter(request.body, 'individualNumber');
    const birthDate = dateParameter(request.body, 'birthDate');
    if (!individual || !birthDate) throw badRequest('$claim takes Parameters individualNumber (valueString) and birthDate (valueDate)', 'Parameters.parameter');
    const tasks = await claimDecisions(ctx, individual, birthDate, stringParameter(request.body, 'department'));
    audit(request.audit, { action: 'E', interaction: 'operation', status: 200, resourceType: type, entities: auditedEntities(tasks), query: '$claim' });
    return { status: 200, body: { resourceType: 'Bundle', type: 'collection', entry: tasks.map((t) => ({ fullUrl: `${services.baseUrl}/Task/${t.id}`, resource: t })) } };
  }
  if (second?.startsWith('$')) throw notFound(`Operation ${second} is not supported on ${type}`);

  const id = checkId(second);
  if (segments.length === 3 && third.startsWith('$')) {
    const response = await instanceOperation(services, request, ctx, type, id, third);
    if (PATIENT_DATA.has(type)) {
      audit(request.audit, { action: 'E', interaction: 'operation', status: response.status, resourceType: type, entities: [{ type, id }, ...auditedEntities([response.body])], query: third });
    }
    return response;
  }
  if (segments.length === 2) {
    if (method === 'GET') {
      // Alone, the read stores its audit event in its own statement; within a Bundle, the Bundle stores it.
      const resource = await readResource(ctx, type, id, request.tx ? undefined : request.audit);
      if (request.tx && PATIENT_DATA.has(type)) audit(request.audit, { action: 'R', interaction: 'read', status: 200, resourceType: type, entities: auditedEntities([resource]) });
      return { status: 200, body: resource, headers: versionHeaders(services, resource) };
    }
    if (method === 'PUT' && type === 'Task' && isSdoTask(request.body)) {
      const task = validateBody(services, request.body, 'Task');
      return writeResponse(services, await pushSdoTask(ctx, task as Task, id));
    }
    if (method === 'PUT') {
      authorize(request.principal, requireKind(type), 'write');
      const resource = validateBody(services, request.body, type);
      if (resource.id !== undefined && resource.id !== id) throw badRequest(`The body's id "${resource.id}" differs from the URL's "${id}"`, `${type}.id`);
      const ifMatch = request.ifMatch !== undefined ? parseVersionTag(request.ifMatch) : undefined;
      return writeResponse(services, await updateResource(ctx, resource, id, { ifMatch }));
    }
    throw notAllowed(`${method} /${type}/{id} is not supported`);
  }
  if (third === '_history' && method === 'GET') {
    if (segments.length === 3) return history(services, request, ctx, type, id);
    if (segments.length === 4) {
      if (!/^\d{1,9}$/.test(fourth)) throw notFound(`${type}/${id}/_history/${fourth} not found`);
      const resource = await readResourceVersion(ctx, type, id, Number(fourth));
      if (PATIENT_DATA.has(type)) audit(request.audit, { action: 'R', interaction: 'vread', status: 200, resourceType: type, entities: auditedEntities([resource]) });
      return { status: 200, body: resource, headers: versionHeaders(services, resource) };
    }
  }
  throw notFound(`Unknown path /${segments.join('/')}`);
}

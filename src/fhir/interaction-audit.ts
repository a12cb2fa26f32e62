/**
 * The interaction audit: with the write listener (domain/audit/listener.ts),
 * the only place audit records are made. Every interaction with patient
 * data that reads (read, vread, history, search, and the operations) gets a
 * record naming every patient-data resource it answered with; every refused
 * one gets a record of its refusal. Writes are recorded by the listener.
 */
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { toFhirError, type FhirError } from '../core/outcomes.js';
import { audit, auditedEntities, isAudited, type AuditRecord, type AuditTrail } from '../domain/audit/trail.js';
import { isPatientData } from '../domain/registry.js';
import type { Params, Route } from './route.js';
import type { FhirRequest, FhirResponse, FhirServices } from './types.js';

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** The resources an answer carries: the resource, or a Bundle's entries. */
function answered(body: Resource | undefined): Resource[] {
  if (!body) return [];
  if (body.resourceType === 'Bundle') return ((body).entry ?? []).map((e) => e.resource).filter((r): r is Resource => !!r);
  return [body];
}

/** The record of an interaction that went through, or none (a write: the listener's; a type without patient data). */
function interactionRecord(route: Route, params: Params, response: FhirResponse): AuditRecord | undefined {
  const type = params.type ?? route.auditedAs?.type ?? route.operation?.resource?.[0];
  const entities = auditedEntities(answered(response.body), isPatientData);
  switch (route.interaction) {
    case 'read':
    case 'vread':
    case 'history-instance':
    case 'history-type':
      return type && isPatientData(type) ? { action: 'R', interaction: route.interaction, status: response.status, resourceType: type, entities } : undefined;
    case 'search-type':
      // A search of patient data, or one whose `_include`s brought some.
      return (type && isPatientData(type)) || entities.length > 0 ? { action: 'R', interaction: 'search-type', status: response.status, resourceType: type, entities, query: response.auditNote?.query } : undefined;
    case 'operation': {
      if (!type || !isPatientData(type) || !route.operation?.affectsState) return undefined;
      const target = params.id ? [{ type, id: params.id }] : [];
      return {
        action: route.auditedAs?.action ?? 'E',
        interaction: 'operation',
        status: response.status,
        resourceType: type,
        entities: [...target, ...entities],
        query: `$${route.operation.name}`,
        ...(response.auditNote?.detail ? { detail: response.auditNote.detail } : {}),
      };
    }
    default:
      return undefined;
  }
}

/** The record of a request on patient data that failed (none for other requests), from its path. */
function refusalRecord(request: Pick<FhirRequest, 'method' | 'path' | 'query' | 'body'>, err: unknown): AuditRecord | undefined {
  const status = toFhirError(err)?.status ?? 500;
  const detail = (toFhirError(err)?.outcome.issue?.[0]?.diagnostics ?? 'Internal error').slice(0, 500);
  const method = request.method.toUpperCase();
  const segments = request.path.split('/').filter((s) => s !== '');
  const [first, second, third] = segments;
  if (segments.length === 0) {
    const interaction = (request.body as Bundle | undefined)?.type === 'transaction' ? 'transaction' : 'batch';
    return method === 'POST' ? { action: 'E', interaction, status, entities: [], detail } : undefined;
  }
  // A system operation on decisions (`$import-decisions`) is about ServiceRequest.
  const type = first === '$import-decisions' ? 'ServiceRequest' : first;
  if (!isPatientData(type)) return undefined;
  const id = first !== type ? undefined : second !== undefined && ID.test(second) ? second : undefined;
  const entities = id ? [{ type, id }] : [];
  const operation = [first, second, third].find((s) => s?.startsWith('$'));
  if (operation) return { action: first === '$import-decisions' ? 'C' : 'E', interaction: 'operation', status, resourceType: type, entities, query: operation, detail };
  if (method === 'GET' || second === '_search') {
    const interaction = segments.length === 1 || second === '_search' ? 'search-type' : third === '_history' ? (segments.length === 4 ? 'vread' : 'history-instance') : second === '_history' ? 'history-type' : 'read';
    return { action: 'R', interaction, status, resourceType: type, entities, ...(interaction === 'search-type' ? { query: request.query.toString().slice(0, 2_000) } : {}), detail };
  }
  if (method === 'POST') return { action: 'C', interaction: 'create', status, resourceType: type, entities, detail };
  if (method === 'PUT') return { action: 'U', interaction: 'update', status, resourceType: type, entities, detail };
  if (method === 'DELETE') return { action: 'D', interaction: 'delete', status, resourceType: type, entities, detail };
  return { action: 'E', interaction: method.toLowerCase(), status, resourceType: type, entities, detail };
}

/** Records an interaction that went through, when it is audited (a write is the listener's). */
export function recordInteraction(trail: AuditTrail | undefined, route: Route, params: Params, response: FhirResponse): void {
  const record = interactionRecord(route, params, response);
  if (record) audit(trail, record);
}

/** Records the refusal of a request on patient data (unless its refusal is stored already); whether it did. */
export function recordRefusal(trail: AuditTrail | undefined, request: Pick<FhirRequest, 'method' | 'path' | 'query' | 'body'>, err: unknown): boolean {
  const record = isAudited(err) ? undefined : refusalRecord(request, err);
  if (record) audit(trail, record);
  return !!record;
}

/** Records the failure of a transaction Bundle, whose writes (and their records) were rolled back. */
export function recordTransactionFailure(trail: AuditTrail | undefined, err: FhirError): void {
  audit(trail, { action: 'E', interaction: 'transaction', status: err.status, entities: [], detail: err.outcome.issue?.[0]?.diagnostics?.slice(0, 500) });
}

/**
 * Stores the refusal record of a request on patient data refused before the
 * FHIR core saw it (a bad token, the rate limit, an unreadable body, a
 * dashboard's query), with `query` for what the path does not say. Best
 * effort: the answer is the request's own error either way.
 */
export async function storeRefusal(
  services: FhirServices,
  trail: AuditTrail,
  request: Pick<FhirRequest, 'method' | 'path' | 'query'>,
  err: unknown,
  query?: string
): Promise<void> {
  const record = isAudited(err) ? undefined : refusalRecord(request, err);
  if (!record) return;
  audit(trail, query ? { ...record, query } : record);
  await services.audit.append(trail, services.clock.now());
}

/** Stores the record of a dashboard (an export of tasks): a search of the tasks it lists. */
export async function storeDashboardRead(services: FhirServices, trail: AuditTrail, taskIds: readonly string[], query: string): Promise<void> {
  audit(trail, { action: 'R', interaction: 'search-type', status: 200, resourceType: 'Task', entities: taskIds.map((id) => ({ type: 'Task', id })), query: query.slice(0, 2_000) });
  await services.audit.append(trail, services.clock.now());
}

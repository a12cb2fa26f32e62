/** The domain's call context of a FHIR request. */
import type { CallContext } from '../domain/kind.js';
import type { FhirRequest, FhirServices } from './types.js';

/** The domain's call context of a request: who calls, in which transaction and unit of work, with which settings. */
export function contextOf(services: FhirServices, request: FhirRequest): CallContext {
  return {
    db: services.db,
    tx: request.tx,
    events: request.events,
    principal: request.principal,
    clock: services.clock,
    scheduled: request.scheduled,
    durations: services.durations,
    memo: request.memo,
    allowPrivateEndpoints: services.allowPrivateEndpoints,
    mailAlerts: services.mailAlerts,
    claimLimit: services.claimLimit,
    audit: request.audit,
  };
}


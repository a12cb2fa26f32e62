/** The audit trail of an HTTP request, and the refusals answered before the FHIR core saw the request. */
import type { Context } from 'hono';
import { auditTrail, type AuditTrail } from '../domain/audit/trail.js';
import { storeRefusal } from '../fhir/interaction-audit.js';
import type { FhirServices } from '../fhir/types.js';
import { remoteAddress } from './rate-limit.js';

/** A new trail for this request: its caller, id and address. */
export function trailOf(c: Context): AuditTrail {
  return auditTrail({ principal: c.get('principal'), requestId: c.get('requestId'), address: remoteAddress(c) });
}

/**
 * Records the refusal of a request on patient data that failed outside the
 * FHIR core (a bad token, the rate limit, an unreadable body…). Best effort:
 * the answer is the request's own error either way.
 */
export async function auditRefusal(services: FhirServices, c: Context, err: unknown): Promise<void> {
  const url = new URL(c.req.url);
  const stored = url.pathname === '/fhir' || url.pathname.startsWith('/fhir/')
    ? storeRefusal(services, trailOf(c), { method: c.req.method, path: decodeURIComponentSafe(url.pathname.replace(/^\/fhir\/?/, '')), query: url.searchParams }, err)
    : url.pathname.startsWith('/dashboard/')
      ? storeRefusal(services, trailOf(c), { method: 'GET', path: 'Task', query: url.searchParams }, err, `dashboard ${url.search}`.slice(0, 2_000))
      : undefined;
  await stored?.catch((e: unknown) => c.get('log')?.warn({ err: (e as Error).message }, 'audit of a refusal not stored'));
}

function decodeURIComponentSafe(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

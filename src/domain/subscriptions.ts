/**
 * R4 Subscriptions: rest-hook channel, id-only notifications, on Task and
 * Communication. A subscription remembers who asked (client, organization,
 * roles), because a delivery only ever carries what that client may read.
 */
import type { Resource, Subscription } from '@medplum/fhirtypes';
import { FhirError, ruleViolation } from '../fhir/outcomes.js';
import { parseSearch } from '../fhir/search-request.js';
import { kindOf, type Prepared, type WriteEvent } from './kinds.js';
import type { Principal } from './principal.js';

/** The types a subscription may watch. */
export const SUBSCRIBABLE = ['Task', 'Communication'];

/** A subscription's criteria, parsed: its type and search parameters (400 → 422 on the criteria). */
export function parseCriteria(criteria: string | undefined): { type: string; params: URLSearchParams } {
  const m = /^([A-Z][A-Za-z]+)(?:\?(.*))?$/.exec(criteria ?? '');
  if (!m || !SUBSCRIBABLE.includes(m[1])) throw ruleViolation(`criteria must be a search on ${SUBSCRIBABLE.join(' or ')}, e.g. Task?owner=HealthcareService/123`, 'Subscription.criteria');
  const params = new URLSearchParams(m[2] ?? '');
  try {
    parseSearch(kindOf(m[1])!, params, { defaultCount: 1, maxCount: 1 });
  } catch (err) {
    if (err instanceof FhirError) throw ruleViolation(`criteria: ${err.outcome.issue?.[0]?.diagnostics ?? 'invalid'}`, 'Subscription.criteria');
    throw err;
  }
  return { type: m[1], params };
}

export async function prepareSubscription(e: WriteEvent): Promise<Prepared> {
  const subscription = e.resource as Subscription;
  parseCriteria(subscription.criteria);
  const channel = subscription.channel;
  if (channel?.type !== 'rest-hook') throw ruleViolation('Only rest-hook channels are supported', 'Subscription.channel.type');
  let endpoint: URL;
  try {
    endpoint = new URL(channel.endpoint ?? '');
  } catch {
    throw ruleViolation('channel.endpoint must be an absolute http(s) URL', 'Subscription.channel.endpoint');
  }
  if (endpoint.protocol !== 'https:' && endpoint.protocol !== 'http:') throw ruleViolation('channel.endpoint must be an absolute http(s) URL', 'Subscription.channel.endpoint');
  if (channel.payload && channel.payload !== 'application/fhir+json') throw ruleViolation('channel.payload is application/fhir+json (id-only notifications) or absent', 'Subscription.channel.payload');
  for (const [i, header] of (channel.header ?? []).entries()) {
    if (!/^[A-Za-z0-9-]+:\s?[^\r\n]*$/.test(header)) throw ruleViolation('A channel header is "Name: value"', `Subscription.channel.header[${i}]`);
  }
  const wanted = subscription.status;
  const previous = e.previous?.content as Subscription | undefined;
  if (e.ctx.principal?.gateway) return { resource: subscription };
  const allowed = previous ? ['requested', 'active', 'off'] : ['requested', 'active'];
  if (!allowed.includes(wanted)) throw ruleViolation(`status must be one of ${allowed.join(', ')}`, 'Subscription.status');
  // A requested subscription is checked above and active at once; an endpoint that fails later puts it in error.
  const { error: _e, ...rest } = subscription;
  const resource: Subscription = { ...rest, status: wanted === 'off' ? 'off' : 'active' };
  if (previous) return { resource };
  const p = e.ctx.principal as Principal;
  const principal: Principal = { clientId: p.clientId, roles: p.roles, ...(p.organization ? { organization: p.organization } : {}) };
  return { resource, row: { principal: { json: principal } } };
}

/**
 * R4 Subscriptions: rest-hook channel, id-only notifications, on Task and
 * Communication. A subscription remembers who asked (client, organization,
 * roles), because a delivery only ever carries what that client may read.
 */
import type { Subscription } from '@medplum/fhirtypes';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { FhirError, forbidden, ruleViolation } from '../fhir/outcomes.js';
import { parseSearch } from '../fhir/search-request.js';
import { authorize } from './access.js';
import { kindOf, type Prepared, type ResourceKind, type WriteEvent } from './kinds.js';
import type { Principal } from './principal.js';

/** The types a subscription may watch. */
export const SUBSCRIBABLE = ['Task', 'Communication'];

/**
 * Whether an address is globally routable unicast: not this machine, a
 * private or shared network, a documentation, benchmarking or reserved range,
 * multicast, nor an IPv6 form of one (IPv4-mapped, NAT64, 6to4, Teredo). The
 * table is ipaddr.js's (IANA's special-purpose registries).
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  return ipaddr.process(address).range() === 'unicast';
}

/** Whether an endpoint's host is, by its name alone, not public: a literal non-public address, or localhost. */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  return isIP(host) !== 0 && !isPublicAddress(host);
}

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
  const { type } = parseCriteria(subscription.criteria);
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
  // A subscriber is told only of what it may read: one that may read none of the type would subscribe to nothing.
  authorize(e.ctx.principal, kindOf(type) as ResourceKind, 'read');
  if (!e.ctx.allowPrivateEndpoints && isPrivateHost(endpoint.hostname)) {
    throw ruleViolation('channel.endpoint is a local or private address; subscribers are reached on public addresses', 'Subscription.channel.endpoint');
  }
  if (previous) {
    // A subscription is its creator's: another client of the organization would inherit its rights.
    const { rows } = await e.q.query<{ client: string }>(`SELECT principal->>'clientId' AS client FROM subscription WHERE id = $1`, [e.id]);
    if (rows[0]?.client !== e.ctx.principal?.clientId) throw forbidden('Only the client that created a subscription changes it');
  }
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

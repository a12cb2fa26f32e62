/**
 * Subscription (R4, rest-hook, id-only) on the types declared subscribable.
 * A subscription remembers who asked (client, organization, roles), because
 * a delivery only ever carries what that client may read; its endpoint is a
 * public address (literal addresses and names checked here, every address
 * connected to checked again at delivery).
 */
import type { Subscription } from '@medplum/fhirtypes';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { subscriptionRow } from '../../../mappings/referral.js';
import { FhirError, forbidden, ruleViolation } from '../../core/outcomes.js';
import type { Searchable } from '../../core/search/model.js';
import { parseSearch } from '../../core/search/parse.js';
import { SUBSCRIPTION_COLUMNS, subscriptionCreator } from '../../store/tables/subscription.js';
import { authorize } from '../access.js';
import { COMMON_PARAMS, REFERRAL_ROLES } from '../common-params.js';
import type { Prepared, ResourceKind, WriteEvent } from '../kind.js';
import type { Principal } from '../../core/principal.js';

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

/** A subscription's criteria, parsed: its type (a subscribable one) and search parameters (422 on the criteria otherwise). */
export function parseCriteria(criteria: string | undefined, kindOf: (type: string) => (Searchable & { subscribable: boolean }) | undefined): { type: string; params: URLSearchParams } {
  const m = /^([A-Z][A-Za-z]+)(?:\?(.*))?$/.exec(criteria ?? '');
  const kind = m ? kindOf(m[1]) : undefined;
  if (!m || !kind?.subscribable) throw ruleViolation('criteria must be a search on a type that can be subscribed to (Task, Communication), e.g. Task?owner=HealthcareService/123', 'Subscription.criteria');
  const params = new URLSearchParams(m[2] ?? '');
  try {
    parseSearch(kind, params, { defaultCount: 1, maxCount: 1 });
  } catch (err) {
    if (err instanceof FhirError) throw ruleViolation(`criteria: ${err.outcome.issue?.[0]?.diagnostics ?? 'invalid'}`, 'Subscription.criteria');
    throw err;
  }
  return { type: m[1], params };
}

async function prepareSubscription(e: WriteEvent): Promise<Prepared> {
  const subscription = e.resource as Subscription;
  const kindOf = (type: string): ResourceKind | undefined => {
    try {
      return e.repo.kind(type);
    } catch {
      return undefined;
    }
  };
  const { type } = parseCriteria(subscription.criteria, kindOf);
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
  authorize(e.ctx.principal, e.repo.kind(type), 'read');
  if (!e.ctx.allowPrivateEndpoints && isPrivateHost(endpoint.hostname)) {
    throw ruleViolation('channel.endpoint is a local or private address; subscribers are reached on public addresses', 'Subscription.channel.endpoint');
  }
  // A subscription is its creator's: another client of the organization would inherit its rights.
  if (previous && (await subscriptionCreator(e.q, e.id)) !== e.ctx.principal?.clientId) throw forbidden('Only the client that created a subscription changes it');
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

export const SUBSCRIPTION: ResourceKind<Subscription> = {
  type: 'Subscription',
  table: 'subscription',
  columns: SUBSCRIPTION_COLUMNS,
  toRow: subscriptionRow,
  profiles: [],
  searchParams: [...COMMON_PARAMS.filter((p) => p.code !== 'identifier'), { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'requested | active | error | off' }],
  includes: [],
  access: { read: REFERRAL_ROLES, write: REFERRAL_ROLES, ownerColumn: 'owner_org' },
  patientData: false,
  subscribable: false,
  clientIds: false,
  rules: { prepare: prepareSubscription },
};

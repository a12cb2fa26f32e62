/**
 * Subscription on the types declared subscribable: topic-based, as the R4
 * Subscriptions Backport IG writes it (criteria a topic of mappings/topics.ts,
 * filters in `_criteria`, payload content empty, id-only or full-resource,
 * heartbeat), or plain R4 (criteria a search, id-only); rest-hook.
 * A subscription remembers who asked (client, organization, roles), because
 * a delivery only ever carries what that client may read; its endpoint is a
 * public address (literal addresses and names checked here, every address
 * connected to checked again at delivery).
 */
import type { Subscription } from '@medplum/fhirtypes';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { subscriptionRow } from '../../../mappings/referral.js';
import { PAYLOAD_CONTENTS, subscriptionSettings, TOPICS, type SubscriptionSettings } from '../../../mappings/topics.js';
import { FhirError, forbidden, ruleViolation } from '../../core/outcomes.js';
import type { Searchable } from '../../core/search/model.js';
import { parseSearch } from '../../core/search/parse.js';
import { SUBSCRIPTION_COLUMNS, subscriptionCreator } from '../../store/tables/subscription.js';
import { authorize } from '../access.js';
import { scheduleHeartbeat } from '../../jobs/catalogue.js';
import { COMMON_PARAMS, REQUEST_ROLES } from '../common-params.js';
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
export function parseCriteria(
  criteria: string | undefined,
  kindOf: (type: string) => (Searchable & { subscribable: boolean }) | undefined,
  expression = 'Subscription.criteria'
): { type: string; params: URLSearchParams } {
  const m = /^([A-Z][A-Za-z]+)(?:\?(.*))?$/.exec(criteria ?? '');
  const kind = m ? kindOf(m[1]) : undefined;
  if (!m || !kind?.subscribable) {
    throw ruleViolation(`criteria is a topic (${TOPICS.map((t) => t.url).join(', ')}) or a search on a type that can be subscribed to (${TOPICS.map((t) => t.type).join(', ')}), e.g. Task?owner=HealthcareService/123`, expression);
  }
  const params = new URLSearchParams(m[2] ?? '');
  try {
    parseSearch(kind, params, { defaultCount: 1, maxCount: 1 });
  } catch (err) {
    if (err instanceof FhirError) throw ruleViolation(`criteria: ${err.outcome.issue?.[0]?.diagnostics ?? 'invalid'}`, expression);
    throw err;
  }
  return { type: m[1], params };
}

/** Search parameters that shape an answer rather than select resources. */
const RESULT_PARAMETERS: readonly string[] = ['_count', '_sort', '_include', '_revinclude', '_elements', '_summary', '_total', '_contained', '_containedType', '_format'];

/** The filters of a subscription, each a search on its topic's type; their parameters, all to hold (422 otherwise). */
function checkFilters(filters: readonly string[], type: string, kindOf: (type: string) => ResourceKind | undefined, topic: boolean): URLSearchParams {
  const merged = new URLSearchParams();
  filters.forEach((filter, i) => {
    const at = topic ? `Subscription.criteria.extension[${i}]` : 'Subscription.criteria';
    const { type: filtered, params } = parseCriteria(filter, kindOf, at);
    if (filtered !== type) throw ruleViolation(`A filter of this topic is a search on ${type}, not ${filtered}`, at);
    // A filter says which resources; how a search answers (pages, order, parts) is not for it.
    const shaping = [...params.keys()].find((k) => RESULT_PARAMETERS.includes(k));
    if (shaping) throw ruleViolation(`${shaping} shapes a search's answer; a subscription's filter only selects resources`, at);
    for (const [k, v] of params) merged.append(k, v);
  });
  return merged;
}

async function prepareSubscription(e: WriteEvent): Promise<Prepared> {
  const subscription = e.resource as Subscription;
  // The gateway's own writes (a subscription put in error) keep what the subscriber set.
  if (e.ctx.principal?.gateway) return { resource: subscription };
  const kindOf = (type: string): ResourceKind | undefined => {
    try {
      return e.repo.kind(type);
    } catch {
      return undefined;
    }
  };
  const settings = subscriptionSettings(subscription);
  const isTopicUrl = /^https?:\/\//.test(subscription.criteria ?? '');
  if (isTopicUrl && !settings.topic) throw ruleViolation(`criteria names no topic of this server: ${TOPICS.map((t) => t.url).join(', ')}`, 'Subscription.criteria');
  if (!settings.type) parseCriteria(subscription.criteria, kindOf);
  const type = settings.type as string;
  checkFilters(settings.filters.length > 0 ? settings.filters : [type], type, kindOf, !!settings.topic);
  const channel = subscription.channel;
  const endpoint = channel?.type === 'email' ? checkEmailChannel(e, subscription, settings) : checkRestHookChannel(subscription, settings);
  if (settings.heartbeatSeconds !== 0 && (settings.heartbeatSeconds < MIN_HEARTBEAT_SECONDS || settings.heartbeatSeconds > MAX_HEARTBEAT_SECONDS)) {
    throw ruleViolation(`The heartbeat period is ${MIN_HEARTBEAT_SECONDS} to ${MAX_HEARTBEAT_SECONDS} seconds`, 'Subscription.channel.extension');
  }
  const wanted = subscription.status;
  const previous = e.previous?.content as Subscription | undefined;
  // A subscriber is told only of what it may read: one that may read none of the type would subscribe to nothing.
  authorize(e.ctx.principal, e.repo.kind(type), 'read');
  if (endpoint && !e.ctx.allowPrivateEndpoints && isPrivateHost(endpoint.hostname)) {
    throw ruleViolation('channel.endpoint is a local or private address; subscribers are reached on public addresses', 'Subscription.channel.endpoint');
  }
  // A subscription is its creator's: another client of the organization would inherit its rights.
  if (previous && (await subscriptionCreator(e.q, e.id)) !== e.ctx.principal?.clientId) throw forbidden('Only the client that created a subscription changes it');
  if (previous && subscriptionSettings(previous).type !== type) throw ruleViolation('A subscription keeps its topic (its events are numbered for it); make a new one for another', 'Subscription.criteria');
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

/** A rest-hook channel: an http(s) endpoint, FHIR JSON notifications, headers "Name: value". */
function checkRestHookChannel(subscription: Subscription, settings: SubscriptionSettings): URL {
  const channel = subscription.channel;
  if (channel?.type !== 'rest-hook') throw ruleViolation('The channel is rest-hook (notifications) or email (alerts)', 'Subscription.channel.type');
  let endpoint: URL;
  try {
    endpoint = new URL(channel.endpoint ?? '');
  } catch {
    throw ruleViolation('channel.endpoint must be an absolute http(s) URL', 'Subscription.channel.endpoint');
  }
  if (endpoint.protocol !== 'https:' && endpoint.protocol !== 'http:') throw ruleViolation('channel.endpoint must be an absolute http(s) URL', 'Subscription.channel.endpoint');
  if (channel.payload && channel.payload !== 'application/fhir+json') throw ruleViolation('channel.payload is application/fhir+json (id-only notifications) or absent', 'Subscription.channel.payload');
  if (!PAYLOAD_CONTENTS.includes(settings.content)) throw ruleViolation(`The payload content (backport-payload-content) is one of ${PAYLOAD_CONTENTS.join(', ')}`, 'Subscription.channel.payload.extension');
  if (settings.content !== 'empty' && !channel.payload) throw ruleViolation('A notification with content (id-only, full-resource) needs channel.payload application/fhir+json', 'Subscription.channel.payload');
  if (settings.digestSeconds !== 0) throw ruleViolation('A digest period is for e-mail alerts', 'Subscription.channel.extension');
  for (const [i, header] of (channel.header ?? []).entries()) {
    if (!/^[A-Za-z0-9-]+:\s?[^\r\n]*$/.test(header)) throw ruleViolation('A channel header is "Name: value"', `Subscription.channel.header[${i}]`);
  }
  return endpoint;
}

/**
 * An e-mail channel (alerts): `mailto:` one address, when the gateway has an
 * SMTP server; the mail carries links, never the resources (payload absent or
 * text/plain, content empty or id-only); a digest period gathers events.
 */
function checkEmailChannel(e: WriteEvent, subscription: Subscription, settings: SubscriptionSettings): undefined {
  const channel = subscription.channel;
  if (!e.ctx.mailAlerts) throw ruleViolation('E-mail alerts are not configured on this gateway (no SMTP server): use a rest-hook channel', 'Subscription.channel.type');
  if (!/^mailto:[^\s@,;:<>()"]+@[^\s@,;:<>()"]+\.[^\s@,;:<>()"]+$/.test(channel.endpoint ?? '')) throw ruleViolation('An e-mail channel’s endpoint is mailto: and one address', 'Subscription.channel.endpoint');
  if (channel.payload && channel.payload !== 'text/plain') throw ruleViolation('An alert is a text/plain mail (channel.payload text/plain or absent)', 'Subscription.channel.payload');
  if (settings.content === 'full-resource') throw ruleViolation('An alert carries links, never the resources: payload content empty or id-only', 'Subscription.channel.payload.extension');
  if (settings.digestSeconds !== 0 && (settings.digestSeconds < MIN_DIGEST_SECONDS || settings.digestSeconds > MAX_DIGEST_SECONDS)) {
    throw ruleViolation(`The digest period is ${MIN_DIGEST_SECONDS} seconds to a week`, 'Subscription.channel.extension');
  }
  if ((channel.header ?? []).length > 0) throw ruleViolation('An e-mail channel takes no header', 'Subscription.channel.header');
  if (settings.heartbeatSeconds !== 0) throw ruleViolation('Heartbeats are for rest-hook channels', 'Subscription.channel.extension');
  return undefined;
}

/** Digests: five seconds to a week (a day is the usual). */
const MIN_DIGEST_SECONDS = 5;
const MAX_DIGEST_SECONDS = 7 * 86_400;

/** A subscription with a heartbeat period has its first heartbeat scheduled (each one schedules the next). */
async function afterSubscription(e: WriteEvent): Promise<void> {
  const subscription = e.resource as Subscription;
  const { heartbeatSeconds } = subscriptionSettings(subscription);
  if (subscription.status !== 'active' || heartbeatSeconds <= 0) return;
  const job = await scheduleHeartbeat(e.q, e.id, new Date(e.ctx.clock.now().getTime() + heartbeatSeconds * 1000));
  e.ctx.scheduled?.push(job);
}

/** Heartbeats: at least five seconds apart, at most a day. */
const MIN_HEARTBEAT_SECONDS = 5;
const MAX_HEARTBEAT_SECONDS = 86_400;

export const SUBSCRIPTION: ResourceKind<Subscription> = {
  type: 'Subscription',
  table: 'subscription',
  columns: SUBSCRIPTION_COLUMNS,
  toRow: subscriptionRow,
  profiles: [],
  searchParams: [...COMMON_PARAMS.filter((p) => p.code !== 'identifier'), { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'requested | active | error | off' }],
  includes: [],
  access: { read: REQUEST_ROLES, write: REQUEST_ROLES, ownerColumn: 'owner_org' },
  patientData: false,
  subscribable: false,
  clientIds: false,
  rules: { prepare: prepareSubscription, after: afterSubscription },
};

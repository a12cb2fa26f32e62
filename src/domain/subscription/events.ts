/**
 * A subscription's events as its subscriber is told of them: who the
 * subscriber is now, which resources it may read (matching its filters), and
 * the notification Bundle of the R4 Subscriptions Backport IG that carries
 * them (deliveries, `$events`, `$status`, heartbeats).
 */
import type { Bundle, BundleEntry, Parameters, ParametersParameter, Resource, Subscription } from '@medplum/fhirtypes';
import { FhirError } from '../../core/outcomes.js';
import type { Principal, Role } from '../../core/principal.js';
import { parseSearch } from '../../core/search/parse.js';
import type { Database, Queryable } from '../../store/db.js';
import { subscriptionEvents, type SubscriptionState } from '../../store/tables/subscription-event.js';
import type { Clock } from '../clock.js';
import { presentResources, readResourceVersion, searchResources } from '../reads.js';
import { kindOf } from '../registry.js';
import { requireKind } from '../repository.js';
import { parseCriteria } from './subscription.js';

/** What reading events needs: the store, the clock, the FHIR base of the links. */
export interface EventServices {
  db: Database;
  clock: Clock;
  baseUrl: string;
}

/** The subscriber of a subscription: its client's rights now (an external token's: as it subscribed); none when the client is deactivated. */
export function subscriberOf(state: Pick<SubscriptionState, 'principal' | 'client_roles' | 'client_organization' | 'client_active'>): Principal | undefined {
  if (state.client_active === false) return undefined;
  if (!state.client_roles) return state.principal as Principal;
  return { clientId: state.principal.clientId, roles: state.client_roles as Role[], ...(state.client_organization ? { organization: state.client_organization } : {}) };
}

/** The search parameters of a subscription's filters, all to hold. */
function filterParams(state: Pick<SubscriptionState, 'filters'>): URLSearchParams {
  const params = new URLSearchParams();
  for (const filter of state.filters) for (const [k, v] of parseCriteria(filter, kindOf).params) params.append(k, v);
  return params;
}

/** The resources of these ids its subscriber may read now, matching its filters (as the subscriber is shown them). */
export async function visibleTo(s: EventServices, q: Queryable, subscriber: Principal, state: Pick<SubscriptionState, 'filters'>, type: string, ids: readonly string[]): Promise<Resource[]> {
  if (ids.length === 0) return [];
  const params = filterParams(state);
  params.append('_id', [...new Set(ids)].join(','));
  const ctx = { db: s.db, tx: q, principal: subscriber, clock: s.clock };
  const search = parseSearch(requireKind(type), params, { defaultCount: ids.length, maxCount: Math.max(ids.length, 1) });
  try {
    return (await searchResources(ctx, search.query)).resources;
  } catch (err) {
    // A subscriber whose roles no longer let it read the type is told nothing.
    if (err instanceof FhirError && (err.status === 401 || err.status === 403)) return [];
    throw err;
  }
}

/** The notification (or query answer) Bundle: the status, then one entry per event's focus (R4 Backport IG). */
export function notificationBundle(
  services: Pick<EventServices, 'baseUrl'>,
  subscription: Subscription,
  kind: 'event-notification' | 'heartbeat' | 'query-event' | 'query-status' | 'handshake',
  eventsSinceStart: number,
  events: readonly { number: number; type: string; id: string; at: Date; resource?: Resource }[],
  now: Date,
  withFocus: boolean
): Bundle {
  const base = services.baseUrl;
  const topic = subscription.criteria;
  const status: Parameters = {
    resourceType: 'Parameters',
    parameter: [
      { name: 'subscription', valueReference: { reference: `${base}/Subscription/${subscription.id}` } },
      { name: 'topic', valueCanonical: topic },
      { name: 'status', valueCode: subscription.status },
      { name: 'type', valueCode: kind },
      { name: 'events-since-subscription-start', valueString: String(eventsSinceStart) },
      ...events.map(
        (e): ParametersParameter => ({
          name: 'notification-event',
          part: [
            { name: 'event-number', valueString: String(e.number) },
            { name: 'timestamp', valueInstant: e.at.toISOString() },
            ...(withFocus ? [{ name: 'focus', valueReference: { reference: `${base}/${e.type}/${e.id}` } }] : []),
          ],
        })
      ),
    ],
  };
  const focus: BundleEntry[] = withFocus
    ? events.map((e) => ({ fullUrl: `${base}/${e.type}/${e.id}`, ...(e.resource ? { resource: e.resource } : {}), request: { method: 'PUT', url: `${e.type}/${e.id}` }, response: { status: '200' } }))
    : [];
  return {
    resourceType: 'Bundle',
    type: 'history',
    timestamp: now.toISOString(),
    entry: [
      { fullUrl: `urn:uuid:${crypto.randomUUID()}`, resource: status, request: { method: 'GET', url: `${base}/Subscription/${subscription.id}/$status` }, response: { status: '200' } },
      ...focus,
    ],
  };
}

/** A subscription's events numbered `from`..`to`, with their resources as its subscriber is shown them when the payload is full-resource. */
export async function eventsOf(
  s: EventServices,
  state: SubscriptionState,
  from: number,
  to: number,
  limit: number,
  content: string
): Promise<{ number: number; type: string; id: string; at: Date; resource?: Resource }[]> {
  const rows = await subscriptionEvents(s.db, state.id, from, to, limit);
  const events = rows.map((r) => ({ number: Number(r.event_number), type: r.type, id: r.resource_id, version: r.version, at: new Date(r.at) }));
  const subscriber = content === 'full-resource' ? subscriberOf(state) : undefined;
  if (!subscriber) return events.map(({ version: _v, ...e }) => e);
  // Each event with the version it was about, as the subscriber is shown it (and may read it now).
  const ctx = { db: s.db, principal: subscriber, clock: s.clock };
  const out: { number: number; type: string; id: string; at: Date; resource?: Resource }[] = [];
  for (const { version, ...e } of events) {
    const resource = await readResourceVersion(ctx, e.type, e.id, Number(version)).catch((err: unknown) => {
      if (err instanceof FhirError && err.status < 500) return undefined;
      throw err;
    });
    const shown = resource ? (await presentResources(ctx, [resource]))[0] : undefined;
    out.push({ ...e, ...(shown ? { resource: shown } : {}) });
  }
  return out;
}


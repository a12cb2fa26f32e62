/**
 * `GET Subscription/[id]/$status` and `GET Subscription/[id]/$events` (R4
 * Subscriptions Backport IG): a subscription's state, and its events again,
 * by number, so that a subscriber that was away catches up on what it missed
 * (every event is kept, numbered for the subscription, in order). Read by
 * those who may read the subscription.
 */
import type { Bundle, Subscription } from '@medplum/fhirtypes';
import { badRequest } from '../../core/outcomes.js';
import { readResource } from '../../domain/repository.js';
import { eventsOf, notificationBundle } from '../../domain/subscription/events.js';
import { subscriptionState, type SubscriptionState } from '../../store/tables/subscription-event.js';
import type { Route } from '../route.js';

/** At most this many events in one `$events` answer (ask again from the last number + 1). */
export const MAX_EVENTS_PER_QUERY = 500;

function whole(value: string | null, name: string): number | undefined {
  if (value === null || value === '') return undefined;
  if (!/^\d{1,15}$/.test(value)) throw badRequest(`${name} is a whole number of events`, name);
  return Number(value);
}

export const subscriptionStatusRoute: Route = {
  method: 'GET',
  path: 'Subscription/:id/$status',
  interaction: 'operation',
  operation: {
    name: 'status',
    id: 'Subscription-status',
    level: 'instance',
    resource: ['Subscription'],
    title: 'Status of a subscription',
    description: 'The subscription’s status, topic and number of events since it started (R4 Subscriptions Backport IG: a searchset Bundle holding one SubscriptionStatus Parameters, type query-status).',
    affectsState: false,
    parameters: [{ name: 'return', use: 'out', min: 1, max: '1', type: 'Bundle', documentation: 'A searchset Bundle of the subscription’s status' }],
  },
  async handler({ services, ctx, params }) {
    const subscription = (await readResource(ctx, 'Subscription', params.id as string)) as Subscription;
    const state = (await subscriptionState(services.db, subscription.id as string)) as SubscriptionState;
    const status = notificationBundle(services, subscription, 'query-status', Number(state.events_since_start), [], services.clock.now(), false).entry?.[0]?.resource;
    const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total: 1, entry: [{ fullUrl: `urn:uuid:${crypto.randomUUID()}`, resource: status, search: { mode: 'match' } }] };
    return { status: 200, body: bundle };
  },
};

export const subscriptionEventsRoute: Route = {
  method: 'GET',
  path: 'Subscription/:id/$events',
  interaction: 'operation',
  operation: {
    name: 'events',
    id: 'Subscription-events',
    level: 'instance',
    resource: ['Subscription'],
    title: 'Events of a subscription, again',
    description: `The subscription’s events numbered eventsSinceNumber to eventsUntilNumber (inclusive; default: all), at most ${MAX_EVENTS_PER_QUERY}, in order, as a notification Bundle of type query-event: what a subscriber that was away missed. content: empty, id-only or full-resource (default: the subscription’s).`,
    affectsState: false,
    parameters: [
      { name: 'eventsSinceNumber', use: 'in', min: 0, max: '1', type: 'string', documentation: 'The first event number wanted (default 1)' },
      { name: 'eventsUntilNumber', use: 'in', min: 0, max: '1', type: 'string', documentation: 'The last event number wanted (default: the latest)' },
      { name: 'content', use: 'in', min: 0, max: '1', type: 'code', documentation: 'empty | id-only | full-resource' },
      { name: 'return', use: 'out', min: 1, max: '1', type: 'Bundle', documentation: 'A history Bundle: the status (query-event), then one entry per event' },
    ],
  },
  async handler({ services, request, ctx, params }) {
    const subscription = (await readResource(ctx, 'Subscription', params.id as string)) as Subscription;
    const state = (await subscriptionState(services.db, subscription.id as string)) as SubscriptionState;
    const total = Number(state.events_since_start);
    const from = whole(request.query.get('eventsSinceNumber'), 'eventsSinceNumber') ?? 1;
    const to = Math.min(whole(request.query.get('eventsUntilNumber'), 'eventsUntilNumber') ?? total, total);
    const content = request.query.get('content') ?? state.content;
    if (!['empty', 'id-only', 'full-resource'].includes(content)) throw badRequest('content is empty, id-only or full-resource', 'content');
    const events = from > to ? [] : await eventsOf(services, state, from, to, MAX_EVENTS_PER_QUERY, content);
    return { status: 200, body: notificationBundle(services, subscription, 'query-event', total, events, services.clock.now(), content !== 'empty') };
  },
};

/**
 * The `notify` worker: subscriptions' events, from the writes to the
 * subscribers (R4 Subscriptions Backport IG, rest-hook).
 *
 * - dispatch: reads the committed events not yet dispatched, oldest first
 *   (store/tables/subscription-event.ts), and gives each active subscription
 *   on their type the ones it may read, as its subscriber's token reads
 *   them now and as its filters say, numbered in order (kept for `$events`);
 *   one transaction per batch, which forgets them: a crash replays the batch.
 * - deliver: posts a subscription's undelivered events in order, several per
 *   notification Bundle (id-only, full-resource as the subscriber is shown
 *   them, or empty), one deliverer at a time (a lease); a failure is retried
 *   with back-off, and the last attempt puts the subscription in `error`.
 *   A subscriber that was down is sent everything it missed once back, and
 *   can ask for any range again with `$events`.
 * - heartbeat: when a subscription with a heartbeat period heard nothing for
 *   that long, a heartbeat notification.
 */
import type { Subscription } from '@medplum/fhirtypes';
import { UnrecoverableError } from 'bullmq';
import type { Config } from '../../config.js';
import { GATEWAY } from '../../core/principal.js';
import { readResource, updateResource } from '../../domain/repository.js';
import { eventsOf, notificationBundle, subscriberOf, visibleTo } from '../../domain/subscription/events.js';
import { pushScheduled, type FhirServices } from '../../fhir/types.js';
import { NOTIFY_QUEUE, scheduleDelivery, scheduleDigest, scheduleHeartbeat, type NotifyJob } from '../../jobs/catalogue.js';
import { alertMail } from '../../domain/subscription/mail.js';
import { MailRefused, smtpMailer, type Mailer } from '../mail.js';
import type { ScheduledJob } from '../../jobs/schedule.js';
import type { Logger } from '../../logger.js';
import {
  activeSubscriptionStates,
  appendSubscriptionEvents,
  deliveryDone,
  forgetEvents,
  nextEvents,
  releaseDeliveryLease,
  subscriptionState,
  takeDeliveryLease,
  type ResourceEvent,
  type SubscriptionState,
} from '../../store/tables/subscription-event.js';
import type { QueueDefinition } from '../registry.js';
import { deliver, ForbiddenAddress } from '../rest-hook.js';

/** Events read per dispatcher transaction, and sent per notification. */
const DISPATCH_BATCH = 200;
const EVENTS_PER_NOTIFICATION = 50;
/** Events listed in one alert mail (a digest with more sends several). */
const EVENTS_PER_MAIL = 200;

/** One run of the dispatcher: every event committed so far, batch by batch. */
async function dispatch(s: FhirServices): Promise<void> {
  for (;;) {
    const scheduled: ScheduledJob[] = [];
    const full = await s.db.transaction(async (tx) => {
      const { events } = await nextEvents(tx, DISPATCH_BATCH);
      if (events.length === 0) return false;
      const subscriptions = await activeSubscriptionStates(tx, [...new Set(events.map((e) => e.type))]);
      for (const subscription of subscriptions) {
        const subscriber = subscriberOf(subscription);
        const mine = events.filter((e) => e.type === subscription.type);
        if (!subscriber || mine.length === 0) continue;
        const seen = new Set((await visibleTo(s, tx, subscriber, subscription, subscription.type, mine.map((e) => e.resource_id))).map((r) => r.id));
        let number = Number(subscription.events_since_start);
        const numbered = mine.filter((e) => seen.has(e.resource_id)).map((e: ResourceEvent) => ({ number: ++number, type: e.type, id: e.resource_id, version: e.version, at: new Date(e.at) }));
        if (numbered.length === 0) continue;
        await appendSubscriptionEvents(tx, subscription.id, numbered);
        scheduled.push(await scheduleDelivery(tx, subscription.id, number, s.clock.now()));
      }
      await forgetEvents(tx, events);
      return events.length === DISPATCH_BATCH;
    });
    await pushScheduled(s, scheduled);
    if (!full) return;
  }
}

/** The headers a subscription asks for on its deliveries. */
function channelHeaders(subscription: Subscription): Record<string, string> {
  const headers: Record<string, string> = { 'Content-Type': 'application/fhir+json' };
  for (const header of subscription.channel.header ?? []) {
    const colon = header.indexOf(':');
    headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
  }
  return headers;
}

/** Posts one notification; throws (after putting the subscription in error on the last attempt) when it fails. */
async function post(s: FhirServices, config: Config, subscription: Subscription, body: string | undefined, attempt: number): Promise<void> {
  const endpoint = subscription.channel.endpoint as string;
  let status: number;
  try {
    status = await deliver(endpoint, { headers: channelHeaders(subscription), body, timeoutMs: config.notify.timeoutMs, allowPrivate: config.notify.allowPrivateEndpoints });
  } catch (err) {
    const reason = `delivery to ${endpoint} failed: ${(err as Error).message}`;
    // An endpoint that is not a public address stays so: no retry.
    const permanent = err instanceof ForbiddenAddress;
    await failed(s, subscription.id as string, permanent ? config.notify.attempts : attempt, config.notify.attempts, reason);
    throw permanent ? new UnrecoverableError(reason) : err;
  }
  if (status < 200 || status >= 300) {
    const reason = `delivery to ${endpoint} answered ${status}${status >= 300 && status < 400 ? ' (redirects are not followed)' : ''}`;
    const permanent = status >= 300 && status < 500 && status !== 408 && status !== 429;
    await failed(s, subscription.id as string, permanent ? config.notify.attempts : attempt, config.notify.attempts, reason);
    throw permanent ? new UnrecoverableError(reason) : new Error(reason);
  }
}

/** What delivers: the HTTP settings, and the mailer when e-mail alerts are configured. */
interface Channels {
  config: Config;
  mailer?: Mailer;
}

/**
 * Sends one batch of a subscription's events: a notification Bundle to a
 * rest-hook, or an alert mail (a digest waits until its period ends: then
 * false, and the delivery is scheduled for then).
 */
async function sendBatch(s: FhirServices, channels: Channels, state: SubscriptionState, subscription: Subscription, from: number, total: number, attempt: number): Promise<number | false> {
  const { config } = channels;
  if (state.channel !== 'email') {
    const events = await eventsOf(s, state, from, total, EVENTS_PER_NOTIFICATION, state.content);
    const body = state.content === 'empty' ? undefined : JSON.stringify(notificationBundle(s, subscription, 'event-notification', total, events, s.clock.now(), true));
    await post(s, config, subscription, body, attempt);
    return events[events.length - 1].number;
  }
  const mail = config.mail;
  if (!mail || !channels.mailer) {
    await failed(s, state.id, config.notify.attempts, config.notify.attempts, 'e-mail alerts are no longer configured on this gateway (no SMTP server)');
    throw new UnrecoverableError('no SMTP server');
  }
  const events = await eventsOf(s, state, from, total, EVENTS_PER_MAIL, mail.detail === 'status' ? 'full-resource' : 'id-only');
  if (state.digest_seconds > 0) {
    const since = state.last_delivery_at ? new Date(state.last_delivery_at).getTime() : events[0].at.getTime();
    const due = since + state.digest_seconds * 1000;
    if (s.clock.now().getTime() < due) {
      await pushScheduled(s, [await scheduleDigest(s.db, state.id, new Date(due))]);
      return false;
    }
  }
  const { subject, text } = alertMail(state.id, events, { linkBase: mail.linkBase ?? s.baseUrl, detail: mail.detail });
  const to = (subscription.channel.endpoint as string).slice('mailto:'.length);
  try {
    await channels.mailer.send(to, subject, text);
  } catch (err) {
    const permanent = err instanceof MailRefused;
    await failed(s, state.id, permanent ? config.notify.attempts : attempt, config.notify.attempts, (err as Error).message);
    throw permanent ? new UnrecoverableError((err).message) : err;
  }
  return events[events.length - 1].number;
}

/** Sends a subscription's undelivered events, in order, until none remain. */
async function deliverPending(s: FhirServices, channels: Channels, logger: Logger, id: string, attempt: number): Promise<void> {
  const lease = Math.ceil((channels.config.notify.timeoutMs * 2) / 1000) + 5;
  for (;;) {
    const before = await subscriptionState(s.db, id);
    if (!before || before.status !== 'active' || Number(before.delivered_through) >= Number(before.events_since_start)) return;
    // Another deliverer holds it: it sends these too (it checks again once done).
    if (!(await takeDeliveryLease(s.db, id, lease))) return;
    try {
      for (;;) {
        const state = (await subscriptionState(s.db, id)) as SubscriptionState & { status: string };
        const from = Number(state.delivered_through) + 1;
        const total = Number(state.events_since_start);
        if (state.status !== 'active' || from > total) break;
        const subscription = (await readResource({ db: s.db, principal: GATEWAY, clock: s.clock }, 'Subscription', id)) as Subscription;
        const last = await sendBatch(s, channels, state, subscription, from, total, attempt);
        // A digest waits for its period: its delivery is scheduled.
        if (last === false) return;
        await deliveryDone(s.db, id, last, s.clock.now());
        logger.debug({ subscription: id, through: last, channel: state.channel }, 'notification delivered');
      }
    } finally {
      await releaseDeliveryLease(s.db, id);
    }
  }
}

/** A heartbeat when the subscription heard nothing for its period; then the next one. */
async function heartbeat(s: FhirServices, config: Config, id: string, attempt: number): Promise<void> {
  const state = await subscriptionState(s.db, id);
  if (!state || state.status !== 'active' || state.heartbeat_seconds <= 0) return;
  const now = s.clock.now();
  const period = state.heartbeat_seconds * 1000;
  const quietSince = state.last_delivery_at ? new Date(state.last_delivery_at).getTime() : 0;
  let next = new Date(quietSince + period);
  if (now.getTime() >= quietSince + period) {
    const subscription = (await readResource({ db: s.db, principal: GATEWAY, clock: s.clock }, 'Subscription', id)) as Subscription;
    const body = state.content === 'empty' ? undefined : JSON.stringify(notificationBundle(s, subscription, 'heartbeat', Number(state.events_since_start), [], now, false));
    await post(s, config, subscription, body, attempt);
    await deliveryDone(s.db, id, undefined, now);
    next = new Date(now.getTime() + period);
  }
  const scheduled = [await scheduleHeartbeat(s.db, id, next)];
  await pushScheduled(s, scheduled);
}

export function notifyWorker(services: () => FhirServices, config: Config, logger: Logger, mailer?: Mailer): QueueDefinition<NotifyJob> {
  const channels: Channels = { config, mailer: mailer ?? (config.mail ? smtpMailer(config.mail, config.notify.timeoutMs) : undefined) };
  return {
    name: NOTIFY_QUEUE,
    concurrency: 8,
    attempts: config.notify.attempts,
    backoffMs: config.notify.backoffMs,
    async process(data, job) {
      const s = services();
      if ('dispatch' in data) return dispatch(s);
      if ('deliver' in data) return deliverPending(s, channels, logger, data.deliver, job.attempt);
      if ('heartbeat' in data) return heartbeat(s, config, data.heartbeat, job.attempt);
    },
  };
}

/** On the last attempt, the subscription goes to `error` with the reason (FHIR R4 Subscription.error). */
async function failed(s: FhirServices, subscriptionId: string, attempt: number, attempts: number, reason: string): Promise<void> {
  if (attempt < attempts) return;
  const ctx = { db: s.db, principal: GATEWAY, clock: s.clock };
  const current = (await readResource(ctx, 'Subscription', subscriptionId)) as Subscription;
  await updateResource(ctx, { ...current, status: 'error', error: reason }, subscriptionId);
}

/**
 * The `notify` worker: rest-hook deliveries of Subscriptions, id-only. At
 * delivery time the resource is searched with the subscription's criteria
 * *as its subscriber*, so a subscriber is told only of what its token may
 * read, and only while the resource matches. A failed delivery is retried
 * with exponential back-off; when the attempts run out the subscription is
 * put in `error` with the reason.
 */
import type { Bundle, Subscription } from '@medplum/fhirtypes';
import { UnrecoverableError } from 'bullmq';
import type { Config } from '../../config.js';
import { FhirError } from '../../core/outcomes.js';
import { parseSearch } from '../../core/search/parse.js';
import { GATEWAY, type Principal } from '../../core/principal.js';
import { searchResources } from '../../domain/reads.js';
import { kindOf } from '../../domain/registry.js';
import { readResource, requireKind, updateResource } from '../../domain/repository.js';
import { parseCriteria } from '../../domain/subscription/subscription.js';
import type { FhirServices } from '../../fhir/types.js';
import { NOTIFY_QUEUE, type NotifyJob } from '../../jobs/catalogue.js';
import type { Logger } from '../../logger.js';
import { subscriber as subscriberOf } from '../../store/tables/subscription.js';
import type { QueueDefinition } from '../registry.js';
import { deliver, ForbiddenAddress } from '../rest-hook.js';

/** The id-only notification Bundle (R4 Subscriptions Backport style: a history Bundle opening with the subscription's status). */
export function notificationBundle(services: FhirServices, subscription: Subscription, focus: string, eventNumber: number, now: Date): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'history',
    timestamp: now.toISOString(),
    entry: [
      {
        fullUrl: `urn:uuid:${crypto.randomUUID()}`,
        resource: {
          resourceType: 'Parameters',
          parameter: [
            { name: 'subscription', valueReference: { reference: `${services.baseUrl}/Subscription/${subscription.id}` } },
            { name: 'topic', valueCanonical: subscription.criteria },
            { name: 'status', valueCode: 'active' },
            { name: 'type', valueCode: 'event-notification' },
            { name: 'events-since-subscription-start', valueString: String(eventNumber) },
            { name: 'notification-event', part: [{ name: 'event-number', valueString: String(eventNumber) }, { name: 'focus', valueReference: { reference: focus } }] },
          ],
        },
        request: { method: 'GET', url: `${services.baseUrl}/Subscription/${subscription.id}/$status` },
        response: { status: '200' },
      },
      { fullUrl: focus, request: { method: 'PUT', url: focus.replace(`${services.baseUrl}/`, '') }, response: { status: '200' } },
    ],
  };
}

export function notifyWorker(services: () => FhirServices, config: Config, logger: Logger): QueueDefinition<NotifyJob> {
  return {
    name: NOTIFY_QUEUE,
    concurrency: 8,
    attempts: config.notify.attempts,
    backoffMs: config.notify.backoffMs,
    async process(data, job) {
      const s = services();
      const ctx = { db: s.db, principal: GATEWAY, clock: s.clock };
      const row = await subscriberOf(s.db, data.subscription);
      if (row?.status !== 'active') return;
      // The subscriber's rights now, not when it subscribed: a client deactivated or changed since is told accordingly.
      if (row.active === false) return;
      const subscriber = (row.roles ? { clientId: row.principal.clientId, roles: row.roles, ...(row.organization ? { organization: row.organization } : {}) } : row.principal) as Principal;
      const subscription = (await readResource(ctx, 'Subscription', data.subscription)) as Subscription;
      const { type, params } = parseCriteria(subscription.criteria, kindOf);
      if (type !== data.type) return;
      // Does the subscriber see this resource, matching its criteria, now?
      const search = parseSearch(requireKind(type), new URLSearchParams([...params, ['_id', data.id]]), { defaultCount: 1, maxCount: 1 });
      const found = await searchResources({ db: s.db, principal: subscriber, clock: s.clock }, search.query).catch((err: unknown) => {
        // A subscriber whose roles no longer let it read the type is told nothing (not retried).
        if (err instanceof FhirError && (err.status === 401 || err.status === 403)) return undefined;
        throw err;
      });
      if (!found || found.resources.length === 0) return;
      const focus = `${s.baseUrl}/${data.type}/${data.id}`;
      const headers: Record<string, string> = { 'Content-Type': 'application/fhir+json' };
      for (const header of subscription.channel.header ?? []) {
        const colon = header.indexOf(':');
        headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
      }
      const body = subscription.channel.payload ? JSON.stringify(notificationBundle(s, subscription, focus, Number(data.version), s.clock.now())) : undefined;
      let status: number;
      try {
        status = await deliver(subscription.channel.endpoint as string, { headers, body, timeoutMs: config.notify.timeoutMs, allowPrivate: config.notify.allowPrivateEndpoints });
      } catch (err) {
        const reason = `delivery to ${subscription.channel.endpoint} failed: ${(err as Error).message}`;
        // An endpoint that is not a public address stays so: no retry.
        const permanent = err instanceof ForbiddenAddress;
        await failed(s, data.subscription, permanent ? config.notify.attempts : job.attempt, config.notify.attempts, reason);
        throw permanent ? new UnrecoverableError(reason) : err;
      }
      if (status < 200 || status >= 300) {
        const reason = `delivery to ${subscription.channel.endpoint} answered ${status}${status >= 300 && status < 400 ? ' (redirects are not followed)' : ''}`;
        const permanent = (status >= 300 && status < 500 && status !== 408 && status !== 429);
        await failed(s, data.subscription, permanent ? config.notify.attempts : job.attempt, config.notify.attempts, reason);
        throw permanent ? new UnrecoverableError(reason) : new Error(reason);
      }
      logger.debug({ subscription: data.subscription, focus }, 'notification delivered');
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

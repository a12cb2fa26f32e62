/**
 * The notifications listener: a unit of work's writes of subscribable types
 * record one `notify` job per active subscription on the type and written
 * version, before the unit commits. Whether the subscriber may see the
 * resource, and whether it matches the criteria, is decided at delivery,
 * with the subscriber's own rights (queues/workers/notify.ts).
 */
import type { Resource } from '@medplum/fhirtypes';
import { enqueueNotification } from '../../jobs/catalogue.js';
import type { ScheduledJob } from '../../jobs/schedule.js';
import type { Queryable } from '../../store/db.js';
import { activeSubscriptions } from '../../store/tables/subscription.js';
import type { DomainEvent, WriteListener } from '../kind.js';

function written(events: readonly DomainEvent[]): Map<string, Resource[]> {
  const byType = new Map<string, Resource[]>();
  for (const e of events) {
    if (e.event !== 'write' || !e.kind.subscribable) continue;
    byType.set(e.kind.type, [...(byType.get(e.kind.type) ?? []), ...e.resources]);
  }
  return byType;
}

/** Records the deliveries some stored versions (of one type) call for. */
export async function scheduleNotifications(q: Queryable, type: string, resources: readonly Resource[], now: Date, scheduled: ScheduledJob[] | undefined): Promise<void> {
  if (resources.length === 0) return;
  for (const subscription of await activeSubscriptions(q, type)) {
    for (const resource of resources) {
      scheduled?.push(await enqueueNotification(q, { subscription, type, id: resource.id as string, version: resource.meta?.versionId ?? '1' }, now));
    }
  }
}

export const notificationListener: WriteListener = {
  name: 'notifications',
  async flush(ctx, q, events) {
    for (const [type, resources] of written(events)) await scheduleNotifications(q, type, resources, ctx.clock.now(), ctx.scheduled);
  },
  inline(_ctx, events) {
    return written(events).size > 0 ? undefined : null;
  },
};

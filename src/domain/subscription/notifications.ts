/**
 * The notifications listener: a unit of work's writes of subscribable types
 * are recorded as events (one row per written version) when some
 * subscription is active on their type, and a dispatch is scheduled, in the
 * same transaction: a crash after the commit loses nothing. Which
 * subscriptions an event concerns, with their subscribers' rights, is decided
 * by the dispatcher (queues/workers/notify.ts).
 */
import type { Resource } from '@medplum/fhirtypes';
import { scheduleDispatch } from '../../jobs/catalogue.js';
import type { ScheduledJob } from '../../jobs/schedule.js';
import type { Queryable } from '../../store/db.js';
import { hasActiveSubscription } from '../../store/tables/subscription.js';
import { recordEvents } from '../../store/tables/subscription-event.js';
import type { DomainEvent, WriteListener } from '../kind.js';

function written(events: readonly DomainEvent[]): Map<string, Resource[]> {
  const byType = new Map<string, Resource[]>();
  for (const e of events) {
    if (e.event !== 'write' || !e.kind.subscribable) continue;
    byType.set(e.kind.type, [...(byType.get(e.kind.type) ?? []), ...e.resources]);
  }
  return byType;
}

/** Records the events some stored versions (of one type) make, if anyone listens. */
export async function recordWrites(q: Queryable, type: string, resources: readonly Resource[], now: Date, scheduled: ScheduledJob[] | undefined): Promise<void> {
  if (resources.length === 0) return;
  if (!(await hasActiveSubscription(q, type))) return;
  await recordEvents(
    q,
    type,
    resources.map((r) => ({ id: r.id as string, version: r.meta?.versionId ?? '1' })),
    now
  );
  scheduled?.push(await scheduleDispatch(q, now));
}

export const notificationListener: WriteListener = {
  name: 'notifications',
  async flush(ctx, q, events) {
    for (const [type, resources] of written(events)) await recordWrites(q, type, resources, ctx.clock.now(), ctx.scheduled);
  },
  inline(_ctx, events) {
    return written(events).size > 0 ? undefined : null;
  },
};

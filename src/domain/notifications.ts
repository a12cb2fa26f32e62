/**
 * Subscriptions (R4, rest-hook, id-only): a write of a Task or a
 * Communication records one `notify` job per active subscription on that
 * type, in the write's transaction. Whether the subscriber may see the
 * resource and whether it matches the criteria is decided at delivery time,
 * with the subscriber's own rights (queues/notify.ts).
 */
import type { Resource } from '@medplum/fhirtypes';
import { scheduleJob, type ScheduledJob } from '../queues/schedule.js';
import type { Queryable } from '../store/db.js';

export const NOTIFY_QUEUE = 'notify';

/** The active subscriptions on a type, whose name is parameter `$n`, as a SQL expression giving an array of ids (to read them with other things). */
export function activeSubscriptionsSql(n: number): string {
  return `(SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM subscription WHERE status = 'active' AND criteria_type = $${n})`;
}

/** Data of a `notify` job. */
export interface NotifyJob {
  subscription: string;
  type: string;
  id: string;
  version: string;
}

/** Records the deliveries stored versions (of one type) call for. */
export async function scheduleNotifications(
  q: Queryable,
  resources: Resource[],
  now: Date,
  scheduled: ScheduledJob[] | undefined,
  /** The active subscriptions on the type, when the caller read them already (activeSubscriptionsSql). */
  known?: string[]
): Promise<void> {
  if (resources.length === 0) return;
  const subscriptions = known ?? (await q.query<{ ids: string[] }>(`SELECT ${activeSubscriptionsSql(1)} AS ids`, [resources[0].resourceType], 'active-subscriptions')).rows[0].ids;
  for (const subscription of subscriptions) for (const resource of resources) {
    const data: NotifyJob = { subscription, type: resource.resourceType, id: resource.id as string, version: resource.meta?.versionId ?? '1' };
    const job = await scheduleJob(q, NOTIFY_QUEUE, `notify.${subscription}.${data.type}.${data.id}.${data.version}`, data, now);
    scheduled?.push(job);
  }
}

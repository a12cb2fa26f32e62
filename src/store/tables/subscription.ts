/** The `subscription` table: one row per Subscription, with the rights of the client that made it. */
import type { Queryable } from '../db.js';
import { run, sql } from '../sql.js';
import type { Columns } from './versions.js';

/** The domain columns of `subscription` (beside id, version, last_updated) and their SQL types. */
export const SUBSCRIPTION_COLUMNS = {
  status: 'text',
  criteria_type: 'text',
  owner_org: 'text',
  principal: 'jsonb',
  topic: 'text',
  filters: 'text[]',
  content: 'text',
  heartbeat_seconds: 'int4',
  channel: 'text',
  digest_seconds: 'int4',
} as const satisfies Columns;

/** Whether some subscription is active on a type (its writes are then events). */
export async function hasActiveSubscription(q: Queryable, type: string): Promise<boolean> {
  const { rows } = await run<{ found: boolean }>(q, sql`SELECT EXISTS (SELECT 1 FROM subscription WHERE status = 'active' AND criteria_type = ${type}) AS found`, { prepare: true });
  return rows[0].found;
}

/** The client that created a subscription. */
export async function subscriptionCreator(q: Queryable, id: string): Promise<string | undefined> {
  const { rows } = await run<{ client: string }>(q, sql`SELECT principal->>'clientId' AS client FROM subscription WHERE id = ${id}`);
  return rows[0]?.client;
}

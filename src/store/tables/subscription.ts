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

/** Ids of the active subscriptions on a type. */
export async function activeSubscriptions(q: Queryable, type: string): Promise<string[]> {
  const { rows } = await run<{ ids: string[] }>(q, sql`SELECT coalesce(array_agg(id ORDER BY id), '{}') AS ids FROM subscription WHERE status = 'active' AND criteria_type = ${type}`, { prepare: true });
  return rows[0].ids;
}

/** The client that created a subscription. */
export async function subscriptionCreator(q: Queryable, id: string): Promise<string | undefined> {
  const { rows } = await run<{ client: string }>(q, sql`SELECT principal->>'clientId' AS client FROM subscription WHERE id = ${id}`);
  return rows[0]?.client;
}

/** A subscription's status and subscriber: the rights it was made with, and its client's now (absent for an external token's). */
export async function subscriber(
  q: Queryable,
  id: string
): Promise<{ principal: { clientId: string; roles: string[]; organization?: string }; status: string; roles: string[] | null; organization: string | null; active: boolean | null } | undefined> {
  const { rows } = await run<{ principal: { clientId: string; roles: string[]; organization?: string }; status: string; roles: string[] | null; organization: string | null; active: boolean | null }>(
    q,
    sql`SELECT s.principal, s.status, c.roles, c.organization, c.active FROM subscription s LEFT JOIN oauth_client c ON c.id = s.principal->>'clientId' WHERE s.id = ${id}`
  );
  return rows[0];
}

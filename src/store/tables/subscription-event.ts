/**
 * The events of subscriptions: `resource_event` (every write of a type
 * someone subscribes to, recorded in its transaction), the dispatcher's
 * cursor over it, and `subscription_event` (each subscription's own numbered
 * events, kept for `$events`).
 */
import type { Queryable } from '../db.js';
import { run, sql } from '../sql.js';

/** A write, as an event: its type, resource and version. */
export interface ResourceEvent {
  xid: string;
  seq: string;
  type: string;
  resource_id: string;
  version: string;
  at: Date;
}

/** Records the writes of one type as events, in the writer's transaction. */
export async function recordEvents(q: Queryable, type: string, writes: readonly { id: string; version: string }[], at: Date): Promise<void> {
  if (writes.length === 0) return;
  await run(
    q,
    sql`INSERT INTO resource_event (type, resource_id, version, at)
        SELECT ${type}, w.id, w.version, ${at.toISOString()}::timestamptz FROM unnest(${writes.map((w) => w.id)}::text[], ${writes.map((w) => w.version)}::text[]) AS w(id, version)`,
    { prepare: true }
  );
}

/**
 * The events not yet dispatched, committed ones only (a transaction's
 * events appear when it commits), oldest first, for the one dispatcher that
 * holds the dispatch lock (a second one waits for it). Numbering them in the
 * order they became visible gives each subscription its events in commit
 * order, and never waits on transactions that write no event.
 */
export async function nextEvents(q: Queryable, limit: number): Promise<{ events: ResourceEvent[] }> {
  await run(q, sql`SELECT 1 FROM event_cursor WHERE name = 'dispatch' FOR UPDATE`);
  const { rows } = await run<ResourceEvent>(q, sql`SELECT xid::text AS xid, seq::text AS seq, type, resource_id, version, at FROM resource_event ORDER BY seq LIMIT ${limit}`);
  return { events: rows };
}

/** Forgets dispatched events (each subscription keeps its own). */
export async function forgetEvents(q: Queryable, events: readonly ResourceEvent[]): Promise<void> {
  await run(q, sql`DELETE FROM resource_event WHERE seq = ANY(${events.map((e) => e.seq)}::bigint[])`);
}

/** An active subscription as the dispatcher and the deliverer read it. */
export interface SubscriptionState {
  id: string;
  type: string;
  filters: string[];
  content: string;
  heartbeat_seconds: number;
  channel: string;
  digest_seconds: number;
  events_since_start: string;
  delivered_through: string;
  last_delivery_at: Date | null;
  principal: { clientId: string; roles: string[]; organization?: string };
  /** The client's roles and organization now (absent for an external token's subscription). */
  client_roles: string[] | null;
  client_organization: string | null;
  client_active: boolean | null;
}

const STATE = sql`SELECT s.id, s.criteria_type AS type, coalesce(s.filters, ARRAY[s.criteria_type]) AS filters, coalesce(s.content, 'id-only') AS content,
       coalesce(s.heartbeat_seconds, 0) AS heartbeat_seconds, s.channel, s.digest_seconds, s.events_since_start::text AS events_since_start, s.delivered_through::text AS delivered_through,
       s.last_delivery_at, s.principal, c.roles AS client_roles, c.organization AS client_organization, c.active AS client_active
  FROM subscription s LEFT JOIN oauth_client c ON c.id = s.principal->>'clientId'`;

/** The active subscriptions on these types, locked for numbering their events. */
export async function activeSubscriptionStates(q: Queryable, types: readonly string[]): Promise<SubscriptionState[]> {
  const { rows } = await run<SubscriptionState>(q, sql`${STATE} WHERE s.status = 'active' AND s.criteria_type = ANY(${types}::text[]) ORDER BY s.id FOR UPDATE OF s`);
  return rows;
}

/** One subscription's state (any status). */
export async function subscriptionState(q: Queryable, id: string): Promise<(SubscriptionState & { status: string }) | undefined> {
  const { rows } = await run<SubscriptionState & { status: string }>(q, sql`SELECT x.*, s2.status FROM (${STATE} WHERE s.id = ${id}) x JOIN subscription s2 ON s2.id = x.id`);
  return rows[0];
}

/** Appends numbered events to a subscription and sets its count. */
export async function appendSubscriptionEvents(q: Queryable, subscriptionId: string, events: readonly { number: number; type: string; id: string; version: string; at: Date }[]): Promise<void> {
  if (events.length === 0) return;
  await run(
    q,
    sql`INSERT INTO subscription_event (subscription_id, event_number, type, resource_id, version, at)
        SELECT ${subscriptionId}, e.n, e.type, e.id, e.version, e.at FROM unnest(${events.map((e) => e.number)}::bigint[], ${events.map((e) => e.type)}::text[], ${events.map((e) => e.id)}::text[],
          ${events.map((e) => e.version)}::text[], ${events.map((e) => e.at.toISOString())}::timestamptz[]) AS e(n, type, id, version, at)`
  );
  await run(q, sql`UPDATE subscription SET events_since_start = ${events[events.length - 1].number} WHERE id = ${subscriptionId}`);
}

/** A subscription's events numbered from `from` to `to` (inclusive), in order. */
export async function subscriptionEvents(q: Queryable, subscriptionId: string, from: number, to: number, limit: number): Promise<{ event_number: string; type: string; resource_id: string; version: string; at: Date }[]> {
  const { rows } = await run<{ event_number: string; type: string; resource_id: string; version: string; at: Date }>(
    q,
    sql`SELECT event_number::text AS event_number, type, resource_id, version, at FROM subscription_event
         WHERE subscription_id = ${subscriptionId} AND event_number BETWEEN ${from} AND ${to} ORDER BY event_number LIMIT ${limit}`
  );
  return rows;
}

/**
 * Takes the right to deliver a subscription's events for `leaseSeconds`
 * (one deliverer at a time, without holding a connection while the
 * subscriber answers); false when another holds it.
 */
export async function takeDeliveryLease(q: Queryable, id: string, leaseSeconds: number): Promise<boolean> {
  const { rows } = await run(
    q,
    sql`UPDATE subscription SET delivering_until = now() + make_interval(secs => ${leaseSeconds})
         WHERE id = ${id} AND status = 'active' AND (delivering_until IS NULL OR delivering_until < now()) RETURNING id`
  );
  return rows.length > 0;
}

/** Records a delivery (events through `through`, or a heartbeat) and gives the lease back. */
export async function deliveryDone(q: Queryable, id: string, through: number | undefined, at: Date): Promise<void> {
  await run(
    q,
    sql`UPDATE subscription SET delivered_through = greatest(delivered_through, ${through ?? 0}), last_delivery_at = ${at.toISOString()}::timestamptz, delivering_until = NULL WHERE id = ${id}`
  );
}

/** Gives the lease back without a delivery (a failure). */
export async function releaseDeliveryLease(q: Queryable, id: string): Promise<void> {
  await run(q, sql`UPDATE subscription SET delivering_until = NULL WHERE id = ${id}`);
}

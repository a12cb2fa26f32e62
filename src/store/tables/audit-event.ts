/**
 * The `audit_event` table: the audit trail, one row per interaction (or, for
 * callers without a valid token, one counter per minute, network,
 * interaction and status), searched newest first.
 */
import type { Queryable } from '../db.js';
import { join, raw, run, sql, type SqlFragment } from '../sql.js';

/** An audit row as stored (`audit_event`). */
export interface AuditRow {
  id: string;
  recorded: string;
  action: string;
  interaction: string;
  outcome: string;
  status: number;
  client_id: string | null;
  organization: string | null;
  roles: string[];
  source_ip: string | null;
  request_id: string | null;
  resource_type: string | null;
  entities: string[];
  versions: number[];
  query: string | null;
  detail: string | null;
  /** Requests the row stands for: above 1 for the aggregated refusals of unauthenticated callers. */
  count: number;
  /** The last of them, when aggregated. */
  last_recorded: string | null;
  /** Minute, network, interaction and status of an aggregated row (null: a row of its own). */
  aggregate_key: string | null;
  /** The professional the client acted for, if its token named one. */
  practitioner: { id: string; name?: string; profession?: string } | null;
}

/**
 * Rows of one insert: each aggregated key once, with the number of requests
 * it stands for (an upsert may not meet the same key twice in a statement).
 */
function merged(rows: AuditRow[]): AuditRow[] {
  const byKey = new Map<string, AuditRow>();
  const out: AuditRow[] = [];
  for (const row of rows) {
    if (!row.aggregate_key) {
      out.push(row);
      continue;
    }
    const seen = byKey.get(row.aggregate_key);
    if (seen) {
      seen.count += row.count;
      seen.last_recorded = row.recorded;
    } else {
      const first = { ...row };
      byKey.set(row.aggregate_key, first);
      out.push(first);
    }
  }
  return out;
}

/** The insert of audit rows (aggregated rows as counters), to run alone or within another statement. */
export function auditInsertSql(rows: AuditRow[]): SqlFragment {
  const stored = merged(rows);
  // Rows of their own cannot meet a counter: without one, a plain insert (no speculative insertion per row).
  const counters = stored.some((r) => r.aggregate_key !== null)
    ? sql`ON CONFLICT (aggregate_key) WHERE aggregate_key IS NOT NULL
       DO UPDATE SET count = audit_event.count + EXCLUDED.count, last_recorded = coalesce(EXCLUDED.last_recorded, EXCLUDED.recorded)`
    : sql``;
  return sql`INSERT INTO audit_event (id, recorded, action, interaction, outcome, status, client_id, organization, roles, source_ip, request_id, resource_type, entities, versions, query, detail, count, last_recorded, aggregate_key, practitioner)
     SELECT id, recorded, action, interaction, outcome, status, client_id, organization, roles, source_ip, request_id, resource_type, entities, versions, query, detail, count, last_recorded, aggregate_key, practitioner
       FROM jsonb_to_recordset(${JSON.stringify(stored)}::text::jsonb) AS x(id text, recorded timestamptz, action text, interaction text, outcome text, status int, client_id text, organization text,
            roles text[], source_ip text, request_id text, resource_type text, entities text[], versions int[], query text, detail text, count int, last_recorded timestamptz, aggregate_key text, practitioner jsonb)
     ${counters}`;
}

/** Inserts audit rows (the aggregated ones of unauthenticated callers as counters). */
export async function insertAuditRows(q: Queryable, rows: AuditRow[]): Promise<void> {
  if (rows.length === 0) return;
  await run(q, auditInsertSql(rows), { prepare: true });
}

/** A search of the audit trail: criteria already checked, newest first. */
export interface AuditSearch {
  /** `recorded` bounds: [op, instant]. */
  dates: ['>=' | '>' | '<=' | '<', string][];
  equals: { column: 'client_id' | 'action' | 'outcome' | 'interaction' | 'source_ip' | 'request_id' | 'resource_type'; values: string[] }[];
  entities: string[];
  count: number;
  /** Position after the previous page: [recorded, id]. */
  after?: [string, string];
}

/** An audit row as read back. */
export type StoredAuditRow = AuditRow & { recorded: Date };

/** The rows of a search, newest first: one more than the page when there are more. */
export async function selectAuditRows(q: Queryable, search: AuditSearch): Promise<StoredAuditRow[]> {
  const where: SqlFragment[] = [sql`TRUE`];
  for (const [op, instant] of search.dates) where.push(sql`recorded ${raw(op)} ${instant}::timestamptz`);
  for (const { column, values } of search.equals) where.push(sql`${raw(column)} = ANY(${values}::text[])`);
  if (search.entities.length > 0) where.push(sql`entities && ${search.entities}::text[]`);
  if (search.after) where.push(sql`(recorded, id) < (${search.after[0]}::timestamptz, ${search.after[1]})`);
  return (await run<StoredAuditRow>(q, sql`SELECT * FROM audit_event WHERE ${join(where, ' AND ')} ORDER BY recorded DESC, id DESC LIMIT ${search.count + 1}`)).rows;
}

/** One audit row, by id. */
export async function selectAuditRow(q: Queryable, id: string): Promise<StoredAuditRow | undefined> {
  return (await run<StoredAuditRow>(q, sql`SELECT * FROM audit_event WHERE id = ${id}`)).rows[0];
}

/**
 * The dashboard statement (seed 002): a party's referral tasks, newest first,
 * with the patient, the unit, the period asked and the unread messages of
 * each, filtered by section, patient name words and request number.
 */
import type { Queryable } from './db.js';
import { join, run, sql, type SqlFragment } from './sql.js';

/** The tasks of a section: archived or not (any when absent), and in which statuses (any when absent). */
export interface SectionFilter {
  archived?: boolean;
  statuses?: readonly string[];
}

/** Which tasks a dashboard lists. */
export interface DashboardFilter extends SectionFilter {
  /** The receiving unit's side (owner) or the prescriber's (requester). */
  side: 'owner' | 'requester';
  /** The caller's organization key. */
  key: string;
  /** Normalized words each starting a word of the patient's name. */
  nameWords: readonly string[];
  /** A request's id or business identifier. */
  request?: string;
  limit: number;
}

/** One task as a dashboard reads it (`S`: the business statuses the caller knows). */
export interface DashboardTaskRow<S extends string = string> {
  id: string;
  referral_id: string;
  business_status: S;
  status_reason: { coding?: { system?: string; code?: string; display?: string }[]; text?: string } | null;
  archived: boolean;
  status_since: Date;
  last_updated: Date;
  patient: string | null;
  birth_date: string | null;
  unit: string | null;
  period_start: string | null;
  period_end: string | null;
  unread: string;
  identifiers: string | null;
}

/** The dashboard's tasks, newest first. */
export async function dashboardRows<S extends string>(q: Queryable, filter: DashboardFilter): Promise<DashboardTaskRow<S>[]> {
  const { key } = filter;
  const conditions: SqlFragment[] = [sql`t.module = 'referral'`, filter.side === 'owner' ? sql`t.owner_keys @> ARRAY[${key}]::text[]` : sql`t.requester_keys @> ARRAY[${key}]::text[]`];
  if (filter.archived !== undefined) conditions.push(filter.archived ? sql`t.archived` : sql`NOT t.archived`);
  if (filter.statuses) conditions.push(sql`t.business_status = ANY(${[...filter.statuses]}::text[])`);
  for (const word of filter.nameWords) conditions.push(sql`EXISTS (SELECT 1 FROM unnest(p.name_words) AS w(v) WHERE w.v LIKE ${`${word.replace(/[\\%_]/g, (c) => `\\${c}`)}%`})`);
  if (filter.request) {
    conditions.push(sql`(t.referral_id = ${filter.request} OR EXISTS (SELECT 1 FROM resource_identifier i WHERE i.resource_type = 'ServiceRequest' AND i.resource_id = t.referral_id AND i.value = ${filter.request}))`);
  }
  const { rows } = await run<DashboardTaskRow<S>>(
    q,
    sql`SELECT t.id, t.referral_id, t.business_status, t.archived, t.status_since, t.last_updated,
               coalesce(ph.content->'name'->0->>'family', '') || ' ' || coalesce(ph.content->'name'->0->'given'->>0, '') AS patient,
               ph.content->>'birthDate' AS birth_date,
               hs.name AS unit,
               h.content->'restriction'->'period'->>'start' AS period_start,
               h.content->'restriction'->'period'->>'end' AS period_end,
               h.content->'statusReason' AS status_reason,
               (SELECT count(*) FROM message m WHERE m.task_id = t.id AND m.received IS NULL AND m.recipient_keys @> ARRAY[${key}]::text[]) AS unread,
               (SELECT string_agg(i.value, ' ' ORDER BY i.value) FROM resource_identifier i WHERE i.resource_type = 'ServiceRequest' AND i.resource_id = t.referral_id) AS identifiers
          FROM task t
          JOIN resource_history h ON h.resource_type = 'Task' AND h.id = t.id AND h.version = t.version
          LEFT JOIN patient p ON p.id = t.patient_id
          LEFT JOIN resource_history ph ON ph.resource_type = 'Patient' AND ph.id = p.id AND ph.version = p.version
          LEFT JOIN healthcare_service hs ON hs.id = t.owner_service_id
         WHERE ${join(conditions, ' AND ')}
         ORDER BY t.last_updated DESC, t.id
         LIMIT ${filter.limit}`
  );
  return rows;
}

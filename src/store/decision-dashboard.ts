/**
 * The work list of orientation decisions: an ESMS's tasks (the decisions
 * targeting it) or an MDPH's (its decisions' tasks in every ESMS), newest
 * first, with the person, the decision's numbers, category, validity, Creton
 * flag and priority, filtered by status, validity, Creton, priority, person
 * name words and decision number.
 */
import type { Queryable } from './db.js';
import { join, run, sql, type SqlFragment } from './sql.js';

export interface DecisionListFilter {
  side: 'owner' | 'requester';
  key: string;
  statuses?: readonly string[];
  /** Days to the end of validity, inclusive bounds (open when absent). */
  validity?: { from?: number; to?: number };
  today: string;
  creton?: boolean;
  priority?: number;
  nameWords: readonly string[];
  decision?: string;
  limit: number;
}

export interface DecisionListRow {
  id: string;
  referral_id: string;
  business_status: string;
  status_since: Date;
  last_updated: Date;
  person: string | null;
  birth_date: string | null;
  individual: string | null;
  department: string | null;
  esms_category: string | null;
  esms_finess: string | null;
  esms: string | null;
  validity_start: string | null;
  validity_end: string | null;
  creton: boolean | null;
  level_esms: number | null;
  identifiers: string | null;
}

export async function decisionListRows(q: Queryable, filter: DecisionListFilter): Promise<DecisionListRow[]> {
  const { key } = filter;
  const conditions: SqlFragment[] = [sql`t.module = 'decision'`, filter.side === 'owner' ? sql`t.owner_keys @> ARRAY[${key}]::text[]` : sql`t.requester_keys @> ARRAY[${key}]::text[]`];
  if (filter.statuses) conditions.push(sql`t.business_status = ANY(${[...filter.statuses]}::text[])`);
  if (filter.validity?.from !== undefined) conditions.push(sql`r.validity_end >= ${filter.today}::date + ${filter.validity.from}::int`);
  if (filter.validity?.to !== undefined) conditions.push(sql`r.validity_end <= ${filter.today}::date + ${filter.validity.to}::int`);
  if (filter.creton !== undefined) conditions.push(filter.creton ? sql`r.creton` : sql`NOT coalesce(r.creton, false)`);
  if (filter.priority !== undefined) conditions.push(sql`r.level_esms = ${filter.priority}`);
  for (const word of filter.nameWords) conditions.push(sql`EXISTS (SELECT 1 FROM unnest(p.name_words) AS w(v) WHERE w.v LIKE ${`${word.replace(/[\\%_]/g, (c) => `\\${c}`)}%`})`);
  if (filter.decision) {
    conditions.push(sql`(t.referral_id = ${filter.decision} OR EXISTS (SELECT 1 FROM resource_identifier i WHERE i.resource_type = 'ServiceRequest' AND i.resource_id = t.referral_id AND i.value = ${filter.decision}))`);
  }
  const { rows } = await run<DecisionListRow>(
    q,
    sql`SELECT t.id, t.referral_id, t.business_status, t.status_since, t.last_updated,
               coalesce(ph.content->'name'->0->>'family', '') || ' ' || coalesce(ph.content->'name'->0->'given'->>0, '') AS person,
               ph.content->>'birthDate' AS birth_date, r.individual, r.department, r.esms_category, t.esms_finess,
               (SELECT o.name FROM resource_identifier i JOIN organization o ON o.id = i.resource_id
                 WHERE i.resource_type = 'Organization' AND i.system = 'https://finess.esante.gouv.fr' AND i.value = t.esms_finess LIMIT 1) AS esms,
               to_char(r.validity_start, 'YYYY-MM-DD') AS validity_start, to_char(r.validity_end, 'YYYY-MM-DD') AS validity_end, r.creton, r.level_esms,
               (SELECT string_agg(i.value, ' ' ORDER BY i.value) FROM resource_identifier i WHERE i.resource_type = 'ServiceRequest' AND i.resource_id = t.referral_id) AS identifiers
          FROM task t
          JOIN referral r ON r.id = t.referral_id
          LEFT JOIN patient p ON p.id = t.patient_id
          LEFT JOIN resource_history ph ON ph.resource_type = 'Patient' AND ph.id = p.id AND ph.version = p.version
         WHERE ${join(conditions, ' AND ')}
         ORDER BY t.last_updated DESC, t.id
         LIMIT ${filter.limit}`
  );
  return rows;
}

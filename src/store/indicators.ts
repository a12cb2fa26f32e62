/**
 * The three statements of the decision indicators (see
 * domain/decision/indicators.ts): aggregates of valid decisions, of their
 * tasks, and the installed places of the directory. A decision is valid on a
 * day when it is active and that day falls in its validity period.
 */
import type { Queryable } from './db.js';
import { run, shared, sql } from './sql.js';

/** Which decisions count: valid on `today`, optionally of one department and one ESMS category. */
export interface IndicatorScope {
  today: string;
  department?: string;
  category?: string;
}

/** The scope's values, each sent once however many times a statement reads it. */
function scopeValues(scope: IndicatorScope): { today: ReturnType<typeof shared>; department: ReturnType<typeof shared>; category: ReturnType<typeof shared> } {
  return { today: shared(scope.today), department: shared(scope.department ?? null), category: shared(scope.category ?? null) };
}

/**
 * Per department and category: Creton decisions, decisions expiring within
 * 90 days, and persons "sans solution" (a valid decision, and no task in one
 * of the `admitted` statuses anywhere).
 */
export async function decisionAggregates(
  q: Queryable,
  scope: IndicatorScope,
  admitted: readonly string[]
): Promise<{ department: string; category: string; creton: string; expiring: string; persons: string }[]> {
  // Valid decisions, read once from their index (referral_decision_group) in department, category and person
  // order, grouped as read: by person first (a person may hold several), then by department and category
  // (the admitted, read from the tasks alone, are few and hashed once).
  const { today, department, category } = scopeValues(scope);
  const { rows } = await run<{ department: string; category: string; creton: string; expiring: string; persons: string }>(
    q,
    sql`WITH persons AS (
       SELECT r.department, r.esms_category, r.individual,
              bool_and((r.department, r.individual) NOT IN (
                SELECT t.department, t.individual FROM task t
                 WHERE t.module = 'decision' AND t.business_status = ANY(${[...admitted]}::text[]) AND t.department IS NOT NULL AND t.individual IS NOT NULL
                   AND (${department}::text IS NULL OR t.department = ${department}))) AS without_solution,
              count(*) FILTER (WHERE r.creton) AS creton, count(*) FILTER (WHERE r.validity_end <= ${today}::date + 90) AS expiring
         FROM referral r
        WHERE r.module = 'decision' AND r.status = 'active' AND r.validity_start <= ${today}::date AND r.validity_end >= ${today}::date
          AND (${department}::text IS NULL OR r.department = ${department}) AND (${category}::text IS NULL OR r.esms_category = ${category})
        GROUP BY r.department, r.esms_category, r.individual
     )
     SELECT department, esms_category AS category, sum(creton) AS creton, sum(expiring) AS expiring, count(*) FILTER (WHERE without_solution) AS persons
       FROM persons GROUP BY department, esms_category`
  );
  return rows;
}

/**
 * Per department and category, from the tasks of valid decisions (which carry
 * the decision's department, category, person and validity): the persons on
 * a waiting list (`waiting` statuses), the median delay from notification to
 * admission (in days), and the admissions impossible (`impossible` statuses)
 * by reason, one row each.
 */
export async function taskAggregates(
  q: Queryable,
  scope: IndicatorScope,
  waiting: readonly string[],
  impossible: readonly string[]
): Promise<{ department: string; category: string; waiting: string; median_delay: number | null; reason: string | null; impossible: string }[]> {
  const { today, department, category } = scopeValues(scope);
  const { rows } = await run<{ department: string; category: string; waiting: string; median_delay: number | null; reason: string | null; impossible: string }>(
    q,
    sql`SELECT t.department, t.esms_category AS category, count(DISTINCT t.individual) AS waiting, NULL::float8 AS median_delay, NULL::text AS reason, 0 AS impossible
       FROM task t
      WHERE t.module = 'decision' AND t.business_status = ANY(${[...waiting]}::text[]) AND t.validity_start <= ${today}::date AND t.validity_end >= ${today}::date
        AND (${department}::text IS NULL OR t.department = ${department}) AND (${category}::text IS NULL OR t.esms_category = ${category})
      GROUP BY t.department, t.esms_category
     UNION ALL
     SELECT t.department, t.esms_category, NULL, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.admitted_at - t.notified_at) / 86400), NULL, 0
       FROM task t
      WHERE t.module = 'decision' AND t.admitted_at IS NOT NULL AND t.validity_start <= ${today}::date AND t.validity_end >= ${today}::date
        AND (${department}::text IS NULL OR t.department = ${department}) AND (${category}::text IS NULL OR t.esms_category = ${category})
      GROUP BY t.department, t.esms_category
     UNION ALL
     SELECT t.department, t.esms_category, NULL, NULL, coalesce(t.status_reason, 'unknown'), count(*)
       FROM task t
      WHERE t.module = 'decision' AND t.business_status = ANY(${[...impossible]}::text[])
        AND (${department}::text IS NULL OR t.department = ${department}) AND (${category}::text IS NULL OR t.esms_category = ${category})
      GROUP BY t.department, t.esms_category, t.status_reason`
  );
  return rows;
}

/**
 * The installed places of each (department, category): the capacities with
 * status 01 (or none) of the places (Location) of the organizations of that
 * category (Organization.type) in that department (postal code).
 */
export async function installedPlaces(q: Queryable, groups: readonly (readonly [string, string])[]): Promise<{ department: string; category: string; places: string }[]> {
  const { rows } = await run<{ department: string; category: string; places: string }>(
    q,
    sql`SELECT w.department, w.esms_category AS category, coalesce(sum((c->>'count')::int), 0) AS places
       FROM unnest(${groups.map(([d]) => d)}::text[], ${groups.map(([, c]) => c)}::text[]) AS w(department, esms_category)
       JOIN organization o ON o.type_codes @> ARRAY[w.esms_category]::text[] AND EXISTS (SELECT 1 FROM unnest(o.postal_codes) p WHERE p LIKE w.department || '%')
       JOIN location l ON l.organization_id = o.id
       CROSS JOIN LATERAL jsonb_array_elements(l.capacities) c
      WHERE coalesce(c->>'status', '01') = '01'
      GROUP BY w.department, w.esms_category`
  );
  return rows;
}

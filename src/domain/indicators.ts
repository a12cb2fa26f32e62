/**
 * Indicators of orientation decisions (the CNSA decision-support set, seed
 * 003), by MDPH department and ESMS category, computed from the domain tables
 * in three statements:
 *
 * - waiting list: persons with a valid decision whose task in an ESMS is on
 *   the waiting list (42 liste d'attente, 72 admissible);
 * - installed places: the capacities of the directory's places (Location)
 *   of the organizations of that category (Organization.type) in the
 *   department (postal code), counting capacities whose status is 01 or
 *   absent; and the ratio waiting list / installed places;
 * - median admission delay, in days, from the ESMS's notification to its
 *   first admission (71 admis, or later statuses reached directly);
 * - persons "sans solution": a valid decision, and no admission anywhere;
 * - Creton: valid decisions with the Creton flag;
 * - admissions impossible (45, 46), by reason;
 * - valid decisions whose validity ends within 90 days.
 *
 * A decision is valid on a day when it is active and that day falls in its
 * validity period.
 */
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { ADMITTED_STATUSES, IMPOSSIBLE_STATUSES, WAITING_STATUSES } from '../../mappings/decision.js';
import { badRequest, forbidden } from '../fhir/outcomes.js';
import type { Queryable } from '../store/db.js';
import { mdphOf } from './decision-import.js';
import { hasAnyRole, type Principal } from './principal.js';

export interface IndicatorQuery {
  department?: string;
  category?: string;
  /** The day the indicators are computed for (YYYY-MM-DD). */
  today: string;
}

interface Group {
  department: string;
  category: string;
  waiting: number;
  places: number;
  medianDelay: number | null;
  withoutSolution: number;
  creton: number;
  expiring: number;
  impossible: Map<string, number>;
}

/** Reads the query parameters (`department`, `category`), limited to the caller's department for an MDPH. */
export function indicatorQuery(principal: Principal | undefined, params: URLSearchParams, today: string): IndicatorQuery {
  for (const key of params.keys()) if (!['department', 'category', '_format'].includes(key)) throw badRequest(`Unknown parameter "${key}"; supported: department, category`, key);
  const department = params.get('department') ?? undefined;
  const category = params.get('category') ?? undefined;
  if (department !== undefined && !/^(\d{2,3}|2[AB])$/.test(department)) throw badRequest('department is 2 or 3 digits, or 2A/2B', 'department');
  if (category !== undefined && !/^\d{1,4}$/.test(category)) throw badRequest('category is an ESMS category code (1–4 digits)', 'category');
  if (hasAnyRole(principal, ['admin'])) return { department, category, today };
  const own = mdphOf(principal);
  if (!hasAnyRole(principal, ['mdph']) || !own) throw forbidden('Indicators are for an MDPH (its department) or an admin');
  if (department && department !== own) throw forbidden(`This client is the MDPH of department ${own}, not ${department}`);
  return { department: own, category, today };
}

export async function computeIndicators(q: Queryable, query: IndicatorQuery): Promise<Parameters> {
  const scope = [query.today, query.department ?? null, query.category ?? null];
  // Valid decisions, read once from their index (referral_decision_group) in department, category and person
  // order, grouped as read: by person first (a person may hold several), then by department and category: Creton
  // and expiring decisions, and persons "sans solution" (no admission anywhere: the admitted, read from the tasks
  // alone, are few and hashed once).
  const decisions = await q.query<{ department: string; category: string; creton: string; expiring: string; persons: string }>(
    `WITH persons AS (
       SELECT r.department, r.esms_category, r.individual,
              bool_and((r.department, r.individual) NOT IN (
                SELECT t.department, t.individual FROM task t
                 WHERE t.module = 'decision' AND t.business_status = ANY($4::text[]) AND t.department IS NOT NULL AND t.individual IS NOT NULL
                   AND ($2::text IS NULL OR t.department = $2))) AS without_solution,
              count(*) FILTER (WHERE r.creton) AS creton, count(*) FILTER (WHERE r.validity_end <= $1::date + 90) AS expiring
         FROM referral r
        WHERE r.module = 'decision' AND r.status = 'active' AND r.validity_start <= $1::date AND r.validity_end >= $1::date
          AND ($2::text IS NULL OR r.department = $2) AND ($3::text IS NULL OR r.esms_category = $3)
        GROUP BY r.department, r.esms_category, r.individual
     )
     SELECT department, esms_category AS category, sum(creton) AS creton, sum(expiring) AS expiring, count(*) FILTER (WHERE without_solution) AS persons
       FROM persons GROUP BY department, esms_category`,
    [...scope, [...ADMITTED_STATUSES]]
  );
  // Tasks of valid decisions (the decision's department, category, person and validity are copied on its
  // tasks), each read through the status index: waiting lists, admission delays, admissions impossible.
  const tasks = await q.query<{ department: string; category: string; waiting: string; median_delay: number | null; reason: string | null; impossible: string }>(
    `SELECT t.department, t.esms_category AS category, count(DISTINCT t.individual) AS waiting, NULL::float8 AS median_delay, NULL::text AS reason, 0 AS impossible
       FROM task t
      WHERE t.module = 'decision' AND t.business_status = ANY($4::text[]) AND t.validity_start <= $1::date AND t.validity_end >= $1::date
        AND ($2::text IS NULL OR t.department = $2) AND ($3::text IS NULL OR t.esms_category = $3)
      GROUP BY t.department, t.esms_category
     UNION ALL
     SELECT t.department, t.esms_category, NULL, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.admitted_at - t.notified_at) / 86400), NULL, 0
       FROM task t
      WHERE t.module = 'decision' AND t.admitted_at IS NOT NULL AND t.validity_start <= $1::date AND t.validity_end >= $1::date
        AND ($2::text IS NULL OR t.department = $2) AND ($3::text IS NULL OR t.esms_category = $3)
      GROUP BY t.department, t.esms_category
     UNION ALL
     SELECT t.department, t.esms_category, NULL, NULL, coalesce(t.status_reason, 'unknown'), count(*)
       FROM task t
      WHERE t.module = 'decision' AND t.business_status = ANY($5::text[])
        AND ($2::text IS NULL OR t.department = $2) AND ($3::text IS NULL OR t.esms_category = $3)
      GROUP BY t.department, t.esms_category, t.status_reason`,
    [...scope, [...WAITING_STATUSES], [...IMPOSSIBLE_STATUSES]]
  );
  // Installed places, from the directory, for the groups found.
  const found = new Map<string, [string, string]>();
  for (const r of [...decisions.rows, ...tasks.rows]) found.set(`${r.department}|${r.category}`, [r.department, r.category]);
  const places = await q.query<{ department: string; category: string; places: string }>(
    `SELECT w.department, w.esms_category AS category, coalesce(sum((c->>'count')::int), 0) AS places
       FROM unnest($1::text[], $2::text[]) AS w(department, esms_category)
       JOIN organization o ON o.type_codes @> ARRAY[w.esms_category]::text[] AND EXISTS (SELECT 1 FROM unnest(o.postal_codes) p WHERE p LIKE w.department || '%')
       JOIN location l ON l.organization_id = o.id
       CROSS JOIN LATERAL jsonb_array_elements(l.capacities) c
      WHERE coalesce(c->>'status', '01') = '01'
      GROUP BY w.department, w.esms_category`,
    [[...found.values()].map(([d]) => d), [...found.values()].map(([, c]) => c)]
  );
  const groups = new Map<string, Group>();
  const group = (department: string, category: string): Group => {
    const key = `${department}|${category}`;
    let g = groups.get(key);
    if (!g) {
      g = { department, category, waiting: 0, places: 0, medianDelay: null, withoutSolution: 0, creton: 0, expiring: 0, impossible: new Map() };
      groups.set(key, g);
    }
    return g;
  };
  for (const r of decisions.rows) Object.assign(group(r.department, r.category), { creton: Number(r.creton), expiring: Number(r.expiring), withoutSolution: Number(r.persons) });
  for (const r of tasks.rows) {
    const g = group(r.department, r.category);
    if (r.reason !== null) g.impossible.set(r.reason, Number(r.impossible));
    else if (r.median_delay !== null) g.medianDelay = Math.round(Number(r.median_delay) * 10) / 10;
    else g.waiting = Number(r.waiting);
  }
  for (const r of places.rows) group(r.department, r.category).places = Number(r.places);
  const parameter: ParametersParameter[] = [{ name: 'date', valueDate: query.today }];
  for (const g of [...groups.values()].sort((a, b) => a.department.localeCompare(b.department) || a.category.localeCompare(b.category))) {
    parameter.push({
      name: 'group',
      part: [
        { name: 'department', valueString: g.department },
        { name: 'category', valueString: g.category },
        { name: 'waitingList', valueInteger: g.waiting },
        { name: 'installedPlaces', valueInteger: g.places },
        ...(g.places > 0 ? [{ name: 'waitingListPerPlace', valueDecimal: Math.round((g.waiting / g.places) * 1000) / 1000 }] : []),
        ...(g.medianDelay !== null ? [{ name: 'medianAdmissionDelayDays', valueDecimal: g.medianDelay }] : []),
        { name: 'withoutSolution', valueInteger: g.withoutSolution },
        { name: 'creton', valueInteger: g.creton },
        { name: 'expiringWithin90Days', valueInteger: g.expiring },
        ...[...g.impossible].sort(([a], [b]) => a.localeCompare(b)).map(([reason, count]) => ({
          name: 'admissionImpossible',
          part: [
            { name: 'reason', valueString: reason },
            { name: 'count', valueInteger: count },
          ],
        })),
      ],
    });
  }
  return { resourceType: 'Parameters', parameter };
}

/**
 * The referral indicators' rollup (migration 026): recomputed from the
 * referral tasks' facts in one transaction (readers see the previous rollup
 * until it commits), and read by month range, department, care and unit.
 * Months are Paris months.
 */
import type { Queryable } from './db.js';
import { join, run, sql, trusted, type SqlFragment } from './sql.js';

/** The unit of a group that counts every unit of its month, department and care. */
export const ALL_UNITS = '*';

/** Recomputes the rollup from the tasks; returns the number of groups. */
export async function refreshReferralRollup(q: Queryable, at: Date): Promise<number> {
  const month = sql`date_trunc('month', t.sent_at AT TIME ZONE 'Europe/Paris')::date`;
  const scope = sql`FROM task t WHERE t.module = 'referral' AND t.sent_at IS NOT NULL`;
  // Each group twice: per unit, and for all the units of its department and care (unit '*'), each with its own percentiles.
  const unitOrAll = sql`CASE WHEN GROUPING(t.owner_service_id) = 1 THEN ${ALL_UNITS} ELSE coalesce(t.owner_service_id, '') END`;
  await run(q, sql`DELETE FROM referral_indicator`);
  await run(q, sql`DELETE FROM referral_indicator_reason`);
  await run(q, sql`DELETE FROM referral_flow`);
  const { rowCount } = await run(
    q,
    sql`INSERT INTO referral_indicator (month, department, care, unit_id, sent, read, answered, answer_median_hours, answer_p90_hours, admitted, admission_median_days, admission_p90_days, refused, cancelled, auto_cancelled)
        SELECT ${month}, coalesce(t.unit_department, ''), coalesce(t.care, ''), ${unitOrAll},
               count(*), count(t.read_at), count(t.answered_at),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.answered_at - t.sent_at) / 3600),
               percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM t.answered_at - t.sent_at) / 3600),
               count(t.admitted_at),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.admitted_at - t.sent_at) / 86400),
               percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM t.admitted_at - t.sent_at) / 86400),
               count(*) FILTER (WHERE t.business_status = 'refused'),
               count(*) FILTER (WHERE t.business_status = 'cancelled'),
               count(*) FILTER (WHERE t.business_status = 'cancelled' AND t.status_reason = 'automatic-cancellation')
          ${scope} GROUP BY GROUPING SETS ((1, 2, 3, t.owner_service_id), (1, 2, 3))`
  );
  await run(
    q,
    sql`INSERT INTO referral_indicator_reason (month, department, care, unit_id, status, reason, count)
        SELECT ${month}, coalesce(t.unit_department, ''), coalesce(t.care, ''), ${unitOrAll}, t.business_status, coalesce(t.status_reason, 'unknown'), count(*)
          ${scope} AND t.business_status IN ('refused', 'cancelled') GROUP BY GROUPING SETS ((1, 2, 3, t.owner_service_id, 5, 6), (1, 2, 3, 5, 6))`
  );
  await run(
    q,
    sql`INSERT INTO referral_flow (month, origin_department, department, care, sent, admitted)
        SELECT ${month}, coalesce(t.origin_department, ''), coalesce(t.unit_department, ''), coalesce(t.care, ''), count(*), count(t.admitted_at)
          ${scope} GROUP BY 1, 2, 3, 4`
  );
  await run(q, sql`UPDATE referral_indicator_state SET refreshed_at = ${at.toISOString()}::timestamptz WHERE name = 'rollup'`);
  return rowCount ?? 0;
}

/** Which groups to read: months `from`..`to` (first days), departments (any when absent), a care, a unit. */
export interface ReferralIndicatorScope {
  from: string;
  to: string;
  departments?: readonly string[];
  care?: string;
  unit?: string;
  /** Per unit, or per department and care (all their units: the default). */
  byUnit?: boolean;
  /** With the flows between departments. */
  flows?: boolean;
}

export interface ReferralIndicatorRow {
  month: string;
  department: string;
  care: string;
  unit_id: string;
  sent: number;
  read: number;
  answered: number;
  answer_median_hours: number | null;
  answer_p90_hours: number | null;
  admitted: number;
  admission_median_days: number | null;
  admission_p90_days: number | null;
  refused: number;
  cancelled: number;
  auto_cancelled: number;
  reasons: { status: string; reason: string; count: number }[] | null;
}

function conditions(scope: ReferralIndicatorScope, alias: string): SqlFragment {
  const a = (column: string): SqlFragment => trusted(`${alias}.${column}`);
  const parts: SqlFragment[] = [sql`${a('month')} BETWEEN ${scope.from}::date AND ${scope.to}::date`];
  if (scope.departments) parts.push(sql`${a('department')} = ANY(${[...scope.departments]}::text[])`);
  if (scope.care) parts.push(sql`${a('care')} = ${scope.care}`);
  if (scope.unit) parts.push(sql`${a('unit_id')} = ${scope.unit}`);
  else parts.push(scope.byUnit ? sql`${a('unit_id')} <> ${ALL_UNITS}` : sql`${a('unit_id')} = ${ALL_UNITS}`);
  return join(parts, ' AND ');
}

/** The rollup's groups in scope, with their refusal and cancellation reasons; and when it was computed. */
export async function readReferralIndicators(q: Queryable, scope: ReferralIndicatorScope): Promise<{ refreshedAt: Date | null; groups: ReferralIndicatorRow[] }> {
  const state = await run<{ refreshed_at: Date | null }>(q, sql`SELECT refreshed_at FROM referral_indicator_state WHERE name = 'rollup'`);
  const { rows } = await run<ReferralIndicatorRow>(
    q,
    sql`SELECT to_char(i.month, 'YYYY-MM') AS month, i.department, i.care, i.unit_id, i.sent, i.read, i.answered, i.answer_median_hours, i.answer_p90_hours,
               i.admitted, i.admission_median_days, i.admission_p90_days, i.refused, i.cancelled, i.auto_cancelled,
               (SELECT json_agg(json_build_object('status', r.status, 'reason', r.reason, 'count', r.count) ORDER BY r.status, r.reason)
                  FROM referral_indicator_reason r
                 WHERE r.month = i.month AND r.department = i.department AND r.care = i.care AND r.unit_id = i.unit_id) AS reasons
          FROM referral_indicator i
         WHERE ${conditions(scope, 'i')}
         ORDER BY i.month, i.department, i.care, i.unit_id`
  );
  return { refreshedAt: state.rows[0]?.refreshed_at ?? null, groups: rows };
}

/** The flows in scope: from the prescribers' departments to the units'. */
export async function readReferralFlows(
  q: Queryable,
  scope: ReferralIndicatorScope
): Promise<{ month: string; origin_department: string; department: string; care: string; sent: number; admitted: number }[]> {
  const { rows } = await run<{ month: string; origin_department: string; department: string; care: string; sent: number; admitted: number }>(
    q,
    sql`SELECT to_char(f.month, 'YYYY-MM') AS month, f.origin_department, f.department, ${scope.care ? sql`f.care` : sql`''`} AS care, sum(f.sent)::int AS sent, sum(f.admitted)::int AS admitted
          FROM referral_flow f
         WHERE f.month BETWEEN ${scope.from}::date AND ${scope.to}::date
           ${scope.departments ? sql`AND (f.department = ANY(${[...scope.departments]}::text[]) OR f.origin_department = ANY(${[...scope.departments]}::text[]))` : sql``}
           ${scope.care ? sql`AND f.care = ${scope.care}` : sql``}
         GROUP BY 1, 2, 3, 4
         ORDER BY 1, 2, 3, 4`
  );
  return rows;
}

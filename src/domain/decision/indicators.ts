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
import { ADMITTED_STATUSES, IMPOSSIBLE_STATUSES, WAITING_STATUSES } from '../../../mappings/decision/statuses.js';
import { badRequest, forbidden } from '../../core/outcomes.js';
import { setLocal, type Database } from '../../store/db.js';
import { decisionAggregates, installedPlaces, taskAggregates, type IndicatorScope } from '../../store/indicators.js';
import { mdphOf } from './import-upload.js';
import { hasAnyRole, type Principal } from '../../core/principal.js';

/** What the indicators cover: the day (YYYY-MM-DD), a department, an ESMS category. */
export type IndicatorQuery = IndicatorScope;

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

/** Computes the indicators, in one read-only transaction. */
export async function computeIndicators(db: Database, query: IndicatorQuery): Promise<Parameters> {
  // Aggregates over every decision: sorts in memory, and no JIT compile for a statement run once.
  const { decisions, tasks, places } = await db.transaction(async (q) => {
    await setLocal(q, { work_mem: '64MB', jit: 'off' });
    const decisions = await decisionAggregates(q, query, ADMITTED_STATUSES);
    const tasks = await taskAggregates(q, query, WAITING_STATUSES, IMPOSSIBLE_STATUSES);
    // Installed places, from the directory, for the groups found.
    const found = new Map<string, [string, string]>();
    for (const r of [...decisions, ...tasks]) found.set(`${r.department}|${r.category}`, [r.department, r.category]);
    return { decisions, tasks, places: await installedPlaces(q, [...found.values()]) };
  });
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
  for (const r of decisions) Object.assign(group(r.department, r.category), { creton: Number(r.creton), expiring: Number(r.expiring), withoutSolution: Number(r.persons) });
  for (const r of tasks) {
    const g = group(r.department, r.category);
    if (r.reason !== null) g.impossible.set(r.reason, Number(r.impossible));
    else if (r.median_delay !== null) g.medianDelay = Math.round(Number(r.median_delay) * 10) / 10;
    else g.waiting = Number(r.waiting);
  }
  for (const r of places) group(r.department, r.category).places = Number(r.places);
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

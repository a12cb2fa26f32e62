/**
 * Indicators of admission requests (seed 001: "tracer les flux de patients
 * (taux d'admission, origine, etc.)"), per month, department (of the unit),
 * care asked and unit: requests sent, read rate, time to the first answer and
 * to admission (median and 90th percentile), admission and refusal rates,
 * refusals and cancellations by reason, automatic cancellations; and the
 * flows from the prescribers' departments to the units'. Read from the rollup
 * (store/referral-indicators.ts), which a background job recomputes; the
 * answer says when.
 */
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { badRequest, forbidden } from '../../core/outcomes.js';
import { hasAnyRole, type Principal } from '../../core/principal.js';
import { setLocal, type Database } from '../../store/db.js';
import { ALL_UNITS, readReferralFlows, readReferralIndicators, refreshReferralRollup, type ReferralIndicatorScope } from '../../store/referral-indicators.js';
import type { Clock } from '../clock.js';
import { CARE_WANTED } from '../../../mappings/forms.js';
import { TERRITORY_SYSTEM, territoryDepartments } from '../../../mappings/territories.js';

/** The departments of a territory client (its organization `…/territory|region-NN` or `…|dept-NN`). */
function territoryOf(principal: Principal | undefined): readonly string[] | undefined {
  const organization = principal?.organization ?? '';
  if (!organization.startsWith(`${TERRITORY_SYSTEM}|`)) return undefined;
  return territoryDepartments(organization.slice(TERRITORY_SYSTEM.length + 1));
}

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

/** The first day of the month `months` before (negative) or after that of `day`. */
function monthOf(day: string, months = 0): string {
  const d = new Date(`${day.slice(0, 7)}-01T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + months);
  return d.toISOString().slice(0, 10);
}

/** Reads `module=referral` queries: from, to (YYYY-MM; default the last twelve months), department, care, unit, by (department or unit). An admin, or a territory client for its own. */
export function referralIndicatorQuery(principal: Principal | undefined, params: URLSearchParams, today: string): ReferralIndicatorScope {
  for (const key of params.keys()) {
    if (!['module', 'from', 'to', 'department', 'care', 'unit', 'by', 'flows', '_format'].includes(key)) throw badRequest(`Unknown parameter "${key}"; supported with module=referral: from, to, department, care, unit, by, flows`, key);
  }
  const from = params.get('from');
  const to = params.get('to');
  for (const [name, value] of [['from', from], ['to', to]] as const) if (value !== null && !MONTH.test(value)) throw badRequest(`${name} is a month, YYYY-MM`, name);
  const department = params.get('department') ?? undefined;
  if (department !== undefined && !/^(\d{2,3}|2[AB])$/.test(department)) throw badRequest('department is 2 or 3 digits, or 2A/2B', 'department');
  const care = params.get('care') ?? undefined;
  if (care !== undefined && !CARE_WANTED.codes.some(([code]) => code === care)) throw badRequest(`care is one of ${CARE_WANTED.codes.map(([c]) => c).join(', ')}`, 'care');
  const unit = params.get('unit') ?? undefined;
  if (unit !== undefined && !/^[A-Za-z0-9\-.]{1,64}$/.test(unit)) throw badRequest('unit is the id of a HealthcareService', 'unit');
  const scope: ReferralIndicatorScope = { from: from ? `${from}-01` : monthOf(today, -11), to: to ? `${to}-01` : monthOf(today) };
  if (scope.from > scope.to) throw badRequest('from is after to', 'from');
  const by = params.get('by') ?? 'department';
  if (by !== 'department' && by !== 'unit') throw badRequest('by is department (all the units of a department and care, the default) or unit', 'by');
  const flows = params.get('flows') ?? 'false';
  if (flows !== 'true' && flows !== 'false') throw badRequest('flows is true or false', 'flows');
  const narrowed = { ...(care ? { care } : {}), ...(unit ? { unit } : {}), ...(by === 'unit' ? { byUnit: true } : {}), ...(flows === 'true' ? { flows: true } : {}) };
  if (hasAnyRole(principal, ['admin'])) return { ...scope, ...(department ? { departments: [department] } : {}), ...narrowed };
  // An ARS or a departmental council: its territory's departments (the units' and, for flows, the prescribers').
  const own = territoryOf(principal);
  if (!hasAnyRole(principal, ['territory']) || !own) throw forbidden('Referral indicators are for an admin, or a territory (an ARS, a departmental council) for its own');
  if (department && !own.includes(department)) throw forbidden(`This client’s territory is ${own.join(', ')}, not ${department}`);
  return { ...scope, departments: department ? [department] : own, ...narrowed };
}

/** A share to three decimals ('' when there is no whole), and a delay to a tenth ('' when none): in Parameters and exports alike. */
const ratio = (part: number, whole: number): number | '' => (whole > 0 ? Math.round((part / whole) * 1000) / 1000 : '');
const tenth = (value: number | null): number | '' => (value === null ? '' : Math.round(value * 10) / 10);
/** A decimal part, absent when there is no value. */
const decimal = (name: string, value: number | ''): ParametersParameter[] => (value === '' ? [] : [{ name, valueDecimal: value }]);

/** The indicators in scope, as Parameters: one `group` per month, department, care and unit, then one `flow` per origin. */
export async function computeReferralIndicators(db: Database, scope: ReferralIndicatorScope): Promise<Parameters> {
  const { refreshedAt, groups } = await readReferralIndicators(db, scope);
  const flows = scope.flows ? await readReferralFlows(db, scope) : [];
  const parameter: ParametersParameter[] = [
    { name: 'module', valueCode: 'referral' },
    ...(refreshedAt ? [{ name: 'computedAt', valueInstant: new Date(refreshedAt).toISOString() }] : []),
    { name: 'from', valueString: scope.from.slice(0, 7) },
    { name: 'to', valueString: scope.to.slice(0, 7) },
  ];
  for (const g of groups) {
    parameter.push({
      name: 'group',
      part: [
        { name: 'month', valueString: g.month },
        { name: 'department', valueString: g.department || 'inconnu' },
        { name: 'care', valueString: g.care || 'inconnu' },
        ...(g.unit_id && g.unit_id !== ALL_UNITS ? [{ name: 'unit', valueReference: { reference: `HealthcareService/${g.unit_id}` } }] : []),
        { name: 'sent', valueInteger: g.sent },
        { name: 'read', valueInteger: g.read },
        ...decimal('readRate', ratio(g.read, g.sent)),
        { name: 'answered', valueInteger: g.answered },
        ...decimal('firstAnswerMedianHours', tenth(g.answer_median_hours)),
        ...decimal('firstAnswerP90Hours', tenth(g.answer_p90_hours)),
        { name: 'admitted', valueInteger: g.admitted },
        ...decimal('admissionRate', ratio(g.admitted, g.sent)),
        ...decimal('admissionMedianDays', tenth(g.admission_median_days)),
        ...decimal('admissionP90Days', tenth(g.admission_p90_days)),
        { name: 'refused', valueInteger: g.refused },
        ...decimal('refusalRate', ratio(g.refused, g.sent)),
        { name: 'cancelled', valueInteger: g.cancelled },
        { name: 'automaticCancellations', valueInteger: g.auto_cancelled },
        ...(g.reasons ?? []).map((r) => ({
          name: r.status === 'refused' ? 'refusalReason' : 'cancellationReason',
          part: [
            { name: 'reason', valueString: r.reason },
            { name: 'count', valueInteger: r.count },
          ],
        })),
      ],
    });
  }
  for (const f of flows) {
    parameter.push({
      name: 'flow',
      part: [
        { name: 'month', valueString: f.month },
        { name: 'originDepartment', valueString: f.origin_department || 'inconnu' },
        { name: 'department', valueString: f.department || 'inconnu' },
        ...(f.care ? [{ name: 'care', valueString: f.care }] : []),
        { name: 'sent', valueInteger: f.sent },
        { name: 'admitted', valueInteger: f.admitted },
      ],
    });
  }
  return { resourceType: 'Parameters', parameter };
}

/** One group of the indicators as an export's line. */
export interface IndicatorLine {
  month: string;
  department: string;
  care: string;
  unit: string;
  sent: number;
  read: number;
  readRate: number | string;
  answered: number;
  firstAnswerMedianHours: number | string;
  firstAnswerP90Hours: number | string;
  admitted: number;
  admissionRate: number | string;
  admissionMedianDays: number | string;
  admissionP90Days: number | string;
  refused: number;
  refusalRate: number | string;
  cancelled: number;
  automaticCancellations: number;
  reasons: string;
}

/** The columns of an indicators export, with their headings. */
export const INDICATOR_COLUMNS: readonly { key: keyof IndicatorLine; heading: string }[] = [
  { key: 'month', heading: 'Mois' },
  { key: 'department', heading: 'Département' },
  { key: 'care', heading: 'Prise en charge' },
  { key: 'unit', heading: 'Unité' },
  { key: 'sent', heading: 'Demandes envoyées' },
  { key: 'read', heading: 'Lues' },
  { key: 'readRate', heading: 'Taux de lecture' },
  { key: 'answered', heading: 'Répondues' },
  { key: 'firstAnswerMedianHours', heading: 'Délai de première réponse, médiane (h)' },
  { key: 'firstAnswerP90Hours', heading: 'Délai de première réponse, 90e centile (h)' },
  { key: 'admitted', heading: 'Admissions' },
  { key: 'admissionRate', heading: 'Taux d’admission' },
  { key: 'admissionMedianDays', heading: 'Délai d’admission, médiane (j)' },
  { key: 'admissionP90Days', heading: 'Délai d’admission, 90e centile (j)' },
  { key: 'refused', heading: 'Refus' },
  { key: 'refusalRate', heading: 'Taux de refus' },
  { key: 'cancelled', heading: 'Annulations' },
  { key: 'automaticCancellations', heading: 'Annulations automatiques' },
  { key: 'reasons', heading: 'Motifs' },
];

/** The indicators in scope as export lines (one per group). */
export async function referralIndicatorLines(db: Database, scope: ReferralIndicatorScope): Promise<IndicatorLine[]> {
  const { groups } = await readReferralIndicators(db, scope);
  return groups.map((g) => ({
    month: g.month,
    department: g.department,
    care: g.care,
    unit: g.unit_id === ALL_UNITS ? '' : g.unit_id,
    sent: g.sent,
    read: g.read,
    readRate: ratio(g.read, g.sent),
    answered: g.answered,
    firstAnswerMedianHours: tenth(g.answer_median_hours),
    firstAnswerP90Hours: tenth(g.answer_p90_hours),
    admitted: g.admitted,
    admissionRate: ratio(g.admitted, g.sent),
    admissionMedianDays: tenth(g.admission_median_days),
    admissionP90Days: tenth(g.admission_p90_days),
    refused: g.refused,
    refusalRate: ratio(g.refused, g.sent),
    cancelled: g.cancelled,
    automaticCancellations: g.auto_cancelled,
    reasons: (g.reasons ?? []).map((r) => `${r.status === 'refused' ? 'refus' : 'annulation'} ${r.reason}: ${r.count}`).join(', '),
  }));
}

/** Recomputes the rollup, in one transaction (readers keep the previous one until it commits). */
export async function refreshReferralIndicators(db: Database, clock: Clock): Promise<number> {
  return db.transaction(async (q) => {
    // One pass over every referral task, sorted per group for the percentiles: in memory, no JIT compile for a statement run once.
    await setLocal(q, { work_mem: '128MB', jit: 'off' });
    return refreshReferralRollup(q, clock.now());
  });
}

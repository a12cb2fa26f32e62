/**
 * `GET /$indicators`: the indicators of orientation decisions (CNSA set), by
 * department and ESMS category; with `module=referral`, those of admission
 * requests, by month, department, care and unit.
 */
import { computeIndicators, indicatorQuery } from '../../domain/decision/indicators.js';
import { computeReferralIndicators, referralIndicatorQuery } from '../../domain/referral/indicators.js';
import type { Route } from '../route.js';
import { badRequest } from '../../core/outcomes.js';

export const indicatorsRoute: Route = {
  method: 'GET',
  path: '$indicators',
  interaction: 'operation',
  operation: {
    name: 'indicators',
    id: 'indicators',
    level: 'system',
    title: 'Indicators of orientation decisions and of admission requests',
    description:
      'Decisions (default): waiting list per department and ESMS category, waiting list over installed places, median admission delay, persons without solution, Creton counts, admissions impossible by reason, decisions expiring within 90 days; an MDPH gets its own department, admin any. module=referral (admin): admission requests per month, department, care and unit — sent, read rate, time to first answer and to admission (median, 90th percentile), admission and refusal rates, refusals and cancellations by reason, automatic cancellations — and flows by origin department, from a rollup recomputed in the background (computedAt says when).',
    affectsState: false,
    parameters: [
      { name: 'module', use: 'in', min: 0, max: '1', type: 'code', documentation: 'decision (default) or referral' },
      { name: 'department', use: 'in', min: 0, max: '1', type: 'string', documentation: 'An MDPH department (an MDPH client: its own); with module=referral, the units’ department' },
      { name: 'from', use: 'in', min: 0, max: '1', type: 'string', documentation: 'module=referral: first month, YYYY-MM (default: eleven months ago)' },
      { name: 'to', use: 'in', min: 0, max: '1', type: 'string', documentation: 'module=referral: last month, YYYY-MM (default: this month)' },
      { name: 'care', use: 'in', min: 0, max: '1', type: 'code', documentation: 'module=referral: the care asked (care-wanted code)' },
      { name: 'unit', use: 'in', min: 0, max: '1', type: 'string', documentation: 'module=referral: a unit (HealthcareService id)' },
      { name: 'flows', use: 'in', min: 0, max: '1', type: 'boolean', documentation: 'module=referral: with the flows from the prescribers’ departments to the units’ (all cares together unless care is given)' },
      { name: 'by', use: 'in', min: 0, max: '1', type: 'code', documentation: 'module=referral: department (default: one group per month, department and care, all units together) or unit (one per unit too)' },
      { name: 'category', use: 'in', min: 0, max: '1', type: 'string', documentation: 'An ESMS category (FINESS category code)' },
      { name: 'return', use: 'out', min: 1, max: '1', type: 'Parameters', documentation: 'One group per department and category' },
    ],
  },
  async handler({ services, request }) {
    const today = services.clock.now().toISOString().slice(0, 10);
    const module = request.query.get('module');
    if (module === 'referral') return { status: 200, body: await computeReferralIndicators(services.db, referralIndicatorQuery(request.principal, request.query, today)) };
    if (module !== null && module !== 'decision') throw badRequest('module is decision or referral', 'module');
    const params = new URLSearchParams(request.query);
    params.delete('module');
    const query = indicatorQuery(request.principal, params, today);
    const body = await computeIndicators(services.db, query);
    return { status: 200, body };
  },
};

/** `GET /$indicators`: the indicators of orientation decisions (CNSA set), by department and ESMS category. */
import { computeIndicators, indicatorQuery } from '../../domain/decision/indicators.js';
import type { Route } from '../route.js';

export const indicatorsRoute: Route = {
  method: 'GET',
  path: '$indicators',
  interaction: 'operation',
  operation: {
    name: 'indicators',
    id: 'indicators',
    level: 'system',
    title: 'Indicators of orientation decisions',
    description:
      'Waiting list per department and ESMS category, waiting list over installed places, median admission delay, persons without solution, Creton counts, admissions impossible by reason, decisions expiring within 90 days; an MDPH gets its own department, admin any.',
    affectsState: false,
    parameters: [
      { name: 'department', use: 'in', min: 0, max: '1', type: 'string', documentation: 'An MDPH department (an MDPH client: its own)' },
      { name: 'category', use: 'in', min: 0, max: '1', type: 'string', documentation: 'An ESMS category (FINESS category code)' },
      { name: 'return', use: 'out', min: 1, max: '1', type: 'Parameters', documentation: 'One group per department and category' },
    ],
  },
  async handler({ services, request }) {
    const today = services.clock.now().toISOString().slice(0, 10);
    const query = indicatorQuery(request.principal, request.query, today);
    const body = await computeIndicators(services.db, query);
    return { status: 200, body };
  },
};

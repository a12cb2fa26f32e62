/** `POST ServiceRequest/$claim`: an ESMS puts a decision that did not target it on its list ("déclarer une notification"). */
import type { Bundle } from '@medplum/fhirtypes';
import { badRequest } from '../../core/outcomes.js';
import { claimDecisions } from '../../domain/decision/claim.js';
import type { Route } from '../route.js';
import { checkParameters, dateParameter, stringParameter } from './parameters.js';

export const claimRoute: Route = {
  method: 'POST',
  path: 'ServiceRequest/$claim',
  interaction: 'operation',
  unit: true,
  operation: {
    name: 'claim',
    id: 'ServiceRequest-claim',
    level: 'type',
    resource: ['ServiceRequest'],
    title: 'Claim an orientation decision',
    description:
      'An ESMS puts on its list the valid decisions of a person it knows by individual number and birth date; a wrong pair is 404 whether or not the person exists, and failed claims are limited per client and per individual number (then 429).',
    affectsState: true,
    parameters: [
      { name: 'individualNumber', use: 'in', min: 1, max: '1', type: 'string', documentation: 'The person’s individual number at the MDPH' },
      { name: 'birthDate', use: 'in', min: 1, max: '1', type: 'date', documentation: 'The person’s birth date' },
      { name: 'department', use: 'in', min: 0, max: '1', type: 'string', documentation: 'The MDPH’s department, to narrow the search' },
      { name: 'return', use: 'out', min: 1, max: '1', type: 'Bundle', documentation: 'A collection of the ESMS’s tasks for the person’s decisions' },
    ],
  },
  async handler({ services, request, ctx }) {
    checkParameters(services, request.body);
    const individual = stringParameter(request.body, 'individualNumber');
    const birthDate = dateParameter(request.body, 'birthDate');
    if (!individual || !birthDate) throw badRequest('$claim takes Parameters individualNumber (valueString) and birthDate (valueDate)', 'Parameters.parameter');
    const tasks = await claimDecisions(ctx, individual, birthDate, stringParameter(request.body, 'department'));
    const bundle: Bundle = { resourceType: 'Bundle', type: 'collection', entry: tasks.map((t) => ({ fullUrl: `${services.baseUrl}/Task/${t.id}`, resource: t })) };
    return { status: 200, body: bundle };
  },
};

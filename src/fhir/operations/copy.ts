/** `POST ServiceRequest/[id]/$copy`: a new request for the same patient to other units, with a copy of the administrative volet. */
import type { Parameters } from '@medplum/fhirtypes';
import { badRequest } from '../../core/outcomes.js';
import { copyRequest } from '../../domain/referral/copy.js';
import { versionHeaders } from '../interactions/common.js';
import type { Route } from '../route.js';
import { checkParameters } from './parameters.js';

export const copyRoute: Route = {
  method: 'POST',
  path: 'ServiceRequest/:id/$copy',
  interaction: 'operation',
  unit: true,
  operation: {
    name: 'copy',
    id: 'ServiceRequest-copy',
    level: 'instance',
    resource: ['ServiceRequest'],
    title: 'Copy a request to other units',
    description: 'The prescriber makes a new request for the same patient to the units given as performer parameters, with a copy of the administrative volet: a draft, sent (PUT with status active) once a validated medical volet is cited.',
    affectsState: true,
    parameters: [
      { name: 'performer', use: 'in', min: 1, max: '*', type: 'Reference', documentation: 'A candidate unit, HealthcareService/{id}' },
      { name: 'return', use: 'out', min: 1, max: '1', type: 'ServiceRequest', documentation: 'The new request' },
    ],
  },
  async handler({ services, request, ctx, params }) {
    checkParameters(services, request.body);
    const body = request.body as Parameters | undefined;
    if (body?.resourceType !== 'Parameters') throw badRequest('$copy takes a Parameters resource with performer (valueReference) parameters', 'resourceType');
    const performers = (body.parameter ?? [])
      .filter((p) => p.name === 'performer')
      .map((p, i) => {
        if (!p.valueReference?.reference) throw badRequest('performer is a valueReference to HealthcareService/{id}', `Parameters.parameter[${i}]`);
        return p.valueReference;
      });
    const created = await copyRequest(ctx, params.id as string, performers);
    return { status: 201, body: created, headers: versionHeaders(services, created) };
  },
};

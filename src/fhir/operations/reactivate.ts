/** `POST ServiceRequest/[id]/$reactivate`: undoes a request's cancellation before it is archived. */
import { reactivateRequest } from '../../domain/referral/reactivate.js';
import { versionHeaders } from '../interactions/common.js';
import type { Route } from '../route.js';
import { checkParameters, stringParameter } from './parameters.js';

export const reactivateRoute: Route = {
  method: 'POST',
  path: 'ServiceRequest/:id/$reactivate',
  interaction: 'operation',
  unit: true,
  operation: {
    name: 'reactivate',
    id: 'ServiceRequest-reactivate',
    level: 'instance',
    resource: ['ServiceRequest'],
    title: 'Reactivate a cancelled request',
    description: 'The prescriber undoes a cancellation before archiving; each task gets back the state it had.',
    affectsState: true,
    parameters: [{ name: 'return', use: 'out', min: 1, max: '1', type: 'ServiceRequest', documentation: 'The request, reactivated' }],
  },
  async handler({ services, request, ctx, params }) {
    checkParameters(services, request.body);
    stringParameter(request.body, '-');
    const reactivated = await reactivateRequest(ctx, params.id as string);
    return { status: 200, body: reactivated, headers: versionHeaders(services, reactivated) };
  },
};

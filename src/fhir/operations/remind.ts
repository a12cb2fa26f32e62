/** `POST Task/[id]/$remind`: a manual reminder (relance) to the other side of a task. */
import { badRequest } from '../../core/outcomes.js';
import { remindTask } from '../../domain/referral/remind.js';
import { versionHeaders } from '../interactions/common.js';
import type { Route } from '../route.js';
import { checkParameters, stringParameter } from './parameters.js';

export const remindRoute: Route = {
  method: 'POST',
  path: 'Task/:id/$remind',
  interaction: 'operation',
  unit: true,
  operation: {
    name: 'remind',
    id: 'Task-remind',
    level: 'instance',
    resource: ['Task'],
    title: 'Remind the other side of a task',
    description:
      'Manual reminder (relance) to the other side, 72 h after an agreement in principle (by the prescriber) or a proposed date (by the unit); sent as a Communication of category reminder.',
    affectsState: true,
    parameters: [
      { name: 'message', use: 'in', min: 0, max: '1', type: 'string', documentation: 'The reminder’s text (a default one otherwise)' },
      { name: 'return', use: 'out', min: 1, max: '1', type: 'Communication', documentation: 'The reminder sent' },
    ],
  },
  async handler({ services, request, ctx, params }) {
    checkParameters(services, request.body);
    const text = stringParameter(request.body, 'message');
    if (text !== undefined && text.trim() === '') throw badRequest('message, when given, is not empty', "Parameters.parameter.where(name='message')");
    const message = await remindTask(ctx, params.id as string, text);
    return { status: 201, body: message, headers: versionHeaders(services, message) };
  },
};

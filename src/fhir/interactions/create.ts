/** `POST [type]`: create, and conditional create (`If-None-Exist`). */
import { authorize } from '../../domain/access.js';
import { presentWrite } from '../../domain/reads.js';
import { createResource } from '../../domain/repository.js';
import type { Route } from '../route.js';
import { conditionalQuery, validateBody, writeResponse } from './common.js';

export const createRoute: Route = {
  method: 'POST',
  path: ':type',
  interaction: 'create',
  async handler({ services, request, ctx, kind }) {
    const k = kind as NonNullable<typeof kind>;
    // Who may write the type is settled before the body is looked at.
    authorize(request.principal, k, 'write');
    const resource = validateBody(services, request.body, k);
    // An empty If-None-Exist is a condition without criteria (400), not the absence of one.
    const ifNoneExist = request.ifNoneExist !== undefined ? conditionalQuery(services, k, request.ifNoneExist) : undefined;
    return writeResponse(services, await presentWrite(ctx, await createResource(ctx, resource, { ifNoneExist })));
  },
};

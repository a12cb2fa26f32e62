/** `PUT [type]/[id]`: update (`If-Match` → 412 when stale), or create where the type lets clients choose ids. */
import { badRequest } from '../../core/outcomes.js';
import { authorize } from '../../domain/access.js';
import { presentWrite } from '../../domain/reads.js';
import { updateResource } from '../../domain/repository.js';
import type { Route } from '../route.js';
import { parseVersionTag, validateBody, writeResponse } from './common.js';

export const updateRoute: Route = {
  method: 'PUT',
  path: ':type/:id',
  interaction: 'update',
  // A Binary's content never changes (a new document is a new Binary): PUT is 405 there.
  appliesTo: (kind) => kind.type !== 'Binary',
  async handler({ services, request, ctx, kind, params }) {
    const k = kind as NonNullable<typeof kind>;
    const id = params.id as string;
    authorize(request.principal, k, 'write');
    const resource = validateBody(services, request.body, k);
    if (resource.id !== undefined && resource.id !== id) throw badRequest(`The body's id "${resource.id}" differs from the URL's "${id}"`, `${k.type}.id`);
    const ifMatch = request.ifMatch !== undefined ? parseVersionTag(request.ifMatch) : undefined;
    return writeResponse(services, await presentWrite(ctx, await updateResource(ctx, resource, id, { ifMatch })));
  },
};

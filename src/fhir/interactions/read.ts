/** `GET [type]/[id]` and `GET [type]/[id]/_history/[vid]`: read and vread. */
import { notFound } from '../../core/outcomes.js';
import { presentResources, readResourceVersion } from '../../domain/reads.js';
import { readResource } from '../../domain/repository.js';
import type { Route } from '../route.js';
import { versionHeaders } from './common.js';

const publicRead: Route['isPublic'] = (kind) => kind?.access.read === 'public';

export const readRoute: Route = {
  method: 'GET',
  path: ':type/:id',
  interaction: 'read',
  isPublic: publicRead,
  async handler({ services, ctx, params }) {
    const [resource] = await presentResources(ctx, [await readResource(ctx, params.type as string, params.id as string)]);
    return { status: 200, body: resource, headers: versionHeaders(services, resource) };
  },
};

export const vreadRoute: Route = {
  method: 'GET',
  path: ':type/:id/_history/:vid',
  interaction: 'vread',
  isPublic: publicRead,
  async handler({ services, ctx, params }) {
    const { type, id, vid } = params as { type: string; id: string; vid: string };
    if (!/^\d{1,9}$/.test(vid)) throw notFound(`${type}/${id}/_history/${vid} not found`);
    // A past version is shown as the current one is (an ESMS sees a decision's task in the sdo-task shape).
    const [resource] = await presentResources(ctx, [await readResourceVersion(ctx, type, id, Number(vid))]);
    return { status: 200, body: resource, headers: versionHeaders(services, resource) };
  },
};

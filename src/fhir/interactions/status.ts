/** The status URLs of asynchronous work: `GET /_async/[id]` (a Bundle sent with respond-async) and `GET /_import/[id]` (an MDPH import). */
import { badRequest } from '../../core/outcomes.js';
import { importReport } from '../../domain/decision/import-report.js';
import { asyncStatus } from '../async-bundle.js';
import type { Route } from '../route.js';

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

function checkId(id: string): string {
  if (!ID.test(id)) throw badRequest(`Invalid id "${id}": 1 to 64 characters among A-Z a-z 0-9 - .`);
  return id;
}

export const asyncStatusRoute: Route = {
  method: 'GET',
  path: '_async/:id',
  interaction: 'status',
  async handler({ services, request, params }) {
    return asyncStatus(services, request.principal, checkId(params.id as string));
  },
};

export const importStatusRoute: Route = {
  method: 'GET',
  path: '_import/:id',
  interaction: 'status',
  async handler({ services, request, params }) {
    const report = await importReport(services.db, request.principal, checkId(params.id as string));
    const headers: Record<string, string> = report.progress ? { 'X-Progress': report.progress, 'Retry-After': '2' } : {};
    return { status: report.status, body: report.outcome, headers };
  },
};

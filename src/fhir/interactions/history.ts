/** `GET [type]/_history` and `GET [type]/[id]/_history`: histories, newest first, keyset-paged. */
import type { Bundle } from '@medplum/fhirtypes';
import { FIRST_INSTANT, instantRange, LAST_INSTANT, sqlInstant } from '../../../mappings/fhir-date.js';
import { badRequest } from '../../core/outcomes.js';
import { encodeCursor } from '../../core/search/parse.js';
import { presentResources, readResourceHistory } from '../../domain/reads.js';
import type { Route, RouteContext } from '../route.js';
import type { FhirResponse, FhirServices } from '../types.js';
import { listOf } from '../../core/json.js';

function parseHistoryOptions(services: FhirServices, query: URLSearchParams): { since?: string; count: number; after?: { lastUpdated: string; id: string; version: number } } {
  let count = services.search.defaultCount;
  let since: string | undefined;
  let after: { lastUpdated: string; id: string; version: number } | undefined;
  for (const [key, value] of query) {
    if (key === '_count') {
      if (!/^\d{1,9}$/.test(value)) throw badRequest(`_count must be a non-negative integer, got "${value}"`, '_count');
      count = Math.min(Number(value), services.search.maxCount);
    } else if (key === '_since') {
      const range = /^\d{4}-\d{2}-\d{2}T/.test(value) ? instantRange(value) : undefined;
      if (!range) throw badRequest(`_since must be an instant, got "${value}"`, '_since');
      // Within the years PostgreSQL reads (no version is stored outside them), and as the links can repeat it.
      since = new Date(Math.min(Math.max(range.low, FIRST_INSTANT), LAST_INSTANT)).toISOString();
    } else if (key === '_cursor') {
      try {
        const [lastUpdated, id, version] = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as [string, string, number];
        // As the server wrote it: an ISO instant of years 0001–9999, an id, a version number.
        const instant = typeof lastUpdated === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(lastUpdated) ? Date.parse(lastUpdated) : NaN;
        if (Number.isNaN(instant) || sqlInstant(instant) !== lastUpdated || typeof id !== 'string' || id.includes('\u0000') || !Number.isInteger(version) || version < 1 || version > 2 ** 31 - 1) throw new Error();
        after = { lastUpdated, id, version };
      } catch {
        throw badRequest('Invalid _cursor: use the links of a previous page as given', '_cursor');
      }
    } else if (key !== '_format') {
      throw badRequest(`Unsupported history parameter "${key}"; supported: _count, _since`, key);
    }
  }
  return { since, count, after };
}

async function history({ services, request, ctx, params }: RouteContext): Promise<FhirResponse> {
  const type = params.type as string;
  const id = params.id;
  const options = parseHistoryOptions(services, request.query);
  const page = await readResourceHistory(ctx, type, { ...options, id });
  // Each version shown as a read shows it (an ESMS sees a decision's task in the sdo-task shape).
  const shown = await presentResources(ctx, page.entries.map((e) => e.content));
  const base = `${services.baseUrl}/${type}${id ? `/${id}` : ''}/_history`;
  const link = (cursor?: string): string => {
    const query = new URLSearchParams();
    if (options.since) query.set('_since', options.since);
    query.set('_count', String(options.count));
    if (cursor) query.set('_cursor', cursor);
    return `${base}?${query.toString()}`;
  };
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'history',
    link: [
      { relation: 'self', url: link(request.query.get('_cursor') ?? undefined) },
      ...(page.next ? [{ relation: 'next', url: link(encodeCursor([page.next.lastUpdated, page.next.id, page.next.version])) }] : []),
    ],
    ...listOf('entry', page.entries.map((e, i) => ({
      fullUrl: `${services.baseUrl}/${type}/${e.id}`,
      resource: shown[i],
      request: { method: e.version === 1 ? ('POST' as const) : ('PUT' as const), url: e.version === 1 ? type : `${type}/${e.id}` },
      response: { status: e.version === 1 ? '201 Created' : '200 OK', etag: `W/"${e.version}"`, lastModified: e.lastUpdated.toISOString() },
    }))),
  };
  return { status: 200, body: bundle };
}

const publicHistory: Route['isPublic'] = (kind) => kind?.access.read === 'public';

export const typeHistoryRoute: Route = { method: 'GET', path: ':type/_history', interaction: 'history-type', isPublic: publicHistory, handler: history };
export const instanceHistoryRoute: Route = { method: 'GET', path: ':type/:id/_history', interaction: 'history-instance', isPublic: publicHistory, handler: history };

/** `GET [type]?…` and `POST [type]/_search`: search, as a searchset Bundle with keyset paging links. */
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import { issue, outcome } from '../../core/outcomes.js';
import { encodeCursor, parseSearch } from '../../core/search/parse.js';
import { authorize } from '../../domain/access.js';
import { presentResources, searchResources } from '../../domain/reads.js';
import { kindOf } from '../../domain/registry.js';
import { subset } from '../subsetting.js';
import type { Route, RouteContext } from '../route.js';
import type { FhirResponse } from '../types.js';
import { isLenient } from './common.js';
import { listOf } from '../../core/json.js';

async function search({ services, request, ctx, kind }: RouteContext): Promise<FhirResponse> {
  const k = kind as NonNullable<typeof kind>;
  // Who asks is settled before what is asked: no token is 401 and a role that may not read the type 403, whatever the parameters.
  authorize(ctx.principal, k, 'read');
  const parsed = parseSearch(k, request.query, services.search, isLenient(request.prefer), kindOf);
  const { elements, summary } = parsed.query;
  const page = await searchResources(ctx, parsed.query);
  const [matches, included] = [await presentResources(ctx, page.resources), await presentResources(ctx, page.included)];
  const link = (cursor?: string): string => {
    const params = new URLSearchParams(parsed.canonical);
    if (!params.has('_count')) params.set('_count', String(parsed.query.count));
    if (cursor) params.set('_cursor', cursor);
    return `${services.baseUrl}/${k.type}?${params.toString()}`;
  };
  const self = request.query.get('_cursor') ?? undefined;
  const entries: BundleEntry[] = [
    ...matches.map((r) => ({ fullUrl: `${services.baseUrl}/${r.resourceType}/${r.id}`, resource: subset(r, { elements, summary }), search: { mode: 'match' as const } })),
    ...included.map((r) => ({ fullUrl: `${services.baseUrl}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'include' as const } })),
  ];
  if (parsed.ignored.length > 0) {
    entries.push({
      resource: outcome(issue('not-supported', `Ignored unsupported parameter(s): ${parsed.ignored.join(', ')}`, undefined, 'warning')),
      search: { mode: 'outcome' },
    });
  }
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(page.total !== undefined ? { total: page.total } : {}),
    link: [{ relation: 'self', url: link(self) }, ...(page.next ? [{ relation: 'next', url: link(encodeCursor(page.next)) }] : [])],
    ...listOf('entry', entries),
  };
  return { status: 200, body: bundle, auditNote: { query: new URLSearchParams(parsed.canonical).toString() } };
}

const publicSearch: Route['isPublic'] = (kind) => kind?.access.read === 'public';

export const searchRoute: Route = { method: 'GET', path: ':type', interaction: 'search-type', isPublic: publicSearch, handler: search };
export const searchPostRoute: Route = { method: 'POST', path: ':type/_search', interaction: 'search-type', isPublic: publicSearch, handler: search };

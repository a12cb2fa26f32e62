/**
 * `GET /metadata`, and the conformance resources: `GET /{type}/{id}` and
 * `GET /{type}?url=…` for each type of the catalogue. Public, read-only,
 * written from the route table (nothing stored).
 */
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { badRequest, issue, notFound, outcome } from '../../core/outcomes.js';
import { criterionValues, parseCount } from '../../core/search/parse.js';
import type { DeclaredParam } from '../../core/search/model.js';
import { listOf } from '../../core/json.js';
import { allKinds } from '../../domain/registry.js';
import { normalizeText } from '../../../mappings/text.js';
import { capabilityStatement } from '../conformance/capability.js';
import { catalogue, CONFORMANCE_TYPES } from '../conformance/catalogue.js';
import type { Route, RouteContext } from '../route.js';
import { isLenient } from './common.js';

export const metadataRoute: Route = {
  method: 'GET',
  path: 'metadata',
  interaction: 'capabilities',
  isPublic: () => true,
  async handler({ services, table }) {
    return { status: 200, body: capabilityStatement(table, allKinds(), services.baseUrl, services.version, services.clock.now().toISOString().slice(0, 10)) };
  },
};

const FHIR_SP = 'http://hl7.org/fhir/SearchParameter/';

/** What the conformance resources are searched by (FHIR R4's parameters of the same names). */
const CONFORMANCE_PARAMS = (type: string): readonly DeclaredParam[] => [
  { code: '_id', type: 'token', definition: `${FHIR_SP}Resource-id`, documentation: 'Logical id (comma-separated: any of)' },
  { code: 'url', type: 'uri', definition: `${FHIR_SP}conformance-url`, documentation: 'The canonical URL, exactly (url|version to ask for a version)' },
  { code: 'name', type: 'string', definition: `${FHIR_SP}conformance-name`, documentation: 'The computable name: accent- and case-insensitive starts-with' },
  { code: 'version', type: 'token', definition: `${FHIR_SP}conformance-version`, documentation: `The ${type}’s version (the gateway’s, or the guide’s for a copy)` },
];

function resourcesOf(rc: RouteContext, type: string): readonly Resource[] {
  return catalogue(rc.table, allKinds(), rc.services.version).get(type) ?? [];
}

/** Whether a resource matches one search parameter's values (any of). */
function matches(resource: Resource, code: string, values: string[]): boolean {
  const r = resource as Resource & { url?: string; name?: string; version?: string };
  return values.some((value) => {
    switch (code) {
      case '_id':
        return r.id === value;
      case 'url': {
        const [url, version] = value.split('|', 2);
        return r.url === url && (version === undefined || r.version === version);
      }
      case 'name':
        return normalizeText(r.name ?? '').startsWith(normalizeText(value));
      default:
        return r.version === value;
    }
  });
}

function searchHandler(type: string): Route['handler'] {
  return async (rc) => {
    const { services, request } = rc;
    const known = new Set(CONFORMANCE_PARAMS(type).map((p) => p.code));
    let count = services.search.defaultCount;
    let offset = 0;
    const criteria: [string, string[]][] = [];
    const ignored: string[] = [];
    for (const [name, value] of request.query) {
      const values = criterionValues(name, value);
      if (name === '_count') count = parseCount(value, services.search);
      else if (name === '_offset') {
        if (!/^\d{1,6}$/.test(value)) throw badRequest(`_offset is a non-negative integer, got "${value}"`, '_offset');
        offset = Number(value);
      } else if (name === '_format') {
        if (!/json/.test(value)) throw badRequest(`Only JSON is supported, _format=${value}`, '_format');
      } else if (known.has(name)) {
        if (values.length > 0) criteria.push([name, values]);
      } else if (isLenient(request.prefer)) ignored.push(name);
      else throw badRequest(`Unknown search parameter "${name}" for ${type}; supported: ${[...known].join(', ')}, _count, _offset`, name);
    }
    const found = resourcesOf(rc, type).filter((r) => criteria.every(([code, values]) => matches(r, code, values)));
    const page = found.slice(offset, offset + count);
    const link = (at: number): string => {
      const params = new URLSearchParams([...criteria.map(([k, v]): [string, string] => [k, v.join(',')]), ['_count', String(count)], ['_offset', String(at)]]);
      return `${services.baseUrl}/${type}?${params.toString()}`;
    };
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: found.length,
      link: [{ relation: 'self', url: link(offset) }, ...(offset + count < found.length && count > 0 ? [{ relation: 'next', url: link(offset + count) }] : [])],
      ...listOf('entry', [
        ...page.map((resource) => ({ fullUrl: `${services.baseUrl}/${type}/${resource.id}`, resource, search: { mode: 'match' as const } })),
        ...(ignored.length > 0 ? [{ resource: outcome(issue('not-supported', `Ignored unsupported parameter(s): ${ignored.join(', ')}`, undefined, 'warning')), search: { mode: 'outcome' as const } }] : []),
      ]),
    };
    return { status: 200, body: bundle };
  };
}

/** The read and search routes of every conformance type. */
export const conformanceRoutes: readonly Route[] = CONFORMANCE_TYPES.flatMap((type): Route[] => [
  {
    method: 'GET',
    path: type,
    interaction: 'search-type',
    isPublic: () => true,
    searchParams: CONFORMANCE_PARAMS(type),
    handler: searchHandler(type),
  },
  {
    method: 'GET',
    path: `${type}/:id`,
    interaction: 'read',
    isPublic: () => true,
    async handler(rc) {
      const found = resourcesOf(rc, type).find((r) => r.id === rc.params.id);
      if (!found) throw notFound(`${type}/${rc.params.id} not found`);
      return { status: 200, body: found };
    },
  },
]);

/**
 * `GET /fhir/AuditEvent` and `GET /fhir/AuditEvent/{id}`: the audit trail,
 * for `admin` only. Searches run newest first, by `date` (with ge/gt/le/lt/eq
 * prefixes), `agent` (the client id), `entity` (Type/id), `entity-type`,
 * `action`, `outcome`, `subtype`, `address` and `request-id`.
 */
import type { Bundle } from '@medplum/fhirtypes';
import { badRequest, forbidden, notFound, unauthorized } from '../../core/outcomes.js';
import { decodeCursor, encodeCursor, parseCount, splitValues } from '../../core/search/parse.js';
import { renderAuditEvent } from '../../domain/audit/render.js';
import { AUDIT_SEARCH_PARAMS, auditEventById, searchAuditEvents, type AuditSearch } from '../../domain/audit/search.js';
import { hasAnyRole, type Principal } from '../../core/principal.js';
import type { Route } from '../route.js';
import type { FhirServices } from '../types.js';
import { listOf } from '../../core/json.js';

const EQUALS: Record<string, AuditSearch['equals'][number]['column']> = {
  agent: 'client_id',
  action: 'action',
  outcome: 'outcome',
  subtype: 'interaction',
  address: 'source_ip',
  'request-id': 'request_id',
  'entity-type': 'resource_type',
};

const ALLOWED: Record<string, RegExp> = {
  action: /^[CRUDE]$/,
  outcome: /^(0|4|8|12)$/,
};

const DATE = /^(eq|ge|gt|le|lt)?(\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?)$/;

/** The bounds of a `date` value: a day or an instant, with its prefix. */
function dateBounds(raw: string): AuditSearch['dates'] {
  const m = DATE.exec(raw);
  const start = m ? new Date(m[3] ? m[2] : `${m[2]}T00:00:00Z`) : undefined;
  if (!m || !start || Number.isNaN(start.getTime()) || (!m[3] && start.toISOString().slice(0, 10) !== m[2])) {
    throw badRequest(`Invalid date "${raw}": a day YYYY-MM-DD or an instant, with an optional prefix eq, ge, gt, le or lt`, 'date');
  }
  // A day stands for the whole day; an instant given to the minute or second, for that instant.
  const end = new Date(start.getTime() + (m[3] ? 1 : 86_400_000));
  const from = start.toISOString();
  const to = end.toISOString();
  switch (m[1] ?? 'eq') {
    case 'ge':
      return [['>=', from]];
    case 'gt':
      return [['>=', to]];
    case 'le':
      return [['<', to]];
    case 'lt':
      return [['<', from]];
    default:
      return [
        ['>=', from],
        ['<', to],
      ];
  }
}

/** Parses an audit search (400 on any unknown parameter or bad value). */
export function parseAuditSearch(services: FhirServices, query: URLSearchParams): AuditSearch {
  const search: AuditSearch = { dates: [], equals: [], entities: [], count: services.search.defaultCount };
  for (const [name, value] of query) {
    if (name === '_count') search.count = parseCount(value, services.search);
    else if (name === '_cursor') {
      const [recorded, id] = decodeCursor(value, 2) as [string, string];
      if (Number.isNaN(new Date(recorded).getTime())) throw badRequest('Invalid _cursor: use the links of a previous page as given', '_cursor');
      search.after = [recorded, id];
    } else if (name === '_format') continue;
    else if (name === 'date') search.dates.push(...dateBounds(value));
    else if (name === 'entity') {
      const refs = splitValues(value);
      for (const ref of refs) if (!/^[A-Z][A-Za-z]{1,63}\/[A-Za-z0-9\-.]{1,64}$/.test(ref)) throw badRequest(`entity is a reference Type/id, got "${ref}"`, 'entity');
      search.entities.push(...refs);
    } else if (EQUALS[name]) {
      const values = splitValues(value);
      const pattern = ALLOWED[name];
      for (const v of values) if (pattern && !pattern.test(v)) throw badRequest(`Invalid ${name} "${v}"`, name);
      if (values.length > 0) search.equals.push({ column: EQUALS[name], values });
    } else {
      throw badRequest(`Unknown search parameter "${name}" for AuditEvent; supported: ${AUDIT_SEARCH_PARAMS.join(', ')}, _count`, name);
    }
  }
  return search;
}

function requireAdmin(principal: Principal | undefined): void {
  if (!principal) throw unauthorized();
  if (!hasAnyRole(principal, ['admin'])) throw forbidden('Only admin clients read the audit trail');
}

export const auditEventReadRoute: Route = {
  method: 'GET',
  path: 'AuditEvent/:id',
  interaction: 'read',
  async handler({ services, request, params }) {
    requireAdmin(request.principal);
    const id = params.id as string;
    if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) throw badRequest(`Invalid id "${id}": 1 to 64 characters among A-Z a-z 0-9 - .`);
    const row = await auditEventById(services.db, id);
    if (!row) throw notFound(`AuditEvent/${id} not found`);
    return { status: 200, body: renderAuditEvent(row, services.baseUrl) };
  },
};

export const auditEventSearchRoute: Route = {
  method: 'GET',
  path: 'AuditEvent',
  interaction: 'search-type',
  async handler({ services, request }) {
    requireAdmin(request.principal);
    const search = parseAuditSearch(services, request.query);
    const page = await searchAuditEvents(services.db, search);
    const link = (cursor?: string): string => {
      const params = new URLSearchParams([...request.query].filter(([k]) => k !== '_cursor'));
      if (!params.has('_count')) params.set('_count', String(search.count));
      if (cursor) params.set('_cursor', cursor);
      return `${services.baseUrl}/AuditEvent?${params.toString()}`;
    };
    const self = request.query.get('_cursor') ?? undefined;
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      link: [{ relation: 'self', url: link(self) }, ...(page.next ? [{ relation: 'next', url: link(encodeCursor(page.next)) }] : [])],
      ...listOf('entry', page.rows.map((row) => ({ fullUrl: `${services.baseUrl}/AuditEvent/${row.id}`, resource: renderAuditEvent(row, services.baseUrl), search: { mode: 'match' as const } }))),
    };
    return { status: 200, body: bundle };
  },
};

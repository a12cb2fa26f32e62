/**
 * `GET /fhir/AuditEvent` and `GET /fhir/AuditEvent/{id}`: the audit trail,
 * for `admin` only. Searches run newest first, by `date` (with ge/gt/le/lt/eq
 * prefixes), `agent` (the client id), `entity` (Type/id), `entity-type`,
 * `action`, `outcome`, `subtype`, `address` and `request-id`.
 */
import type { Bundle } from '@medplum/fhirtypes';
import { instantRange, sqlInstant } from '../../../mappings/fhir-date.js';
import { badRequest, forbidden, notFound, unauthorized } from '../../core/outcomes.js';
import { criterionValues, decodeCursor, encodeCursor, parseCount } from '../../core/search/parse.js';
import type { DeclaredParam } from '../../core/search/model.js';
import { canonical } from '../conformance/canonical.js';
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

const PREFIX = /^(eq|ge|gt|le|lt)(?=\d)/;

/**
 * The bounds of a `date` value, with its prefix: any FHIR date or dateTime
 * at its own precision (a day, a minute, a second), as every date parameter
 * of the gateway reads it; beyond the years PostgreSQL holds, ±infinity.
 */
function dateBounds(raw: string): AuditSearch['dates'] {
  const prefix = PREFIX.exec(raw)?.[1] ?? 'eq';
  const range = instantRange(raw.replace(PREFIX, ''));
  if (!range) throw badRequest(`Invalid date "${raw}": a FHIR date or dateTime (zone from -13:59 to +14:00), with an optional prefix eq, ge, gt, le or lt`, 'date');
  const from = sqlInstant(range.low);
  const to = sqlInstant(range.high);
  switch (prefix) {
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
    criterionValues(name, value); // the limits every search has (control characters, 100 alternatives)
    if (name === '_count') search.count = parseCount(value, services.search);
    else if (name === '_cursor') {
      const [recorded, id] = decodeCursor(value, 2) as [string, string];
      if (Number.isNaN(new Date(recorded).getTime())) throw badRequest('Invalid _cursor: use the links of a previous page as given', '_cursor');
      search.after = [recorded, id];
    } else if (name === '_format') continue;
    else if (name === 'date') search.dates.push(...dateBounds(value));
    else if (name === 'entity') {
      const refs = criterionValues(name, value);
      for (const ref of refs) if (!/^[A-Z][A-Za-z]{1,63}\/[A-Za-z0-9\-.]{1,64}$/.test(ref)) throw badRequest(`entity is a reference Type/id, got "${ref}"`, 'entity');
      search.entities.push(...refs);
    } else if (EQUALS[name]) {
      const values = criterionValues(name, value);
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

const FHIR_SP = 'http://hl7.org/fhir/SearchParameter/';

/** The audit search's parameters, as the CapabilityStatement declares them. */
const AUDIT_PARAMS: readonly DeclaredParam[] = [
  { code: 'date', type: 'date', definition: `${FHIR_SP}AuditEvent-date`, documentation: 'When recorded: a day or an instant, with eq, ge, gt, le or lt' },
  { code: 'agent', type: 'token', documentation: 'The client id of the caller', expression: 'AuditEvent.agent.who.identifier.value' },
  { code: 'entity', type: 'reference', definition: `${FHIR_SP}AuditEvent-entity`, documentation: 'A resource concerned, Type/id' },
  { code: 'entity-type', type: 'token', definition: canonical('SearchParameter', 'AuditEvent-entity-type'), documentation: 'The resource type concerned (e.g. Patient)', expression: 'AuditEvent.entity.what.reference.substring(0, AuditEvent.entity.what.reference.indexOf(\'/\')) | AuditEvent.entity.name | AuditEvent.entity.description' },
  { code: 'action', type: 'token', definition: `${FHIR_SP}AuditEvent-action`, documentation: 'C, R, U, D or E' },
  { code: 'outcome', type: 'token', definition: `${FHIR_SP}AuditEvent-outcome`, documentation: '0 (success), 4, 8 or 12' },
  { code: 'subtype', type: 'token', definition: `${FHIR_SP}AuditEvent-subtype`, documentation: 'The interaction (read, search-type, create…) or the security event (lockout, client-create…)' },
  { code: 'address', type: 'string', definition: `${FHIR_SP}AuditEvent-address`, documentation: 'The caller’s network address, exactly' },
  { code: 'request-id', type: 'token', documentation: 'The X-Request-Id of the request', expression: "AuditEvent.entity.detail.where(type = 'X-Request-Id').value" },
];

export const auditEventSearchRoute: Route = {
  method: 'GET',
  path: 'AuditEvent',
  interaction: 'search-type',
  searchParams: AUDIT_PARAMS,
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

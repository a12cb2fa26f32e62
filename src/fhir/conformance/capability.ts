/**
 * The CapabilityStatement, written from the route table and the types'
 * declarations: what is served is what is described, no more, no less.
 * Every canonical it names is either FHIR R4's, a national guide's, or one
 * of the gateway's own conformance resources, served at `/fhir/{type}/{id}`.
 */
import { BACKPORT_URLS, TOPICS } from '../../../mappings/topics.js';
import type { CapabilityStatement, CapabilityStatementRestResource, CapabilityStatementRestResourceOperation } from '@medplum/fhirtypes';
import { listOf } from '../../core/json.js';
import type { DeclaredParam } from '../../core/search/model.js';
import type { ResourceKind } from '../../domain/kind.js';
import type { OperationDecl, Route } from '../route.js';
import { CANONICAL_BASE, canonical } from './canonical.js';
import { operationCanonical } from './operation-definitions.js';
import { definitionOf, type ServedParams } from './search-parameters.js';

/** The national guides the gateway speaks, besides its own (whose ImplementationGuide names them as dependencies). */
export const NATIONAL_GUIDES = [
  { uri: 'https://interop.esante.gouv.fr/ig/fhir/ror/ImplementationGuide/ans.fhir.fr.ror', packageId: 'ans.fhir.fr.ror', title: 'Répertoire opérationnel des ressources (ROR)' },
  { uri: 'https://interop.esante.gouv.fr/ig/fhir/sdo/ImplementationGuide/ans.fhir.fr.sdo', packageId: 'ans.fhir.fr.sdo', title: 'Suivi des décisions d’orientation (SDO)' },
] as const;

/** The canonical URL of the gateway's own ImplementationGuide. */
export const OWN_GUIDE = canonical('ImplementationGuide', 'aiguillage');

const TYPE = /^[A-Z][A-Za-z]+$/;
const RESTFUL = ['read', 'vread', 'history-instance', 'history-type', 'create', 'update', 'search-type'];

/** A type the server serves: a stored kind, or one served by routes of its own (AuditEvent, the conformance resources). */
interface Served {
  type: string;
  kind?: ResourceKind;
  routes: Route[];
  params: readonly DeclaredParam[];
}

/** Every type served, in statement order: the stored kinds, then the types of the literal routes. */
export function servedTypes(table: readonly Route[], kinds: readonly ResourceKind[]): Served[] {
  const first = (r: Route): string => r.path.split('/')[0];
  const stored = kinds.map((kind) => ({
    type: kind.type,
    kind,
    routes: [...table.filter((r) => first(r) === ':type' && (!r.appliesTo || r.appliesTo(kind))), ...table.filter((r) => first(r) === kind.type)],
    params: kind.searchParams,
  }));
  const others = new Map<string, Served>();
  for (const r of table) {
    const type = first(r);
    if (!TYPE.test(type) || kinds.some((k) => k.type === type)) continue;
    const served = others.get(type) ?? { type, routes: [], params: [] };
    served.routes.push(r);
    if (r.searchParams) served.params = r.searchParams;
    others.set(type, served);
  }
  return [...stored, ...others.values()];
}

/** The search parameters of every served type, for the SearchParameters of the gateway's own. */
export function servedParams(table: readonly Route[], kinds: readonly ResourceKind[]): ServedParams[] {
  return servedTypes(table, kinds).map(({ type, params }) => ({ type, params }));
}

function operationEntry(operation: OperationDecl): CapabilityStatementRestResourceOperation {
  return { name: operation.name, definition: operationCanonical(operation), documentation: operation.description };
}

/** A list in prose: "A", "A and B", "A, B and C". */
function prose(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? 'none') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** How to authenticate, what is public, what may be subscribed to: from the types' declarations. */
function securityDescription(kinds: readonly ResourceKind[]): string {
  const open = kinds.filter((k) => k.access.read === 'public').map((k) => k.type);
  const subscribable = kinds.filter((k) => k.subscribable).map((k) => k.type);
  return (
    [
      'SMART Backend Services: OAuth2 client_credentials at /oauth2/token, with a client secret or a private_key_jwt assertion; system scopes (v2 and v1) narrow what the client’s roles allow (see .well-known/smart-configuration)',
      ...(open.length > 0 ? [`${prose(open)} ${open.length > 1 ? 'are' : 'is'} public to read`] : []),
      `Subscriptions (R4 Subscriptions Backport IG): rest-hook, topic-based (${TOPICS.map((t) => t.url).join(', ')}) or plain R4 criteria, on ${prose(subscribable)}; payload empty, id-only or full-resource; heartbeat; $status and $events (catch-up)`,
    ].join('; ') + '.'
  );
}

/** What every stored type is searched with beyond its own parameters (FHIR R4 defines them in the search page, with no SearchParameter). */
const STORED_SPECIAL = [
  { name: '_has', type: 'special' as const, documentation: 'Reverse chaining, one level: _has:Type:reference:parameter=value (the caller must be able to read Type)' },
  { name: '_filter', type: 'special' as const, documentation: 'A filter expression over the type’s own parameters: eq, ne, gt, ge, lt, le, sw, co; and, or, not, parentheses' },
];

/** The result parameters of every search of a stored type (rest.searchParam: they apply to all of them). */
const RESULT_PARAMETERS = [
  { name: '_count', type: 'number' as const, documentation: 'Page size (bounded by the server)' },
  { name: '_sort', type: 'special' as const, documentation: 'Sort keys among the parameters that allow it, - for descending' },
  { name: '_include', type: 'special' as const, documentation: 'Type:param of searchInclude; :iterate to follow what was included' },
  { name: '_revinclude', type: 'special' as const, documentation: 'Type:param of searchRevInclude; :iterate to follow what was included' },
  { name: '_elements', type: 'special' as const, documentation: 'Top-level elements to return (the result is tagged SUBSETTED)' },
  { name: '_summary', type: 'token' as const, documentation: 'true, text, data, count or false (the result is tagged SUBSETTED)' },
  { name: '_total', type: 'token' as const, documentation: 'none, estimate or accurate' },
];

/**
 * The `_include`s a search of a kind takes: its own, then (with `:iterate`)
 * those of the types its includes and revincludes bring, as the ROR server
 * declares `Organization:partof` on HealthcareService.
 */
function includesFrom(kind: ResourceKind, kinds: readonly ResourceKind[]): string[] {
  const own = kind.includes.map((i) => `${kind.type}:${i.param}`);
  const reached = new Set<string>([...kind.includes.map((i) => i.target as string), ...(kind.revIncludes ?? []).map((r) => r.split(':')[0])]);
  reached.delete(kind.type);
  const iterated = kinds.filter((k) => reached.has(k.type)).flatMap((k) => k.includes.map((i) => `${k.type}:${i.param}`));
  return [...new Set([...own, ...iterated])];
}

function resourceEntry(served: Served, kinds: readonly ResourceKind[]): CapabilityStatementRestResource {
  const { type, kind, routes } = served;
  const interactions = [...new Set(routes.map((r) => r.interaction).filter((i) => RESTFUL.includes(i)))];
  const operations = routes.flatMap((r) => (r.operation && r.operation.level !== 'system' ? [r.operation] : []));
  const searchParam = served.params.map((p) => ({ name: p.code, type: p.type, definition: definitionOf(type, p), documentation: p.documentation }));
  return {
    // The Backport IG's topics, on Subscription.
    ...(type === 'Subscription' ? { extension: TOPICS.map((t) => ({ url: BACKPORT_URLS.topicCanonical, valueCanonical: t.url })) } : {}),
    type: type as CapabilityStatementRestResource['type'],
    ...listOf('supportedProfile', kind ? [...new Set([...kind.profiles, ...(kind.supportedProfiles ?? [])])] : []),
    documentation: kind
      ? kind.access.read === 'public'
        ? 'Public read and search; writes need a token.'
        : 'Read and write need a token; each organization sees its own records.'
      : type === 'AuditEvent'
        ? 'The audit trail, for admin clients: read and search, newest first.'
        : 'The gateway’s conformance resources: public read and search by url, name, version.',
    interaction: interactions.map((code) => ({ code: code as 'read' })),
    versioning: kind ? 'versioned-update' : 'no-version',
    readHistory: !!kind,
    updateCreate: kind?.clientIds ?? false,
    conditionalCreate: !!kind,
    conditionalUpdate: false,
    conditionalDelete: 'not-supported',
    ...listOf('searchInclude', kind ? includesFrom(kind, kinds) : []),
    ...listOf('searchRevInclude', kind?.revIncludes),
    ...listOf('searchParam', kind ? [...searchParam, ...STORED_SPECIAL] : searchParam),
    ...(operations.length > 0 ? { operation: operations.map(operationEntry) } : {}),
  };
}

/** Builds the statement for a gateway at `baseUrl` (the `/fhir` URL). */
export function capabilityStatement(table: readonly Route[], kinds: readonly ResourceKind[], baseUrl: string, version: string, date: string): CapabilityStatement {
  const systemOperations = table.flatMap((r) => (r.operation?.level === 'system' ? [r.operation] : []));
  return {
    resourceType: 'CapabilityStatement',
    url: `${CANONICAL_BASE}/CapabilityStatement/aiguillage`,
    version,
    name: 'Aiguillage',
    title: 'aiguillage FHIR gateway',
    status: 'active',
    date,
    publisher: 'aiguillage',
    kind: 'instance',
    software: { name: 'aiguillage', version },
    implementation: { description: 'aiguillage: care and medico-social orientation gateway', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'application/json'],
    implementationGuide: [OWN_GUIDE, ...NATIONAL_GUIDES.map((g) => g.uri)],
    rest: [
      {
        mode: 'server',
        documentation:
          'Search is strict: unknown parameters answer 400 unless "Prefer: handling=lenient". Paging uses the Bundle links (keyset cursor). Writes honour "Prefer: return=minimal | representation | OperationOutcome"; Bundles "Prefer: respond-async".',
        security: {
          // SMART discovery in the statement itself, for clients that look here (fhir-kit-client does).
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [{ url: 'token', valueUri: `${baseUrl.replace(/\/fhir$/, '')}/oauth2/token` }],
            },
          ],
          cors: false,
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
          description: securityDescription(kinds),
        },
        resource: servedTypes(table, kinds).map((served) => resourceEntry(served, kinds)),
        searchParam: RESULT_PARAMETERS,
        ...(table.some((r) => r.interaction === 'batch') ? { interaction: [{ code: 'batch' as const }, { code: 'transaction' as const }] } : {}),
        ...(systemOperations.length > 0 ? { operation: systemOperations.map(operationEntry) } : {}),
      },
    ],
  };
}

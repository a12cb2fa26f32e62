/**
 * The CapabilityStatement and the OperationDefinitions, written from the
 * route table and the types' declarations: what is served is what is
 * described, no more, no less.
 */
import type { CapabilityStatement, CapabilityStatementRestResource, CapabilityStatementRestResourceOperation, OperationDefinition } from '@medplum/fhirtypes';
import type { ResourceKind } from '../domain/kind.js';
import type { OperationDecl, Route } from './route.js';
import type { ProfileInfo } from './validation.js';

/** Canonical base of the gateway's own artefacts. */
export const CANONICAL_BASE = 'https://aiguillage.org/fhir';

/** The canonical URL of an operation's definition. */
export function operationCanonical(operation: OperationDecl): string {
  return operation.id === 'Resource-validate' ? 'http://hl7.org/fhir/OperationDefinition/Resource-validate' : `${CANONICAL_BASE}/OperationDefinition/${operation.id}`;
}

/** The routes that serve a type: the `:type` ones that apply to it, then its own (`Task/...`). */
function routesOf(table: readonly Route[], kind: ResourceKind): Route[] {
  const first = (r: Route): string => r.path.split('/')[0];
  return [...table.filter((r) => first(r) === ':type' && (!r.appliesTo || r.appliesTo(kind))), ...table.filter((r) => first(r) === kind.type)];
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
  return [
    'OAuth2 client_credentials at /oauth2/token (see /.well-known/smart-configuration)',
    ...(open.length > 0 ? [`${prose(open)} ${open.length > 1 ? 'are' : 'is'} public to read`] : []),
    `Subscriptions: rest-hook, id-only, on ${prose(subscribable)}`,
  ].join('; ') + '.';
}

/** Builds the statement for a gateway at `baseUrl` (the `/fhir` URL). */
export function capabilityStatement(table: readonly Route[], kinds: readonly ResourceKind[], baseUrl: string, profiles: readonly ProfileInfo[], version: string, date: string): CapabilityStatement {
  const resources: CapabilityStatementRestResource[] = kinds.map((kind) => {
    const routes = routesOf(table, kind);
    const interactions = [...new Set(routes.map((r) => r.interaction).filter((i) => ['read', 'vread', 'history-instance', 'history-type', 'create', 'update', 'search-type'].includes(i)))];
    const operations = routes.flatMap((r) => (r.operation ? [r.operation] : []));
    return {
      type: kind.type,
      ...(kind.profiles.length > 0 ? { supportedProfile: [...kind.profiles] } : {}),
      documentation: kind.access.read === 'public' ? 'Public read and search; writes need a token.' : 'Read and write need a token; each organization sees its own records.',
      interaction: interactions.map((code) => ({ code: code as 'read' })),
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: kind.clientIds,
      conditionalCreate: true,
      conditionalUpdate: false,
      conditionalDelete: 'not-supported',
      ...(kind.includes.length > 0 ? { searchInclude: kind.includes.map((i) => `${kind.type}:${i.param}`) } : {}),
      searchParam: kind.searchParams.map((p) => ({
        name: p.code,
        type: p.type,
        ...(p.definition ? { definition: p.definition } : {}),
        documentation: p.documentation,
      })),
      ...(operations.length > 0 ? { operation: operations.map(operationEntry) } : {}),
    };
  });
  const systemOperations = table.flatMap((r) => (r.operation?.level === 'system' ? [r.operation] : []));
  return {
    resourceType: 'CapabilityStatement',
    url: `${CANONICAL_BASE}/CapabilityStatement/aiguillage`,
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
    rest: [
      {
        mode: 'server',
        documentation: `Gateway profiles: ${profiles.map((p) => p.url).join(', ') || 'none'}. Search is strict: unknown parameters answer 400 unless "Prefer: handling=lenient". Paging uses the Bundle links (keyset cursor).`,
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
        resource: resources,
        ...(table.some((r) => r.interaction === 'batch') ? { interaction: [{ code: 'batch' as const }, { code: 'transaction' as const }] } : {}),
        ...(systemOperations.length > 0 ? { operation: systemOperations.map(operationEntry) } : {}),
      },
    ],
  };
}

/** Every operation the table serves, once (an operation served on several types has one definition). */
export function operationsOf(table: readonly Route[]): OperationDecl[] {
  const byId = new Map<string, OperationDecl>();
  for (const r of table) if (r.operation && !byId.has(r.operation.id)) byId.set(r.operation.id, r.operation);
  return [...byId.values()];
}

/** The OperationDefinition of an operation the gateway serves, as its route declares it. */
export function operationDefinition(operation: OperationDecl, kinds: readonly ResourceKind[], version: string): OperationDefinition {
  const resource = operation.resource ?? (operation.level === 'system' ? [] : kinds.map((k) => k.type));
  return {
    resourceType: 'OperationDefinition',
    id: operation.id,
    url: operationCanonical(operation),
    version,
    name: operation.id.replace(/[^A-Za-z0-9]/g, ''),
    title: operation.title,
    status: 'active',
    kind: 'operation',
    description: operation.description,
    affectsState: operation.affectsState,
    code: operation.name,
    ...(resource.length > 0 ? { resource: resource as OperationDefinition['resource'] } : {}),
    system: operation.level === 'system',
    type: operation.level === 'type',
    instance: operation.level === 'instance',
    parameter: operation.parameters,
  };
}

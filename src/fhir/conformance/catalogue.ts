/**
 * Every conformance resource the gateway publishes, by type: its
 * ImplementationGuide, the OperationDefinitions of its operations, the
 * SearchParameters of its own parameters, its CodeSystems and ValueSets, and
 * the StructureDefinitions it enforces or writes. Built once per route table
 * and version; served read-only at `/fhir/{type}/{id}` and searched by url.
 */
import type { ImplementationGuide, Resource } from '@medplum/fhirtypes';
import type { ResourceKind } from '../../domain/kind.js';
import type { Route } from '../route.js';
import { CANONICAL_BASE } from './canonical.js';
import { NATIONAL_GUIDES, OWN_GUIDE, servedParams } from './capability.js';
import { codeSystems, valueSets } from './code-systems.js';
import { operationDefinition, operationsOf } from './operation-definitions.js';
import { ownSearchParameters } from './search-parameters.js';
import { conformanceFiles, extensionDefinitions } from './structure-definitions.js';

/** The types of the conformance resources served. */
export const CONFORMANCE_TYPES = ['ImplementationGuide', 'OperationDefinition', 'SearchParameter', 'StructureDefinition', 'CodeSystem', 'ValueSet'] as const;

/** The conformance resources, by type. */
export type Catalogue = ReadonlyMap<string, readonly Resource[]>;

const built = new WeakMap<readonly Route[], Map<string, Catalogue>>();

function guide(resources: readonly Resource[], version: string): ImplementationGuide {
  return {
    resourceType: 'ImplementationGuide',
    id: 'aiguillage',
    url: OWN_GUIDE,
    version,
    name: 'Aiguillage',
    title: 'aiguillage: the gateway’s own artefacts',
    status: 'active',
    publisher: 'aiguillage',
    description: 'The profiles, extensions, search parameters, operations and code systems of the aiguillage gateway, on top of the national guides it speaks.',
    packageId: 'org.aiguillage.fhir',
    fhirVersion: ['4.0.1'],
    dependsOn: NATIONAL_GUIDES.map((g) => ({ uri: g.uri, packageId: g.packageId })),
    definition: {
      // Its own artefacts; the guides' copies served beside them belong to their guides.
      resource: resources.filter((r) => (r as { url?: string }).url?.startsWith(`${CANONICAL_BASE}/`)).map((r) => ({ reference: { reference: `${r.resourceType}/${r.id}` }, ...('title' in r && typeof r.title === 'string' ? { name: r.title } : {}) })),
    },
  };
}

/** The catalogue of a route table, for a version of the gateway. */
export function catalogue(table: readonly Route[], kinds: readonly ResourceKind[], version: string): Catalogue {
  const byVersion = built.get(table) ?? new Map<string, Catalogue>();
  built.set(table, byVersion);
  const cached = byVersion.get(version);
  if (cached) return cached;
  const resources: Resource[] = [
    ...operationsOf(table).map((o) => operationDefinition(o, kinds, version)),
    ...ownSearchParameters(servedParams(table, kinds), version),
    ...extensionDefinitions(version),
    ...conformanceFiles(),
    ...codeSystems(version),
    ...valueSets(version),
  ];
  const all = [guide(resources, version), ...resources];
  const byType = new Map<string, Resource[]>(CONFORMANCE_TYPES.map((t) => [t, []]));
  for (const r of all) {
    const list = byType.get(r.resourceType);
    if (!list) throw new Error(`conformance/ holds a ${r.resourceType}, which is not served`);
    if (list.some((other) => other.id === r.id)) throw new Error(`Two conformance resources ${r.resourceType}/${r.id}`);
    list.push(r);
  }
  byVersion.set(version, byType);
  return byType;
}

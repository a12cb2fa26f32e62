/** The CapabilityStatement, built from the kinds' definitions so it says exactly what is supported. */
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { allKinds } from '../domain/kinds.js';
import type { ProfileInfo } from './validation.js';

/** Canonical base of the gateway's own artefacts. */
export const CANONICAL_BASE = 'https://aiguillage.org/fhir';

/** Builds the statement for a gateway at `baseUrl` (the `/fhir` URL). */
export function capabilityStatement(baseUrl: string, profiles: readonly ProfileInfo[], version: string, date: string): CapabilityStatement {
  const resources: CapabilityStatementRestResource[] = allKinds().map((kind) => ({
    type: kind.type,
    supportedProfile: [...kind.profiles],
    documentation: kind.access.read === 'public' ? 'Public read and search; writes need a token.' : 'Read and write need a token; each organization sees its own records.',
    interaction: [
      { code: 'read' },
      { code: 'vread' },
      { code: 'history-instance' },
      { code: 'history-type' },
      { code: 'create' },
      { code: 'update' },
      { code: 'search-type' },
    ],
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: kind.clientIds,
    conditionalCreate: true,
    conditionalUpdate: false,
    conditionalDelete: 'not-supported',
    searchInclude: kind.includes.map((i) => `${kind.type}:${i.param}`),
    searchParam: kind.searchParams.map((p) => ({
      name: p.code,
      type: p.type,
      ...(p.definition ? { definition: p.definition } : {}),
      documentation: p.documentation,
    })),
    operation: [
      { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
      ...(kind.operations ?? []).map((o) => ({ name: o.name, definition: `${CANONICAL_BASE}/OperationDefinition/${kind.type}-${o.name}`, documentation: o.documentation })),
    ],
  }));
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
    patchFormat: [],
    implementationGuide: [],
    rest: [
      {
        mode: 'server',
        documentation: `Gateway profiles: ${profiles.map((p) => p.url).join(', ') || 'none'}. Search is strict: unknown parameters answer 400 unless "Prefer: handling=lenient". Paging uses the Bundle links (keyset cursor).`,
        security: {
          cors: false,
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
          description: 'OAuth2 client_credentials at /oauth2/token (see /.well-known/smart-configuration); Organization, HealthcareService and Location are public to read. Subscriptions: rest-hook, id-only, on Task and Communication.',
        },
        resource: resources,
        interaction: [{ code: 'batch' }, { code: 'transaction' }],
      },
    ],
  };
}

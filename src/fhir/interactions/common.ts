/** What several interactions share: version headers, write answers, body checks, conditional criteria, the Prefer header. */
import type { Resource } from '@medplum/fhirtypes';
import { badRequest, issue, outcome } from '../../core/outcomes.js';
import type { SearchQuery } from '../../core/search/model.js';
import { parseSearch } from '../../core/search/parse.js';
import type { ResourceKind, WriteResult } from '../../domain/kind.js';
import type { FhirResponse, FhirServices } from '../types.js';

/** The `Prefer` header's `handling=lenient`. */
export function isLenient(prefer: string | undefined): boolean {
  return /handling\s*=\s*lenient/i.test(prefer ?? '');
}

/** What a client asks a write to answer with (`Prefer: return=…`, RFC 7240 and FHIR R4 §3.1.0.6): absent, the resource. */
export type ReturnPreference = 'minimal' | 'representation' | 'OperationOutcome';

/** The `Prefer` header's `return=` preference, if it names one FHIR defines. */
export function returnPreference(prefer: string | undefined): ReturnPreference | undefined {
  const m = /(?:^|[;,\s])return\s*=\s*"?(minimal|representation|OperationOutcome)"?\s*(?:[;,]|$)/i.exec(prefer ?? '');
  if (!m) return undefined;
  const value = m[1].toLowerCase();
  return value === 'minimal' ? 'minimal' : value === 'representation' ? 'representation' : 'OperationOutcome';
}

/**
 * A successful create or update answered as the client prefers: no body
 * (`minimal`), an OperationOutcome saying what was done (`OperationOutcome`),
 * or the resource. The headers (Location, ETag, Last-Modified) stay: they are
 * all a `minimal` client reads.
 */
export function preferredAnswer(response: FhirResponse, prefer: string | undefined): FhirResponse {
  const wanted = returnPreference(prefer);
  if (!wanted || wanted === 'representation' || response.status >= 300) return response;
  if (wanted === 'minimal') return { ...response, body: undefined };
  const resource = response.body;
  if (!resource || resource.resourceType === 'OperationOutcome') return response;
  const what = `${resource.resourceType}/${resource.id} version ${resource.meta?.versionId ?? '?'}`;
  return { ...response, body: outcome(issue('informational', `${response.status === 201 ? 'Created' : 'Updated'} ${what}`, undefined, 'information')) };
}

/** Reads an ETag or If-Match value `W/"3"` (or `3`) as a version number. */
export function parseVersionTag(value: string): number {
  const m = /^(?:W\/)?"?(\d{1,9})"?$/.exec(value.trim());
  if (!m) throw badRequest(`If-Match must be a version ETag such as W/"3", got ${JSON.stringify(value)}`, 'If-Match');
  return Number(m[1]);
}

/** Headers of a stored version: ETag, Last-Modified and Location. */
export function versionHeaders(services: FhirServices, resource: Resource): Record<string, string> {
  const version = resource.meta?.versionId ?? '';
  return {
    ETag: `W/"${version}"`,
    'Last-Modified': new Date(resource.meta?.lastUpdated ?? Date.now()).toUTCString(),
    Location: `${services.baseUrl}/${resource.resourceType}/${resource.id}/_history/${version}`,
  };
}

/** The answer to a write: 201/200 with the resource, or 200 with an OperationOutcome when a stale push was ignored. */
export function writeResponse(services: FhirServices, result: WriteResult): FhirResponse {
  const headers = versionHeaders(services, result.resource);
  if (result.skipped === 'stale') {
    const stored = `${result.resource.resourceType}/${result.resource.id}`;
    return {
      status: 200,
      headers,
      body: outcome(
        issue('conflict', `Update ignored: ${stored} already holds a version at least as recent (version ${result.resource.meta?.versionId}); nothing was changed`, undefined, 'warning')
      ),
    };
  }
  return { status: result.created ? 201 : 200, body: result.resource, headers };
}

/** Checks a request body as a resource of the kind's type and against its profiles. */
export function validateBody(services: FhirServices, body: unknown, kind: ResourceKind, path?: string): Resource {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The body must be a JSON resource', path);
  const bodyType = (body as { resourceType?: unknown }).resourceType;
  if (bodyType !== kind.type) throw badRequest(`The body is a ${String(bodyType)}, the URL says ${kind.type}`, path ? `${path}.resourceType` : 'resourceType');
  services.validator.validate(body, kind.profiles, path);
  return body;
}

/** Parses the If-None-Exist criteria of a conditional create. */
export function conditionalQuery(services: FhirServices, kind: ResourceKind, criteria: string): { query: SearchQuery; key: string } {
  const params = new URLSearchParams(criteria.replace(/^\?/, '').replace(new RegExp(`^${kind.type}\\?`), ''));
  const parsed = parseSearch(kind, params, services.search);
  if (parsed.query.criteria.length === 0) throw badRequest('If-None-Exist needs at least one search criterion', 'If-None-Exist');
  const key = parsed.canonical.map(([k, v]) => `${k}=${v}`).sort().join('&');
  return { query: parsed.query, key };
}

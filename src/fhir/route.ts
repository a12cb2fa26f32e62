/**
 * A route of the FHIR API: one interaction or operation, as one entry of the
 * route table (routes.ts): its method and path pattern, what it is (the
 * FHIR interaction code, or the operation it declares), who may call it
 * without a token, and its handler. The dispatcher routes with the table,
 * and the CapabilityStatement and OperationDefinitions are written from it.
 */
import type { OperationDefinitionParameter } from '@medplum/fhirtypes';
import type { DeclaredParam } from '../core/search/model.js';
import type { CallContext, ResourceKind } from '../domain/kind.js';
import type { FhirRequest, FhirResponse, FhirServices } from './types.js';

/** The FHIR RESTful interactions the gateway serves, and its own status endpoints. */
export type Interaction =
  | 'read'
  | 'vread'
  | 'history-instance'
  | 'history-type'
  | 'search-type'
  | 'create'
  | 'update'
  | 'batch'
  | 'capabilities'
  | 'operation'
  | 'status';

/** An operation a route serves, as its OperationDefinition says. */
export interface OperationDecl {
  /** The name, without `$`. */
  name: string;
  /** The OperationDefinition's id (`Task-remind`, `indicators`…). */
  id: string;
  /** Where it is called: on the base (system), on a type, on an instance. */
  level: 'system' | 'type' | 'instance';
  /** The types it is called on (type and instance levels). */
  resource?: string[];
  title: string;
  description: string;
  /** Whether it changes anything (false: it may be called with GET). */
  affectsState: boolean;
  parameters: OperationDefinitionParameter[];
}

/** A route's path parameters. */
export interface Params {
  type?: string;
  id?: string;
  vid?: string;
}

/** What a handler gets: the request, its path parameters, the type's declaration, and the call context of the domain. */
export interface RouteContext {
  services: FhirServices;
  request: FhirRequest;
  params: Params;
  /** The declaration of `params.type`, when the path names a stored type. */
  kind?: ResourceKind;
  ctx: CallContext;
  /** The route table itself (what the server says of itself is written from it). */
  table: readonly Route[];
}

/** One entry of the route table. */
export interface Route {
  method: 'GET' | 'POST' | 'PUT';
  /**
   * Segments below `/fhir`, `/`-separated: literals, `:type` (a stored
   * type), `:id` (a logical id), `:vid` (a version number). `''` is the base.
   */
  path: string;
  interaction: Interaction;
  /** The parameters a `search-type` route of a type that is not stored takes (the stored types declare theirs). */
  searchParams?: readonly DeclaredParam[];
  /** The operation the route serves (`interaction: 'operation'`). */
  operation?: OperationDecl;
  /** For `:type` routes: the types it serves (all by default). */
  appliesTo?: (kind: ResourceKind) => boolean;
  /** Whether a caller without a token is served (otherwise 401 before anything else). */
  isPublic?: (kind: ResourceKind | undefined) => boolean;
  /**
   * The handler's writes and the interaction's audit record are one unit of
   * work, in one transaction (an operation that writes several resources).
   */
  unit?: boolean;
  /** The body is read by the handler as it comes (an uploaded file), not parsed as JSON. */
  rawBody?: boolean;
  /** How its audit record names it, when not as its interaction and type do (an upload of decisions creates ServiceRequests: `C`). */
  auditedAs?: { action: 'C' | 'R' | 'U' | 'E'; type: string };
  handler(rc: RouteContext): Promise<FhirResponse>;
}

const TYPE = /^[A-Z][A-Za-z]{1,63}$/;

/** Whether a path segment can stand for a logical id in a route (ids are checked by the dispatcher). */
function isIdSegment(segment: string): boolean {
  return segment !== '' && !segment.startsWith('_') && !segment.startsWith('$');
}

function matchSegments(pattern: string[], segments: string[]): Params | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Params = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    const s = segments[i];
    if (p === ':type') {
      if (!TYPE.test(s)) return undefined;
      params.type = s;
    } else if (p === ':id') {
      if (!isIdSegment(s)) return undefined;
      params.id = s;
    } else if (p === ':vid') {
      params.vid = s;
    } else if (p !== s) {
      return undefined;
    }
  }
  return params;
}

/** What a path and method match in a table: a route with its parameters, or only the methods the path has. */
export type Match = { route: Route; params: Params } | { allowed: string[]; params: Params } | undefined;

/** Each route's path split in segments, once. */
const PATTERNS = new WeakMap<Route, string[]>();

function patternOf(route: Route): string[] {
  let pattern = PATTERNS.get(route);
  if (!pattern) PATTERNS.set(route, (pattern = route.path.split('/').filter((s) => s !== '')));
  return pattern;
}

/** Finds the route of a request in `table` (the first that matches). */
export function matchRoute(table: readonly Route[], kindOf: (type: string) => ResourceKind | undefined, method: string, path: string): Match {
  const segments = path.split('/').filter((s) => s !== '');
  const allowed = new Set<string>();
  let pathParams: Params | undefined;
  for (const route of table) {
    const params = matchSegments(patternOf(route), segments);
    if (!params) continue;
    // A `:type` route serves the stored types it applies to (an unknown type is the dispatcher's 404).
    const kind = params.type ? kindOf(params.type) : undefined;
    if (params.type && (!kind || (route.appliesTo && !route.appliesTo(kind)))) continue;
    pathParams ??= params;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { route, params };
    allowed.add(route.method);
  }
  return allowed.size > 0 ? { allowed: [...allowed], params: pathParams ?? {} } : undefined;
}

/**
 * The FHIR dispatcher: a plain request in, a status and a resource out. It
 * finds the request's route in the table, answers 401 before anything else
 * when the route needs a token, runs the handler (in a unit of work of its
 * own for the routes that ask for one), records the interaction's audit
 * (the read path's one place, interaction-audit.ts), stores the records of
 * reads and refusals (group commit) before answering, and tells Redis of
 * the jobs its writes recorded once they are committed. It knows no HTTP.
 */
import { badRequest, forbidden, notAllowed, notFound, unauthorized } from '../core/outcomes.js';
import { scopeAllows, type Principal } from '../core/principal.js';
import type { Permission } from '../core/scopes.js';
import { auditTrail, dropAuditSince, markAudited } from '../domain/audit/trail.js';
import type { DomainEvent } from '../domain/kind.js';
import { kindOf } from '../domain/registry.js';
import { roleScopes } from '../domain/scopes.js';
import { flushEvents } from '../domain/repository.js';
import type { ScheduledJob } from '../jobs/schedule.js';
import { contextOf } from './context.js';
import { recordInteraction, recordRefusal } from './interaction-audit.js';
import { matchRoute, type Match, type Params, type Route, type RouteContext } from './route.js';
import { preferredAnswer } from './interactions/common.js';
import { ROUTES } from './routes.js';
import { pushScheduled, type FhirRequest, type FhirResponse, type FhirServices } from './types.js';

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const TYPE = /^[A-Z][A-Za-z]{1,63}$/;
/** The methods some route serves: any other is 405 to anyone. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT']);

/**
 * The matches of the latest requests: a request's route is asked for by the
 * authentication, the body limit and the metrics before the dispatcher, four
 * lookups for one. Matches are frozen: they are shared.
 */
const RECENT = new Map<string, Match>();
const RECENT_MAX = 512;

function find(method: string, path: string): Match {
  const upper = method.toUpperCase();
  const key = `${upper} ${path}`;
  let match = RECENT.get(key);
  if (match === undefined && !RECENT.has(key)) {
    match = matchRoute(ROUTES, kindOf, upper, path);
    if (match) Object.freeze(match.params);
    if (RECENT.size >= RECENT_MAX) RECENT.clear();
    RECENT.set(key, match);
  }
  return match;
}

/** Whether a match may be answered without a token: a public route, or a method the path does not serve (405 to anyone). */
function publicMatch(method: string, match: Match): boolean {
  if (!METHODS.has(method.toUpperCase())) return true;
  if (!match) return false;
  if ('allowed' in match) return true;
  return match.route.isPublic?.(match.params.type ? kindOf(match.params.type) : undefined) ?? false;
}

/**
 * Whether a request may be answered without a token: the CapabilityStatement
 * and the OperationDefinitions; reads, histories and searches of the types
 * everyone may read (the directory); a Bundle, whose entries are each
 * answered as alone; and methods a path does not serve (405 to anyone).
 */
export function isPublic(method: string, path: string): boolean {
  return publicMatch(method, find(method, path));
}

/** The pattern of the route a request matches (`/:type/:id`, `/$indicators`…), or undefined: a label of bounded cardinality for the metrics. */
export function routePattern(method: string, path: string): string | undefined {
  const match = find(method, path);
  return match && 'route' in match ? `/${match.route.path}`.replace(/\/$/, '') : undefined;
}

/** Whether a request's route reads its body as it comes (an upload), not as JSON. */
export function takesRawBody(method: string, path: string): boolean {
  const match = find(method, path);
  return !!match && 'route' in match && match.route.rawBody === true;
}

/** The 404 of a path no route serves, saying why. */
function noRoute(path: string): Error {
  const segments = path.split('/').filter((s) => s !== '');
  const [type, second, third] = segments;
  if (!type || !TYPE.test(type)) return notFound(`Unknown path /${segments.join('/')}`);
  if (!kindOf(type)) return notFound(`Resource type ${type} is not supported by this server`);
  if (second?.startsWith('$')) return notFound(`Operation ${second} is not supported on ${type}`);
  if (third?.startsWith('$')) return notFound(`Operation ${third} is not supported on ${type}/{id}`);
  return notFound(`Unknown path /${segments.join('/')}`);
}

/** The SMART permission a route needs on its type (none: the base, status endpoints, a Bundle whose entries are checked one by one). */
function permissionOf(route: Route, params: Params): { type: string; permissions: Permission[] } | undefined {
  const literal = /^[A-Z][A-Za-z]+$/.exec(route.path.split('/')[0])?.[0];
  const type = params.type ?? literal ?? route.auditedAs?.type ?? route.operation?.resource?.[0];
  if (!type) return undefined;
  switch (route.interaction) {
    case 'read':
    case 'vread':
    case 'history-instance':
    case 'history-type':
      return { type, permissions: ['r'] };
    case 'search-type':
      return { type, permissions: ['s'] };
    case 'create':
      return { type, permissions: ['c'] };
    case 'update':
      return { type, permissions: ['u'] };
    case 'operation':
      // SMART scopes name types, not operations: an operation needs some scope on its type; its own rules say which roles call it.
      return { type, permissions: ['c', 'r', 'u', 'd', 's'] };
    default:
      return undefined;
  }
}

/** 403 when the token's scopes do not grant what the route does (its roles are checked by the domain). */
function checkScope(principal: Principal | undefined, route: Route, params: Params): void {
  // A public route serves anyone, token or not: its scopes cannot narrow it.
  if (route.isPublic?.(params.type ? kindOf(params.type) : undefined)) return;
  const needed = permissionOf(route, params);
  // What the roles themselves forbid is refused by the domain, which says which roles may: the scopes only narrow.
  const rolesAllow = (): boolean => !!principal && !!needed && needed.permissions.some((p) => roleScopes(principal.roles).get(needed.type)?.has(p));
  if (needed && !scopeAllows(principal, needed.type, needed.permissions) && rolesAllow()) {
    throw forbidden(`The token's scopes do not grant this on ${needed.type} (it needs system/${needed.type}.${needed.permissions.length === 1 ? needed.permissions[0] : 'x, for any of ' + needed.permissions.join('')})`);
  }
}

async function run(route: Route, rc: RouteContext): Promise<FhirResponse> {
  const response = await route.handler(rc);
  recordInteraction(rc.request.audit, route, rc.params, response);
  return response;
}

/**
 * Handles one FHIR interaction. Within a Bundle (`request.scheduled` given)
 * it runs in the Bundle's unit of work, which stores its records and tells
 * Redis of its jobs; alone, it does both itself.
 */
export async function handleFhir(services: FhirServices, request: FhirRequest): Promise<FhirResponse> {
  const method = request.method.toUpperCase();
  const match = find(method, request.path);
  // Who asks is settled before what is asked.
  if (!request.principal && !publicMatch(method, match)) throw unauthorized();
  if (!match) throw noRoute(request.path);
  if ('allowed' in match) throw notAllowed(`${method} is not supported on /${request.path}; it is served with ${match.allowed.join(', ')}`);
  const { route, params } = match;
  if (params.id !== undefined && !ID.test(params.id)) throw badRequest(`Invalid id "${params.id}": 1 to 64 characters among A-Z a-z 0-9 - .`);
  const kind = params.type ? kindOf(params.type) : undefined;
  checkScope(request.principal, route, params);
  const context = (r: FhirRequest): RouteContext => ({ services, request: r, params, kind, ctx: contextOf(services, r), table: ROUTES });

  if (request.scheduled) return run(route, context(request));

  const scheduled: ScheduledJob[] = [];
  const trail = request.audit ?? auditTrail({ principal: request.principal });
  const full: FhirRequest = { ...request, scheduled, memo: request.memo ?? new Map(), audit: trail };
  let response: FhirResponse;
  try {
    response = route.unit
      ? await services.db.transaction(async (tx) => {
          // The handler's writes and the interaction's record commit together.
          const events: DomainEvent[] = [];
          const unit: FhirRequest = { ...full, tx, events };
          const answer = await run(route, context(unit));
          await flushEvents(contextOf(services, unit), tx, events);
          return answer;
        })
      : await run(route, context(full));
  } catch (err) {
    // The writes were rolled back, their records with them: what is stored is the refusal (unless already stored).
    dropAuditSince(trail, 0);
    if (recordRefusal(trail, request, err)) {
      await services.audit.append(trail, services.clock.now()).catch(() => undefined); // the error answered is the request's own
    }
    markAudited(err);
    throw err;
  }
  await pushScheduled(services, scheduled);
  await services.audit.append(trail, services.clock.now());
  return route.interaction === 'create' || route.interaction === 'update' ? preferredAnswer(response, request.prefer) : response;
}

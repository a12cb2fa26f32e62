/**
 * Observes each request's duration in the metrics' histogram, labelled by
 * the *pattern* of the route it matched (`/fhir/:type/:id`, `/healthz`…),
 * never by its raw path, so that the number of series stays bounded.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Histogram } from 'prom-client';
import { routePattern } from '../fhir/dispatch.js';
import { fhirPath } from './fhir-routes.js';

/** The label of requests no route serves. */
const UNMATCHED = 'unmatched';
/** Methods labelled as themselves; any other is `other` (a client chooses the method). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The route pattern of a request: the FHIR route table's below `/fhir`, Hono's elsewhere. */
export function routeLabel(c: Context): string {
  const { pathname } = new URL(c.req.url);
  if (pathname === '/fhir' || pathname.startsWith('/fhir/')) {
    const pattern = routePattern(c.req.method, fhirPath(pathname, false));
    return pattern === undefined ? UNMATCHED : `/fhir${pattern}`;
  }
  // The last route matched that is not middleware (those are registered for every method).
  const route = matchedRoutes(c).findLast((r) => r.method !== 'ALL');
  return route?.path ?? UNMATCHED;
}

/** Times every request into `histogram` (seconds, by method, route pattern and status). */
export function requestMetrics(options: { histogram: Histogram<'method' | 'route' | 'status'> }): MiddlewareHandler {
  return async function requestMetricsMiddleware(c, next) {
    const stop = options.histogram.startTimer();
    try {
      await next();
    } finally {
      stop({ method: METHODS.has(c.req.method) ? c.req.method : 'other', route: routeLabel(c), status: String(c.res.status) });
    }
  };
}

/** The HTTP application: health, OAuth2, and the FHIR API under `/fhir`. */
import { Hono } from 'hono';
import type { TokenService } from '../auth/tokens.js';
import { notFound } from '../core/outcomes.js';
import { isPublic } from '../fhir/dispatch.js';
import type { FhirServices } from '../fhir/types.js';
import type { Logger } from '../logger.js';
import './context.js';
import { auditRefusal } from './audit-trail.js';
import { authRoutes } from './auth-routes.js';
import { onError, sendFhir } from './errors.js';
import { clientRoutes } from './client-routes.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { fhirPath, fhirRoutes } from './fhir-routes.js';
import { bearerAuth, requestLogger, requireAuthentication } from './middleware.js';
import { rateLimit, RateLimiter, type RateLimit } from './rate-limit.js';
import { requestMetrics } from './request-metrics.js';
import type { Histogram } from 'prom-client';
import { readiness } from './readiness.js';
import { isAnswering } from '../store/db.js';

/** What the application is built on. */
export interface AppDeps {
  services: FhirServices;
  tokens: TokenService;
  logger: Logger;
  /** The public base URL (without `/fhir`). */
  baseUrl: string;
  maxBodyBytes: number;
  /** Uploads streamed at once (beyond: 503 with Retry-After). */
  maxConcurrentUploads?: number;
  /** Requests per second per client (rate 0: no limit). */
  rateLimit?: RateLimit;
  /** Counts `rateLimit` (in Redis, shared by every API process); without it, the limit is counted in this process. */
  rateLimiter?: RateLimiter;
  /** The request duration histogram of the metrics. */
  httpDuration?: Histogram<'method' | 'route' | 'status'>;
  /** Whether Redis answers (for `/readyz`); absent when the process runs without queues. */
  redisReady?: () => Promise<boolean>;
}

/** Builds the Hono application. */
export function buildApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.onError(async (err, c) => {
    await auditRefusal(deps.services, c, err);
    return onError(err, c);
  });
  app.notFound((c) => sendFhir(404, notFound(`No route for ${c.req.method} ${c.req.path}`).outcome));
  if (deps.httpDuration) app.use('*', requestMetrics({ histogram: deps.httpDuration }));
  app.use('*', requestLogger({ logger: deps.logger }));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const checks: Record<string, () => Promise<boolean>> = { postgres: () => isAnswering(deps.services.db) };
    if (deps.redisReady) checks.redis = deps.redisReady;
    const body = await readiness(checks);
    return body.status === 'ready' ? c.json(body) : c.json(body, 503, { 'Retry-After': '5' });
  });

  const limiter = deps.rateLimiter ?? (deps.rateLimit && deps.rateLimit.rate > 0 ? new RateLimiter(deps.rateLimit) : undefined);
  app.use('/oauth2/*', rateLimit(limiter));
  app.route('/', authRoutes({ db: deps.services.db, tokens: deps.tokens, baseUrl: deps.baseUrl }));
  // The token is read, the request counted (by client, or by address without a valid token), then a bad or missing token refused.
  for (const path of ['/fhir', '/fhir/*']) {
    app.use(path, bearerAuth({ tokens: deps.tokens }), rateLimit(limiter), requireAuthentication({ isPublic: (method, p) => isPublic(method, fhirPath(p, false)) }));
  }
  const fhir = fhirRoutes(deps.services, { maxBodyBytes: deps.maxBodyBytes, maxConcurrentUploads: deps.maxConcurrentUploads });
  app.route('/fhir', fhir);
  app.use('/dashboard/*', bearerAuth({ tokens: deps.tokens }), rateLimit(limiter), requireAuthentication());
  app.route('/dashboard', dashboardRoutes(deps.services));
  for (const path of ['/admin/clients', '/admin/clients/*']) app.use(path, bearerAuth({ tokens: deps.tokens }), rateLimit(limiter), requireAuthentication());
  app.route('/admin/clients', clientRoutes(deps.services.db));
  return app;
}

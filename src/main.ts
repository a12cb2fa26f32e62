/**
 * Starting and stopping the gateway: `start()` opens the database (applying
 * migrations), the validator, the token keys, the queues, then the HTTP
 * server and/or the workers; `shutdown()` undoes it in reverse order.
 */
import fs from 'node:fs';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import v8 from 'node:v8';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { TokenService } from './auth/tokens.js';
import type { Config } from './config.js';
import { systemClock, type Clock } from './domain/clock.js';
import { AuditLog } from './domain/audit/audit-log.js';
import { allKinds } from './domain/registry.js';
import type { FhirServices } from './fhir/types.js';
import { handleFhir, isPublic } from './fhir/dispatch.js';
import { Validator } from './fhir/validation.js';
import { INDICATORS_QUEUE, ROR_SYNC_QUEUE, scheduleIndicatorsRefresh } from './jobs/catalogue.js';
import { buildApp } from './http/app.js';
import { clientErrorResponse } from './http/errors.js';
import { createLogger, type Logger } from './logger.js';
import { publishLocalAdmin } from './local-admin.js';
import { fromRoot } from './paths.js';
import { Queues, type QueueDefinition } from './queues/registry.js';
import { asyncBundleWorker } from './queues/workers/async-bundle.js';
import { deadlinesWorker } from './queues/workers/deadlines.js';
import { mdphImportWorker } from './queues/workers/mdph-import.js';
import { notifyWorker } from './queues/workers/notify.js';
import { ensurePullPlanned, rorSyncWorker } from './queues/workers/ror-sync.js';
import { indicatorsWorker } from './queues/workers/indicators.js';
import { openDatabase, type Database } from './store/db.js';
import { reindexSearchValues } from './domain/directory/reindex.js';
import { migrate } from './store/migrate.js';
import { publishForms } from './domain/referral/forms.js';
import { RateLimiter } from './http/rate-limit.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { serveMetrics } from './metrics/server.js';

/** The gateway's version, from package.json. */
export const VERSION: string = (JSON.parse(fs.readFileSync(fromRoot('package.json'), 'utf8')) as { version: string }).version;

/** A running gateway. */
export interface Gateway {
  config: Config;
  db: Database;
  queues: Queues;
  app: Hono;
  tokens: TokenService;
  logger: Logger;
  services: FhirServices;
  /** The HTTP server, when the API runs. */
  server?: Server;
  /** The port actually listened on. */
  port?: number;
  /** This process's metrics. */
  metrics: Metrics;
  /** The port `GET /metrics` listens on, when `config.metrics` is set. */
  metricsPort?: number;
  shutdown(): Promise<void>;
}

/** What to run in this process. */
export interface StartOptions {
  api: boolean;
  workers: boolean;
  clock?: Clock;
  logger?: Logger;
  /** Extra queues (tests). */
  queueDefinitions?: QueueDefinition<never>[];
  /** Adds routes before the server starts (benchmarks' reference route). */
  configureApp?: (app: Hono) => void;
}

/** Opens the database and applies pending migrations. */
export async function openStore(config: Config, logger: Logger): Promise<Database> {
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.poolSize, statementTimeoutMs: config.statementTimeoutMs });
  const applied = await migrate(db);
  // Rows stored before a parameter's values were kept (migration 017) get them now: FHIRPath is not evaluated in SQL.
  const reindexed = await reindexSearchValues(db);
  const forms = await publishForms(db);
  logger.info({ database: db.kind === 'embedded' ? `embedded (${config.dataDir})` : 'postgres', applied, reindexed, forms }, 'database ready');
  return db;
}

/** Starts the gateway. */
export async function start(config: Config, options: StartOptions): Promise<Gateway> {
  // The process is the gateway's: its heap grows by a bounded factor (see Config.heapGrowingPercent).
  if (config.heapGrowingPercent > 0) v8.setFlagsFromString(`--heap-growing-percent=${config.heapGrowingPercent}`);
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const db = await openStore(config, logger);
  const validator = new Validator({ eagerTypes: [...allKinds().map((k) => k.type), 'Bundle'] });
  const tokens = await TokenService.open(db, {
    issuer: config.baseUrl,
    audience: `${config.baseUrl}/fhir`,
    ttlSeconds: config.tokenTtlSeconds,
    revocationCheckMs: config.revocationCheckMs,
    externalIdp: config.externalIdp,
  });
  const queues = new Queues(
    { redisUrl: config.redisUrl, prefix: config.queuePrefix, reconcileIntervalMs: config.reconcileIntervalMs, horizonMs: config.scheduleHorizonMs, jobLockMs: config.jobLockMs },
    db,
    logger
  );
  const services: FhirServices = {
    db,
    validator,
    clock,
    search: config.search,
    baseUrl: `${config.baseUrl}/fhir`,
    maxBundleEntries: config.maxBundleEntries,
    maxImportBytes: config.maxImportBytes,
    maxBodyBytes: config.maxBodyBytes,
    maxDocumentBytes: config.maxDocumentBytes,
    version: VERSION,
    jobs: queues,
    durations: config.referralDurations,
    allowPrivateEndpoints: config.notify.allowPrivateEndpoints,
    mailAlerts: config.mail !== undefined,
    claimLimit: config.claimLimit,
    audit: new AuditLog(db),
    handle: (request) => handleFhir(services, request),
    isPublic,
  };
  const servicesNow = (): FhirServices => services;
  // Every queue of jobs/catalogue.ts, with its worker.
  queues.register(notifyWorker(servicesNow, config, logger));
  queues.register(deadlinesWorker(servicesNow, config, logger));
  queues.register(mdphImportWorker(servicesNow, logger));
  queues.register(asyncBundleWorker(servicesNow));
  queues.register(rorSyncWorker(servicesNow, config, logger));
  queues.register(indicatorsWorker(servicesNow, config, logger));
  for (const definition of options.queueDefinitions ?? []) queues.register(definition);
  await queues.init();

  if (options.workers) {
    if (config.ror) {
      // The first pull runs now; each pull plans the next one.
      const planned = await ensurePullPlanned(db, clock.now(), config.ror.intervalMs, true);
      if (planned) await queues.push(ROR_SYNC_QUEUE, [planned]);
    }
    // The referral indicators: recomputed now, then every period (each run records the next).
    await queues.push(INDICATORS_QUEUE, [await scheduleIndicatorsRefresh(db, new Date(clock.now().getTime() - config.indicatorsRefreshMs), config.indicatorsRefreshMs)]);
    await queues.startWorkers();
    logger.info({ queues: queues.names() }, 'workers started');
  }
  const metrics = createMetrics({ db, queues, clock });
  // Counted in Redis, so that every API process shares each client's count.
  const rateLimiter =
    options.api && config.rateLimit.rate > 0 ? RateLimiter.shared(config.rateLimit, { redisUrl: config.redisUrl, keyPrefix: `${config.queuePrefix}:rate-limit` }) : undefined;
  const app = buildApp({
    services,
    tokens,
    logger,
    baseUrl: config.baseUrl,
    maxBodyBytes: config.maxBodyBytes,
    maxConcurrentUploads: config.maxConcurrentUploads,
    rateLimit: config.rateLimit,
    rateLimiter,
    httpDuration: metrics.httpDuration,
    redisReady: () => queues.ping(),
  });
  options.configureApp?.(app);

  let server: Server | undefined;
  let unpublishLocalAdmin: (() => void) | undefined;
  let port: number | undefined;
  if (options.api) {
    await new Promise<void>((resolve, reject) => {
      server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
        port = info.port;
        resolve();
      }) as Server;
      server.once('error', reject);
    });
    server?.on('error', (err) => logger.error({ err }, 'HTTP server error'));
    // Requests the HTTP parser refuses get an OperationOutcome too (Node's own answer has no body).
    server?.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
      if (err.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      socket.end(clientErrorResponse(err));
    });
    // Idle keep-alive connections stay open longer than clients and load balancers usually keep theirs
    // (Node's 5 s default closes sockets a client may be reusing at that very moment: ECONNRESET).
    if (server) {
      server.keepAliveTimeout = 65_000;
      server.headersTimeout = 66_000;
    }
    // The CLI cannot open the embedded database while this process holds it: it manages clients through this gateway.
    if (db.kind === 'embedded') {
      const host = ['0.0.0.0', '::', ''].includes(config.host) ? '127.0.0.1' : config.host;
      unpublishLocalAdmin = await publishLocalAdmin(db, config.dataDir, `http://${host.includes(':') ? `[${host}]` : host}:${port}`);
    }
    // Said last: whoever waits for this line (an operator, a test) finds the API ready, the CLI's way in published.
    logger.info({ port, baseUrl: config.baseUrl }, 'FHIR API listening');
  }

  const metricsServer = config.metrics
    ? await serveMetrics({ ...config.metrics, contentType: metrics.registry.contentType, render: () => metrics.registry.metrics(), logger })
    : undefined;

  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      logger.info('stopping');
      if (server) {
        const s = server;
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
      metricsServer?.server.close();
      rateLimiter?.close();
      unpublishLocalAdmin?.();
      await queues.close();
      await db.close();
      logger.info('stopped');
    })();
    return stopping;
  };
  return { config, db, queues, app, tokens, logger, services, server, port, metrics, metricsPort: metricsServer?.port, shutdown };
}

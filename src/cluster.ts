/**
 * Several API processes on one port (`serve --processes N`, `start
 * --processes N`, or `WEB_CONCURRENCY`), with `node:cluster`: a primary that
 * runs no gateway itself forks N processes sharing the API's port (the
 * primary hands each new connection to the next process in turn). It
 * restarts a process that dies unexpectedly, forwards SIGTERM and SIGINT,
 * and exits once all have stopped. When the metrics are on, it serves
 * `GET /metrics` itself, summed over its processes (prom-client's
 * AggregatorRegistry).
 *
 * Each process is a whole gateway (`start()`), so the processes share only
 * PostgreSQL and Redis: the rate limits are counted in Redis, the jobs
 * recorded in PostgreSQL. The embedded database belongs to one process, so
 * several processes need `DATABASE_URL`.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Registry } from 'prom-client';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { serveMetrics } from './metrics/server.js';

/** How long the processes have to stop after a signal before they are killed. */
const STOP_TIMEOUT_MS = 10_000;
/** A process that dies this soon after the previous restart is restarted after a growing pause. */
const RESTART_WINDOW_MS = 10_000;
const MAX_RESTART_DELAY_MS = 10_000;

/** Why several processes cannot run with this configuration, if they cannot. */
export function clusterRefusal(config: Config, processes: number): string | undefined {
  if (processes > 1 && !config.databaseUrl) {
    return `--processes ${processes} (or WEB_CONCURRENCY) needs DATABASE_URL: the embedded database (PGlite, used when DATABASE_URL is not set) belongs to one process`;
  }
  return undefined;
}

/** Whether this process is one of the primary's API processes. */
export function isClusterProcess(): boolean {
  return cluster.isWorker;
}

/**
 * In an API process: answers the primary's `/metrics` at once (empty until
 * the gateway has started, so that a scrape does not wait for a starting
 * process), then with `registry` once given.
 */
export function offerMetrics(registry?: Registry): void {
  new AggregatorRegistry(); // installs the listener that answers the primary
  AggregatorRegistry.setRegistries(registry ? [registry] : [new Registry()]);
}

/** The number of this API process (1…N, a restarted one gets a new number), for its log lines. */
export function clusterProcessId(): number | undefined {
  return cluster.worker?.id;
}

/** Runs the primary: forks `processes` API processes and watches them until a signal. */
export async function runPrimary(config: Config, processes: number, logger: Logger): Promise<void> {
  let stopping = false;
  let listened = false;
  let lastRestart = 0;
  let restartDelay = 0;

  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.once('listening', () => {
      listened = true;
    });
    return worker;
  };

  cluster.on('exit', (worker, code, signal) => {
    const alive = Object.keys(cluster.workers ?? {}).length;
    if (stopping) {
      if (alive === 0) {
        logger.info('all API processes stopped');
        process.exit(0);
      }
      return;
    }
    if (!listened) {
      // None has ever started: a configuration or database problem, that a restart would only repeat.
      logger.error({ pid: worker.process.pid, code, signal }, 'an API process could not start; stopping');
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      process.exitCode = 1;
      if (alive === 0) process.exit(1);
      return;
    }
    const now = Date.now();
    restartDelay = now - lastRestart < RESTART_WINDOW_MS ? Math.min(MAX_RESTART_DELAY_MS, Math.max(250, restartDelay * 2)) : 0;
    lastRestart = now;
    logger.error({ pid: worker.process.pid, code, signal, restartInMs: restartDelay }, 'an API process died unexpectedly; starting another');
    setTimeout(() => {
      if (!stopping) fork();
    }, restartDelay);
  });

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping the API processes');
    // SIGTERM whatever came: a terminal's Ctrl-C has already sent them SIGINT, and a second SIGINT would kill them outright.
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    setTimeout(() => {
      logger.error('API processes still running after the stop timeout; killing them');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      process.exit(1);
    }, STOP_TIMEOUT_MS).unref();
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  if (config.metrics) {
    const aggregator = new AggregatorRegistry();
    await serveMetrics({ ...config.metrics, contentType: aggregator.contentType, render: () => aggregator.clusterMetrics(), logger });
  }
  for (let i = 0; i < processes; i++) fork();
  logger.info({ processes, port: config.port }, 'API processes starting');
}

/**
 * The gateway's Prometheus metrics (prom-client), one registry per process:
 * the HTTP request latency histogram (observed by the API), and gauges read
 * at scrape time from Redis (the queues' job counts) and PostgreSQL (imports
 * and ROR pull under way, how late the due jobs are, failed jobs).
 *
 * Each source is read within `SOURCE_TIMEOUT_MS`: a source that does not
 * answer leaves its gauges without samples, and the scrape answers anyway.
 *
 * With several API processes (`--processes N`) the cluster's primary sums
 * the processes' registries (prom-client's AggregatorRegistry): the request
 * histogram adds up, while the gauges, which every process reads from the
 * same shared state, are aggregated with `max` (not summed).
 */
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Clock } from '../domain/clock.js';
import type { Queues } from '../queues/registry.js';
import type { Database } from '../store/db.js';
import { importsUnderWay, pullUnderWay, scheduleHealth } from '../store/monitoring.js';

/** How long a scrape waits for one source (Redis, PostgreSQL). */
export const SOURCE_TIMEOUT_MS = 1_000;

/** What the gauges are read from. */
export interface MetricSources {
  db: Database;
  queues: Queues;
  clock: Clock;
}

/** A process's metrics. */
export interface Metrics {
  registry: Registry;
  /** Seconds from a request's arrival to its answer, by method, route pattern and status. */
  httpDuration: Histogram<'method' | 'route' | 'status'>;
}

async function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** `read`, shared by the calls that come while it runs (prom-client starts the collection of every gauge of a scrape at once). */
function perScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let current: Promise<T> | undefined;
  return () => {
    current ??= read().finally(() => (current = undefined));
    return current;
  };
}

/** Creates the registry and its metrics. */
export function createMetrics(sources: MetricSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'aiguillage_' });
  const registers = [registry];

  const httpDuration = new Histogram({
    name: 'aiguillage_http_request_duration_seconds',
    help: 'Time from a request to its answer, by route pattern (never the raw path) and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });

  new Gauge({
    name: 'aiguillage_queue_jobs',
    help: 'Jobs Redis holds, by queue and state (waiting, active, delayed, failed); no samples when Redis does not answer',
    labelNames: ['queue', 'state'] as const,
    registers,
    aggregator: 'max',
    async collect() {
      this.reset();
      const counts = await sources.queues.jobCounts(SOURCE_TIMEOUT_MS);
      for (const [queue, states] of Object.entries(counts ?? {})) for (const [state, n] of Object.entries(states)) this.set({ queue, state }, n);
    },
  });

  // One read of each source per scrape, shared by the gauges it feeds (prom-client collects them concurrently).
  const schedule = perScrape(() => within(scheduleHealth(sources.db, sources.clock.now()), SOURCE_TIMEOUT_MS));
  const imports = perScrape(() => within(importsUnderWay(sources.db), SOURCE_TIMEOUT_MS));
  const pull = perScrape(() => within(pullUnderWay(sources.db), SOURCE_TIMEOUT_MS));

  const perQueue = (name: string, help: string, pick: (row: { due: number; lag_seconds: number; failed: number }) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['queue'] as const,
      registers,
      aggregator: 'max',
      async collect() {
        this.reset();
        const rows = await schedule();
        if (!rows) return;
        for (const queue of sources.queues.names()) this.set({ queue }, pick(rows.find((r) => r.queue === queue) ?? { due: 0, lag_seconds: 0, failed: 0 }));
      },
    });
  };
  perQueue('aiguillage_job_lag_seconds', 'How late the oldest due pending job is (deadlines: seconds past their time), by queue; 0 when none is due', (r) => r.lag_seconds);
  perQueue('aiguillage_jobs_due', 'Pending jobs whose time has come (PostgreSQL job_schedule), by queue', (r) => r.due);
  perQueue('aiguillage_jobs_failed', 'Jobs that failed for good (PostgreSQL job_schedule), by queue', (r) => r.failed);

  new Gauge({
    name: 'aiguillage_imports',
    help: 'Decision imports not finished, by state (accepted: waiting for a worker; in-progress)',
    labelNames: ['state'] as const,
    registers,
    aggregator: 'max',
    async collect() {
      this.reset();
      const rows = await imports();
      for (const state of ['accepted', 'in-progress']) if (rows) this.set({ state }, rows.find((r) => r.state === state)?.imports ?? 0);
    },
  });
  new Gauge({
    name: 'aiguillage_import_rows',
    help: 'Rows of the decision imports under way processed so far, by outcome (done = ok + rejected); the total is known only at the end',
    labelNames: ['outcome'] as const,
    registers,
    aggregator: 'max',
    async collect() {
      this.reset();
      const rows = await imports();
      if (!rows) return;
      for (const outcome of ['done', 'ok', 'rejected'] as const) this.set({ outcome }, rows.reduce((n, r) => n + r[`rows_${outcome}`], 0));
    },
  });
  new Gauge({
    name: 'aiguillage_import_bytes',
    help: 'Size of the files of the decision imports under way',
    registers,
    aggregator: 'max',
    async collect() {
      this.reset();
      const rows = await imports();
      if (rows) this.set(rows.reduce((n, r) => n + r.bytes, 0));
    },
  });

  new Gauge({
    name: 'aiguillage_ror_pull_running',
    help: 'Whether a ROR pull is under way (1) or not (0)',
    registers,
    aggregator: 'max',
    async collect() {
      this.reset();
      const p = await pull();
      if (p) this.set(p.running ? 1 : 0);
    },
  });
  new Gauge({
    name: 'aiguillage_ror_pull_resources',
    help: 'Resources of the ROR pull under way, by outcome (applied, skipped, rejected)',
    labelNames: ['outcome'] as const,
    registers,
    aggregator: 'max',
    async collect() {
      this.reset();
      const running = (await pull())?.running;
      if (running) for (const outcome of ['applied', 'skipped', 'rejected'] as const) this.set({ outcome }, running[outcome]);
    },
  });
  new Gauge({
    name: 'aiguillage_ror_pull_last_completed_timestamp_seconds',
    help: 'When the last ROR pull completed (Unix time)',
    registers,
    aggregator: 'max',
    async collect() {
      this.reset();
      const at = (await pull())?.lastCompleted;
      if (at) this.set(at.getTime() / 1000);
    },
  });

  return { registry, httpDuration };
}

/**
 * The queue registry. Background work is recorded in PostgreSQL
 * (`job_schedule`, written in the same transaction as the change that calls
 * for it) and only *scheduled* through BullMQ on Redis. A reconciler re-adds
 * to Redis every pending job it does not hold (after a flush, a restart, or a
 * push that failed because Redis was down), and a job is processed only while
 * its row is still pending, so nothing is lost and nothing runs twice.
 */
import { Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { Database, Queryable } from '../store/db.js';
import { completeJob } from '../jobs/schedule.js';
import { countAttempt, jobToRun, markJobFailed, pendingJobs } from '../store/tables/job-schedule.js';

export { completeJob, scheduleJob } from '../jobs/schedule.js';

/** A kind of background work. */
export interface QueueDefinition<D = unknown> {
  name: string;
  /**
   * Does the work. It may run again after a crash, so it must be idempotent:
   * re-read the state and do nothing if the work no longer applies. To finish
   * atomically with its own writes it calls `complete(tx)` in its last transaction.
   */
  process(data: D, job: { id: string; attempt: number; complete(tx: Queryable): Promise<void> }): Promise<void>;
  concurrency?: number;
  /** Attempts before the job is marked failed (default 5), with exponential back-off from `backoffMs`. */
  attempts?: number;
  backoffMs?: number;
}

/** Connection and naming settings. */
export interface QueueSettings {
  redisUrl: string;
  prefix: string;
  reconcileIntervalMs: number;
  /**
   * Jobs due further ahead than this (ms) stay in PostgreSQL only; the
   * reconciler hands them to Redis as they come within it. Redis holds the
   * near schedule, not months of deadlines.
   */
  horizonMs?: number;
  /**
   * How long a worker holds a running job without renewing it (ms). A worker
   * killed mid-job leaves its job locked this long; then another worker takes
   * it up (every job resumes where it stopped, so it may stall any number of times).
   */
  jobLockMs?: number;
}

function connectionOptions(url: string, forWorker: boolean): ConnectionOptions {
  const redis = new Redis(url, {
    // Workers block on Redis and must wait through outages; producers fail fast.
    maxRetriesPerRequest: forWorker ? null : 1,
    enableOfflineQueue: forWorker,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 200, 5_000),
  });
  return redis;
}

/** The registry: queues, their workers and the reconciler. */
export class Queues {
  private readonly definitions = new Map<string, QueueDefinition<never>>();
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];
  private readonly workerConnections: Redis[] = [];
  private producer?: Redis;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly settings: QueueSettings,
    private readonly db: Database,
    private readonly logger: Logger
  ) {}

  /** Declares a queue (before `init`). */
  register<D>(definition: QueueDefinition<D>): void {
    this.definitions.set(definition.name, definition);
  }

  /** Names of the registered queues. */
  names(): string[] {
    return [...this.definitions.keys()];
  }

  /** What the process last knew of Redis: told in the logs on every change. */
  private redisState: 'unknown' | 'up' | 'down' = 'unknown';
  private closing = false;

  private onRedisError = (err: Error): void => {
    // ioredis retries by itself; say so once when Redis goes away, not on every retry.
    if (this.closing || this.redisState === 'down') return;
    this.redisState = 'down';
    this.logger.error({ err: err.message, redisUrl: redact(this.settings.redisUrl) }, 'Redis is not answering: background jobs stay recorded in PostgreSQL and will be scheduled when it is back');
  };

  private onRedisClose = (): void => {
    if (!this.closing && this.redisState === 'up') this.onRedisError(new Error('connection closed'));
  };

  private onRedisReady = (): void => {
    const wasDown = this.redisState === 'down';
    this.redisState = 'up';
    const redisUrl = redact(this.settings.redisUrl);
    if (!wasDown) return void this.logger.info({ redisUrl }, 'Redis connected');
    // A process with workers hands over at once what waited in PostgreSQL meanwhile (the API-only ones leave it to them).
    if (!this.timer) return void this.logger.info({ redisUrl }, 'Redis is back');
    this.reconcile().then(
      (pending) => this.logger.info({ redisUrl, pending }, 'Redis is back: pending jobs handed to the queues'),
      (err: Error) => this.logger.error({ err: err.message }, 'reconcile failed')
    );
  };

  /** Whether the producer's connection to Redis is up now (no call waits on one that is not). */
  private redisUp(): boolean {
    return this.producer?.status === 'ready';
  }

  /** Opens the producer side (every process that schedules work). */
  async init(): Promise<void> {
    this.producer = connectionOptions(this.settings.redisUrl, false) as Redis;
    this.producer.on('error', this.onRedisError);
    this.producer.on('close', this.onRedisClose);
    this.producer.on('ready', this.onRedisReady);
    for (const name of this.definitions.keys()) {
      const queue = new Queue(name, { connection: this.producer, prefix: this.settings.prefix });
      queue.on('error', this.onRedisError);
      this.queues.set(name, queue);
    }
  }

  /** Whether Redis answers, within `timeoutMs`. */
  async ping(timeoutMs = 1_000): Promise<boolean> {
    if (!this.producer) return false;
    try {
      const pong = await Promise.race([this.producer.ping(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs))]);
      return pong === 'PONG';
    } catch {
      return false;
    }
  }

  /**
   * The jobs Redis holds per queue and state (waiting, active, delayed,
   * failed), for the metrics; undefined when Redis does not answer within
   * `timeoutMs`, so that a scrape never hangs on it.
   */
  async jobCounts(timeoutMs = 1_000): Promise<Record<string, Record<string, number>> | undefined> {
    if (!this.redisUp()) return undefined;
    const counts = Promise.all([...this.queues].map(async ([name, queue]) => [name, await queue.getJobCounts('waiting', 'active', 'delayed', 'failed')] as const));
    const answered = await within(counts, timeoutMs).catch(() => undefined);
    return answered && Object.fromEntries(answered.value);
  }

  /** Adds recorded jobs to Redis (best effort: on failure the reconciler will). */
  async push(queue: string, jobs: { jobId: string; data: unknown; runAt: Date }[]): Promise<void> {
    const q = this.queues.get(queue);
    if (!q || jobs.length === 0) return;
    const definition = this.definitions.get(queue);
    const now = Date.now();
    const horizon = now + (this.settings.horizonMs ?? Number.POSITIVE_INFINITY);
    const near = jobs.filter((job) => job.runAt.getTime() <= horizon);
    if (near.length === 0) return;
    // Redis away: the jobs wait in PostgreSQL, and the reconciler hands them over when it is back.
    if (!this.redisUp()) return;
    try {
      const added = q.addBulk(
        near.map((job) => ({
          name: queue,
          data: job.data,
          opts: {
            jobId: job.jobId,
            delay: Math.max(0, job.runAt.getTime() - now),
            attempts: definition?.attempts ?? 5,
            backoff: { type: 'exponential', delay: definition?.backoffMs ?? 1_000 },
            removeOnComplete: true,
            removeOnFail: true,
          },
        }))
      );
      if (!(await within(added, REDIS_CALL_BOUND_MS))) this.onRedisError(new Error(`no answer within ${REDIS_CALL_BOUND_MS} ms`));
    } catch (err) {
      this.onRedisError(err as Error);
    }
  }

  /**
   * Re-adds to Redis every pending job due within the horizon (adding one
   * that is there already does nothing). Returns how many rows were seen.
   */
  async reconcile(batchSize = 1_000): Promise<number> {
    let seen = 0;
    const horizon = new Date(Date.now() + Math.min(this.settings.horizonMs ?? 1e14, 1e14)).toISOString();
    for (const queue of this.definitions.keys()) {
      let after: [string, string] = ['-infinity', ''];
      for (;;) {
        const rows = await pendingJobs(this.db, queue, horizon, after, batchSize);
        if (rows.length === 0) break;
        await this.push(
          queue,
          rows.map((r) => ({ jobId: r.job_id, data: r.data, runAt: new Date(r.run_at) }))
        );
        seen += rows.length;
        const last = rows[rows.length - 1];
        after = [last.run_at_text, last.job_id];
      }
    }
    return seen;
  }

  /** Starts the workers of every registered queue and the periodic reconciler. */
  async startWorkers(): Promise<void> {
    for (const definition of this.definitions.values()) {
      const connection = connectionOptions(this.settings.redisUrl, true) as Redis;
      connection.on('error', this.onRedisError);
      this.workerConnections.push(connection);
      const worker = new Worker(definition.name, (job) => this.run(definition, job), {
        connection,
        prefix: this.settings.prefix,
        concurrency: definition.concurrency ?? 1,
        lockDuration: this.settings.jobLockMs ?? 30_000,
        stalledInterval: this.settings.jobLockMs ?? 30_000,
        maxStalledCount: 1_000_000,
      });
      worker.on('error', this.onRedisError);
      worker.on('failed', (job, err) => {
        if (!job) return;
        const exhausted = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
        this.logger.warn({ queue: definition.name, jobId: job.id, attempt: job.attemptsMade, exhausted, err: err.message }, 'job failed');
        if (exhausted) {
          markJobFailed(this.db, definition.name, job.id as string, err.message).catch((e: Error) => this.logger.error({ err: e.message }, 'could not record a failed job'));
        }
      });
      this.workers.push(worker);
    }
    const tick = (): void => {
      this.reconcile().catch((err: Error) => this.logger.error({ err: err.message }, 'reconcile failed'));
    };
    tick();
    this.timer = setInterval(tick, this.settings.reconcileIntervalMs);
    this.timer.unref();
  }

  private async run(definition: QueueDefinition<never>, job: Job): Promise<void> {
    const jobId = job.id as string;
    const row = await jobToRun<never>(this.db, definition.name, jobId);
    // PostgreSQL decides: a job already done (or cancelled) is not run again.
    if (row?.state !== 'pending') return;
    await countAttempt(this.db, definition.name, jobId);
    let completed = false;
    await definition.process(row.data, {
      id: jobId,
      attempt: job.attemptsMade + 1,
      complete: async (tx) => {
        await completeJob(tx, definition.name, jobId);
        completed = true;
      },
    });
    if (!completed) await completeJob(this.db, definition.name, jobId);
  }

  /**
   * Stops the workers, the reconciler and the connections, within a few
   * seconds: running jobs may finish while Redis answers, up to
   * CLOSE_BOUND_MS; past it (or with Redis away) they are left as a crash
   * leaves them, to be resumed by the next worker.
   */
  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    const up = this.redisUp();
    await within(Promise.all(this.workers.map((w) => w.close(!up))), up ? CLOSE_BOUND_MS : 500);
    await within(Promise.all([...this.queues.values()].map((q) => q.close())), up ? 1_000 : 100);
    for (const connection of this.workerConnections) connection.disconnect();
    this.producer?.disconnect();
  }
}

/** How long a request may wait on Redis to schedule its jobs; past it, the reconciler will (they are recorded in PostgreSQL). */
export const REDIS_CALL_BOUND_MS = 1_000;

/** How long stopping may wait on Redis (running jobs, closing connections) before dropping the connections. */
const CLOSE_BOUND_MS = 3_000;

/** `promise`'s value, or `undefined` after `ms` (the promise then settles unobserved). */
async function within<T>(promise: Promise<T>, ms: number): Promise<{ value: T } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  promise.catch(() => undefined);
  try {
    return await Promise.race([promise.then((value) => ({ value })), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

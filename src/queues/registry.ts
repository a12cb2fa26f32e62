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
  private lastRedisError = 0;

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

  private onRedisError = (err: Error): void => {
    // ioredis retries by itself; say so clearly, once in a while, not on every retry.
    if (Date.now() - this.lastRedisError > 30_000) {
      this.lastRedisError = Date.now();
      this.logger.error({ err: err.message, redisUrl: redact(this.settings.redisUrl) }, 'Redis is not answering: background jobs stay recorded in PostgreSQL and will be scheduled when it is back');
    }
  };

  /** Opens the producer side (every process that schedules work). */
  async init(): Promise<void> {
    this.producer = connectionOptions(this.settings.redisUrl, false) as Redis;
    this.producer.on('error', this.onRedisError);
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
    let timer: NodeJS.Timeout | undefined;
    const counts = Promise.all([...this.queues].map(async ([name, queue]) => [name, await queue.getJobCounts('waiting', 'active', 'delayed', 'failed')] as const));
    try {
      const entries = await Promise.race([counts, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), timeoutMs)))]);
      return Object.fromEntries(entries);
    } catch {
      counts.catch(() => undefined); // answered late, or failed: nobody waits for it any more
      return undefined;
    } finally {
      clearTimeout(timer);
    }
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
    try {
      await q.addBulk(
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

  /** Stops the workers (letting running jobs finish), the reconciler and the connections. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all(this.workers.map((w) => w.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    for (const connection of this.workerConnections) connection.disconnect();
    this.producer?.disconnect();
  }
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * The `ror-sync` queue: directory work that happens later. Two kinds of
 * jobs: a pushed Bundle accepted with `Prefer: respond-async` (run in
 * chunks, resumable, see fhir/async.ts), and a pull from a ROR FHIR API
 * (see domain/ror-pull.ts). Both re-read their state in PostgreSQL, so a
 * job run twice does the rest of the work, never the same work twice.
 */
import type { Config } from '../config.js';
import { ROR_SYNC_QUEUE, runAsyncBundle, type AsyncBundleJob } from '../fhir/async.js';
import type { FhirServices } from '../fhir/types.js';
import type { Logger } from '../logger.js';
import { RorClient } from '../ror/client.js';
import { openSync, runSync } from '../ror/pull.js';
import type { Queryable } from '../store/db.js';
import type { QueueDefinition } from './registry.js';
import { scheduleJob } from './schedule.js';

export { ROR_SYNC_QUEUE };

/** A scheduled pull from the ROR API (`auto`: a delta after a completed pull, else a full load). */
export interface PullJob {
  kind: 'pull';
  mode: 'full' | 'auto';
}

/** Data of a `ror-sync` job. */
export type RorSyncJob = AsyncBundleJob | PullJob;

/** The id of the pull planned for the interval slot after `now` (deterministic: planning it twice plans it once). */
export function nextPullJob(now: Date, intervalMs: number): { jobId: string; runAt: Date } {
  const runAt = new Date(Math.ceil((now.getTime() + 1) / intervalMs) * intervalMs);
  return { jobId: `pull-${runAt.getTime()}`, runAt };
}

/** Plans the next pull unless one is pending already; returns it when planned. */
export async function ensurePullPlanned(
  q: Queryable,
  now: Date,
  intervalMs: number,
  immediately: boolean,
  /** The pull running now, pending until it returns: not a planned one. */
  runningJobId = ''
): Promise<{ jobId: string; data: PullJob; runAt: Date } | undefined> {
  const { rows } = await q.query(`SELECT 1 FROM job_schedule WHERE queue = $1 AND job_id LIKE 'pull-%' AND job_id <> $2 AND state = 'pending' LIMIT 1`, [ROR_SYNC_QUEUE, runningJobId]);
  if (rows.length > 0) return undefined;
  const planned = immediately ? { jobId: `pull-${now.getTime()}`, runAt: now } : nextPullJob(now, intervalMs);
  const data: PullJob = { kind: 'pull', mode: 'auto' };
  await scheduleJob(q, ROR_SYNC_QUEUE, planned.jobId, data, planned.runAt);
  return { ...planned, data };
}

/** A ROR API client from the configuration. */
export function rorClient(ror: NonNullable<Config['ror']>): RorClient {
  return new RorClient({ baseUrl: ror.baseUrl, tokenUrl: ror.tokenUrl, clientId: ror.clientId, clientSecret: ror.clientSecret, headers: ror.headers });
}

/** The queue definition; `services` is read when a job runs. */
export function rorSyncQueue(services: () => FhirServices, config: Config, logger: Logger): QueueDefinition<RorSyncJob> {
  return {
    name: ROR_SYNC_QUEUE,
    concurrency: 2,
    attempts: 10,
    backoffMs: 2_000,
    async process(data, job) {
      const s = services();
      if (data.kind === 'bundle') return runAsyncBundle(s, data.requestId);
      if (!config.ror) {
        logger.warn('a ROR pull was planned but ROR_BASE_URL is not set: skipped');
        return;
      }
      const id = await openSync(s.db, data.mode, s.clock.now(), config.ror.pageSize);
      const result = await runSync({ db: s.db, validator: s.validator, clock: s.clock, client: rorClient(config.ror) }, id);
      logger.info({ sync: id, mode: result.mode, state: result.state, applied: result.applied, skipped: result.skipped, rejected: result.rejected }, 'ROR pull finished');
      const next = await ensurePullPlanned(s.db, s.clock.now(), config.ror.intervalMs, false, job.id);
      if (next) await s.jobs?.push(ROR_SYNC_QUEUE, [next]);
    },
  };
}

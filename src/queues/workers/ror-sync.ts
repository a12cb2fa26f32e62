/**
 * The `ror-sync` worker: pulls of the directory from a ROR FHIR API
 * (ror/pull.ts), planned one after the other at an interval. A pull
 * re-reads where it stands in PostgreSQL, so a job run twice does the rest
 * of the work, never the same work twice.
 */
import type { Config } from '../../config.js';
import type { FhirServices } from '../../fhir/types.js';
import { enqueuePull, nextPullJob, ROR_SYNC_QUEUE, type PullJob } from '../../jobs/catalogue.js';
import type { ScheduledJob } from '../../jobs/schedule.js';
import type { Logger } from '../../logger.js';
import { RorClient } from '../../ror/client.js';
import { openSync, runSync } from '../../ror/pull.js';
import type { Queryable } from '../../store/db.js';
import { pullPlanned } from '../../store/tables/job-schedule.js';
import type { QueueDefinition } from '../registry.js';

/** Plans the next pull unless one is pending already; returns it when planned. */
export async function ensurePullPlanned(
  q: Queryable,
  now: Date,
  intervalMs: number,
  immediately: boolean,
  /** The pull running now, pending until it returns: not a planned one. */
  runningJobId = ''
): Promise<ScheduledJob | undefined> {
  if (await pullPlanned(q, ROR_SYNC_QUEUE, runningJobId)) return undefined;
  const planned = immediately ? { jobId: `pull-${now.getTime()}`, runAt: now } : nextPullJob(now, intervalMs);
  return enqueuePull(q, planned.jobId, planned.runAt);
}

/** A ROR API client from the configuration. */
export function rorClient(ror: NonNullable<Config['ror']>): RorClient {
  return new RorClient({ baseUrl: ror.baseUrl, tokenUrl: ror.tokenUrl, clientId: ror.clientId, clientSecret: ror.clientSecret, headers: ror.headers });
}

export function rorSyncWorker(services: () => FhirServices, config: Config, logger: Logger): QueueDefinition<PullJob> {
  return {
    name: ROR_SYNC_QUEUE,
    concurrency: 2,
    attempts: 10,
    backoffMs: 2_000,
    async process(data, job) {
      const s = services();
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

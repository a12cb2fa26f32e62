/**
 * The `deadlines` worker: runs a request's deadline when it fires
 * (automatic reminder, automatic cancellation, archiving;
 * domain/referral/deadline-run.ts), completing the job in the same
 * transaction as its work, then tells Redis of the next one.
 */
import type { Config } from '../../config.js';
import { runDeadline } from '../../domain/referral/deadline-run.js';
import { pushScheduled, type FhirServices } from '../../fhir/types.js';
import { DEADLINES_QUEUE, type DeadlineJob } from '../../jobs/catalogue.js';
import type { Logger } from '../../logger.js';
import type { QueueDefinition } from '../registry.js';

export function deadlinesWorker(services: () => FhirServices, config: Config, logger: Logger): QueueDefinition<DeadlineJob> {
  return {
    name: DEADLINES_QUEUE,
    concurrency: 4,
    attempts: 10,
    backoffMs: 1_000,
    async process(data, job) {
      const s = services();
      const result = await runDeadline({ db: s.db, clock: s.clock, durations: config.referralDurations, complete: (q) => job.complete(q) }, job.id, data);
      if (result.done) logger.info({ referral: data.referral, deadline: result.done }, 'deadline applied');
      await pushScheduled(s, result.scheduled);
    },
  };
}

/** The `deadlines` queue: reminders, automatic cancellation and archiving of admission requests (domain/deadlines.ts). */
import type { Config } from '../config.js';
import { DEADLINES_QUEUE, runDeadline, type DeadlineJob } from '../domain/deadlines.js';
import { pushScheduled, type FhirServices } from '../fhir/types.js';
import type { Logger } from '../logger.js';
import type { QueueDefinition } from './registry.js';

export function deadlinesQueue(services: () => FhirServices, config: Config, logger: Logger): QueueDefinition<DeadlineJob> {
  return {
    name: DEADLINES_QUEUE,
    concurrency: 4,
    attempts: 10,
    backoffMs: 1_000,
    async process(data, job) {
      const s = services();
      // runDeadline completes the job in its own transaction, with its work.
      const result = await runDeadline({ db: s.db, clock: s.clock, durations: config.referralDurations, complete: job.complete }, job.id, data);
      if (result.done) logger.info({ referral: data.referral, deadline: result.done }, 'deadline applied');
      await pushScheduled(s, result.scheduled);
    },
  };
}

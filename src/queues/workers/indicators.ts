/**
 * The `indicators` worker: recomputes the referral indicators' rollup
 * (domain/referral/indicators.ts), then records the next refresh, at the end
 * of the next period (AIGUILLAGE_INDICATORS_REFRESH_MS).
 */
import type { Config } from '../../config.js';
import { refreshReferralIndicators } from '../../domain/referral/indicators.js';
import { pushScheduled, type FhirServices } from '../../fhir/types.js';
import { INDICATORS_QUEUE, scheduleIndicatorsRefresh, type IndicatorsJob } from '../../jobs/catalogue.js';
import type { Logger } from '../../logger.js';
import type { QueueDefinition } from '../registry.js';

export function indicatorsWorker(services: () => FhirServices, config: Config, logger: Logger): QueueDefinition<IndicatorsJob> {
  return {
    name: INDICATORS_QUEUE,
    concurrency: 1,
    attempts: 3,
    backoffMs: 5_000,
    async process() {
      const s = services();
      const started = Date.now();
      const groups = await refreshReferralIndicators(s.db, s.clock);
      logger.info({ groups, ms: Date.now() - started }, 'referral indicators recomputed');
      await pushScheduled(s, [await scheduleIndicatorsRefresh(s.db, s.clock.now(), config.indicatorsRefreshMs)]);
    },
  };
}

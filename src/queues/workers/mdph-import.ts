/** The `mdph-import` worker: runs (or resumes) an MDPH decisions import (domain/decision/import-run.ts). */
import { runImport } from '../../domain/decision/import-run.js';
import { pushScheduled, type FhirServices } from '../../fhir/types.js';
import { MDPH_IMPORT_QUEUE, type ImportJob } from '../../jobs/catalogue.js';
import type { Logger } from '../../logger.js';
import type { QueueDefinition } from '../registry.js';

export function mdphImportWorker(services: () => FhirServices, logger: Logger): QueueDefinition<ImportJob> {
  return {
    name: MDPH_IMPORT_QUEUE,
    concurrency: 1,
    attempts: 10,
    backoffMs: 2_000,
    async process(data) {
      const s = services();
      const result = await runImport({ db: s.db, clock: s.clock, push: (jobs) => pushScheduled(s, jobs) }, data.importId);
      logger.info({ import: data.importId, ...result }, 'MDPH import finished');
    },
  };
}

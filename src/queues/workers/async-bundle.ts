/** The `async-bundle` worker: runs (or resumes) a Bundle accepted with `Prefer: respond-async` (fhir/async-bundle.ts), chunk by chunk. */
import { runAsyncBundle } from '../../fhir/async-bundle.js';
import type { FhirServices } from '../../fhir/types.js';
import { ASYNC_BUNDLE_QUEUE, type AsyncBundleJob } from '../../jobs/catalogue.js';
import type { QueueDefinition } from '../registry.js';

export function asyncBundleWorker(services: () => FhirServices): QueueDefinition<AsyncBundleJob> {
  return {
    name: ASYNC_BUNDLE_QUEUE,
    concurrency: 2,
    attempts: 10,
    backoffMs: 2_000,
    process: (data) => runAsyncBundle(services(), data.requestId),
  };
}

/** The FHIR core's plain request and response: no HTTP framework in sight. */
import type { Resource } from '@medplum/fhirtypes';
import type { ClaimLimit } from '../domain/claim-limit.js';
import type { AuditLog, AuditTrail } from '../domain/audit.js';
import type { Clock } from '../domain/clock.js';
import type { Principal } from '../domain/principal.js';
import type { ReferralDurations } from '../../mappings/duration.js';
import type { ScheduledJob } from '../queues/schedule.js';
import type { Database, Queryable } from '../store/db.js';
import type { SearchLimits } from './search-request.js';
import type { Validator } from './validation.js';

/** A FHIR interaction as the router sees it. */
export interface FhirRequest {
  method: string;
  /** Path below the FHIR base, e.g. `Patient/123/_history/2` (no leading slash). */
  path: string;
  query: URLSearchParams;
  /** The parsed JSON body, if any. */
  body?: unknown;
  ifMatch?: string;
  ifNoneExist?: string;
  prefer?: string;
  principal?: Principal;
  /** The open transaction to run in (entries of a transaction Bundle). */
  tx?: Queryable;
  /** Jobs recorded so far by the enclosing request, told to Redis when it has committed. */
  scheduled?: ScheduledJob[];
  /** Look-ups shared by the entries of a Bundle. */
  memo?: Map<string, unknown>;
  /** The request's audit trail (shared by the entries of a Bundle). */
  audit?: AuditTrail;
}

/** What the router answers. */
export interface FhirResponse {
  status: number;
  body?: Resource;
  headers?: Record<string, string>;
}

/** What the FHIR core runs on. */
export interface FhirServices {
  db: Database;
  validator: Validator;
  clock: Clock;
  search: SearchLimits;
  /** Absolute URL of the FHIR base (`…/fhir`), for links and `Location`. */
  baseUrl: string;
  /** Most entries a Bundle may carry. */
  maxBundleEntries: number;
  version: string;
  /** Tells Redis about jobs recorded in PostgreSQL (absent: the reconciler will). */
  jobs?: { push(queue: string, jobs: { jobId: string; data: unknown; runAt: Date }[]): Promise<void> };
  /** Deadlines of admission requests. */
  durations?: ReferralDurations;
  /** `$claim`'s limit on failed claims. */
  claimLimit?: ClaimLimit;
  /** Subscriptions may point at local or private addresses. */
  allowPrivateEndpoints?: boolean;
  /** Stores the audit events of reads and refusals. */
  audit: AuditLog;
}

/** Tells Redis about jobs recorded by a committed request, queue by queue (best effort: the reconciler catches up). */
export async function pushScheduled(services: FhirServices, scheduled: ScheduledJob[]): Promise<void> {
  if (!services.jobs || scheduled.length === 0) return;
  const byQueue = new Map<string, ScheduledJob[]>();
  for (const job of scheduled) byQueue.set(job.queue, [...(byQueue.get(job.queue) ?? []), job]);
  for (const [queue, jobs] of byQueue) await services.jobs.push(queue, jobs);
}

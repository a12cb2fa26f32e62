/** The FHIR core's plain request and response: no HTTP framework in sight. */
import type { Resource } from '@medplum/fhirtypes';
import type { ReferralDurations } from '../../mappings/duration.js';
import type { SearchLimits } from '../core/search/parse.js';
import type { AuditLog } from '../domain/audit/audit-log.js';
import type { AuditTrail } from '../domain/audit/trail.js';
import type { Clock } from '../domain/clock.js';
import type { DomainEvent } from '../domain/kind.js';
import type { Principal } from '../core/principal.js';
import type { ClaimLimit } from '../domain/settings.js';
import type { ScheduledJob } from '../jobs/schedule.js';
import type { Database, Queryable } from '../store/db.js';
import type { Validator } from './validation.js';

/** A body read as it comes, for the routes that take one other than JSON (an uploaded file). */
export interface RawBody {
  /** The declared length (`Content-Length`), if any. */
  declaredLength?: number;
  stream(): AsyncIterable<Uint8Array>;
  text(): Promise<string>;
}

/** A FHIR interaction as the router sees it. */
export interface FhirRequest {
  method: string;
  /** Path below the FHIR base, e.g. `Patient/123/_history/2` (no leading slash). */
  path: string;
  query: URLSearchParams;
  /** The parsed JSON body, if any. */
  body?: unknown;
  /** The body as it comes, for routes that take a file (with its content type). */
  raw?: RawBody;
  contentType?: string;
  /** The Accept header of a request that came over HTTP (absent in a Bundle's entries): a Binary is read as itself unless it asks for FHIR. */
  accept?: string;
  ifMatch?: string;
  ifNoneExist?: string;
  prefer?: string;
  principal?: Principal;
  /** The open transaction to run in (entries of a transaction Bundle). */
  tx?: Queryable;
  /** The unit of work the request is part of (a Bundle's entries): its events, jobs and look-ups. */
  events?: DomainEvent[];
  scheduled?: ScheduledJob[];
  memo?: Map<string, unknown>;
  /** The request's audit trail (shared by the entries of a Bundle). */
  audit?: AuditTrail;
}

/** What the router answers. */
export interface FhirResponse {
  status: number;
  body?: Resource;
  headers?: Record<string, string>;
  /** Content answered as itself rather than as a resource (a Binary's), streamed. */
  content?: { type: string; length: number; stream(): AsyncIterable<Uint8Array> };
  /** What the interaction's audit record says beyond its outcome: a search's parameters, an upload's size. */
  auditNote?: { query?: string; detail?: string };
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
  /** Largest MDPH decisions file, in bytes. */
  maxImportBytes: number;
  /** Largest FHIR JSON body, in bytes. */
  maxBodyBytes: number;
  /** Largest document (Binary), in bytes. */
  maxDocumentBytes: number;
  version: string;
  /** Tells Redis about jobs recorded in PostgreSQL (absent: the reconciler will). */
  jobs?: { push(queue: string, jobs: { jobId: string; data: unknown; runAt: Date }[]): Promise<void> };
  /** Deadlines of admission requests. */
  durations?: ReferralDurations;
  /** Subscriptions may point at local or private addresses. */
  allowPrivateEndpoints?: boolean;
  /** E-mail alerts are configured (an SMTP server): subscriptions may have an `email` channel. */
  mailAlerts?: boolean;
  /** `$claim`'s limit on failed claims. */
  claimLimit?: ClaimLimit;
  /** Stores the audit records of reads and refusals (group commit). */
  audit: AuditLog;
  /** Handles one interaction (a Bundle's entries go through it): the dispatcher, given by the composition root. */
  handle(request: FhirRequest): Promise<FhirResponse>;
  /** Whether an interaction may be answered without a token (the dispatcher's rule). */
  isPublic(method: string, path: string): boolean;
}

/** Tells Redis about jobs recorded by a committed request, queue by queue (best effort: the reconciler catches up). */
export async function pushScheduled(services: FhirServices, scheduled: ScheduledJob[]): Promise<void> {
  if (!services.jobs || scheduled.length === 0) return;
  const byQueue = new Map<string, ScheduledJob[]>();
  for (const job of scheduled) byQueue.set(job.queue, [...(byQueue.get(job.queue) ?? []), job]);
  for (const [queue, jobs] of byQueue) await services.jobs.push(queue, jobs);
}

/**
 * What a resource type is to the gateway, and what its rules see: type-only
 * declarations. Each business module declares its types (its domain table,
 * the pure mapping to that table's columns, search parameters, `_include`s,
 * access rule, whether it holds patient data and can be subscribed to, and
 * its rules); `registry.ts` alone gathers them. Rules reach the repository
 * through the `Repository` they are handed, never by importing it, so the
 * registry, the rules and the repository form no import cycle.
 */
import type { Resource, ResourceType } from '@medplum/fhirtypes';
import type { ReferralDurations } from '../../mappings/duration.js';
import type { Row } from '../../mappings/resource-rows.js';
import type { IncludeDef, SearchParamDef, SearchQuery } from '../core/search/model.js';
import type { ScheduledJob } from '../jobs/schedule.js';
import type { Database, Queryable } from '../store/db.js';
import type { BlobInfo } from '../store/tables/blob.js';
import type { Columns, HistoryPage, VersionWrite } from '../store/tables/versions.js';
import type { SearchPage } from '../store/search.js';
import type { SqlFragment } from '../store/sql.js';
import type { AuditTrail } from './audit/trail.js';
import type { ClaimLimit } from './settings.js';
import type { Clock } from './clock.js';
import type { Principal, Role } from '../core/principal.js';

/** Who may read and write a resource type. */
export interface AccessRule {
  /** `public`: anyone, even without a token. */
  read: 'public' | readonly Role[];
  write: readonly Role[];
  /**
   * Column holding the organization that owns a row: other organizations
   * cannot see it (and are told it does not exist); `admin` sees all.
   */
  ownerColumn?: string;
  /**
   * Rows visible to an organization for other reasons (it is party to
   * them): SQL on `t`, given the caller's canonical organization key.
   */
  visibleTo?: (key: string) => SqlFragment;
  /**
   * Whether the parties of `visibleTo` may also write (their kind's rules
   * then say which side may change what). When false, only the owner writes:
   * a unit reads the patient of a request, it does not edit it.
   */
  partiesWrite?: boolean;
}

/** Who calls, and where: the database, or an open transaction (a Bundle, a job). */
export interface CallContext {
  db: Database;
  /** The transaction to run in, when the call is part of a larger one. */
  tx?: Queryable;
  principal?: Principal;
  clock: Clock;
  /** Jobs recorded by the call, told to Redis once its transaction commits. */
  scheduled?: ScheduledJob[];
  /**
   * The events of the unit of work the call belongs to, handed to the
   * listeners (audit, notifications, deadlines) before it commits; absent,
   * each write's listeners run at once, in the write's transaction.
   */
  events?: DomainEvent[];
  /** Deadlines of admission requests (defaults: seed 002's). */
  durations?: ReferralDurations;
  /** Look-ups shared by the writes of one request (e.g. the caller's organization keys). */
  memo?: Map<string, unknown>;
  /** The version the caller's update is made on (`If-Match`), for rules that require one. */
  ifMatch?: number;
  /** Subscriptions may point at local/private addresses (tests, single-host set-ups). */
  allowPrivateEndpoints?: boolean;
  /** E-mail alerts are configured: subscriptions may have an `email` channel. */
  mailAlerts?: boolean;
  /** `$claim`'s limit on failed claims (default: DEFAULT_CLAIM_LIMIT). */
  claimLimit?: ClaimLimit;
  /** Who acts, from where, and the interaction records not yet stored. */
  audit?: AuditTrail;
  /** The content sent with the call as itself (a Binary POSTed with its own Content-Type), stored already. */
  content?: BlobInfo;
}

/** The outcome of a write. */
export interface WriteResult {
  resource: Resource;
  /** Whether a new resource was created (201) rather than updated or matched (200). */
  created: boolean;
  /** For a conditional create: an existing resource matched and nothing was written. */
  matched?: boolean;
  /**
   * Nothing was written because the content is the stored one (`unchanged`),
   * or because the sender's version is not newer than the stored one (`stale`).
   */
  skipped?: 'unchanged' | 'stale';
}

/**
 * The one write path, as rules and operations see it (repository.ts
 * implements it): every create, update and bulk write of every type runs the
 * type's rules and tells the listeners.
 */
export interface Repository {
  create(ctx: CallContext, resource: Resource, options?: { ifNoneExist?: { query: SearchQuery; key: string }; id?: string }): Promise<WriteResult>;
  update(ctx: CallContext, resource: Resource, id: string, options?: { ifMatch?: number }): Promise<WriteResult>;
  /** First versions of many resources of one type, built by the gateway (tasks of a request, an import's chunk). */
  insertMany(ctx: CallContext & { tx: Queryable }, type: string, writes: VersionWrite[], options?: { prepare?: boolean }): Promise<void>;
  /** A next version built by the gateway, over a row locked by the caller. */
  writeVersion(ctx: CallContext & { tx: Queryable }, type: string, write: VersionWrite): Promise<void>;
  /** The current version (404 when missing or not visible to the caller). */
  read(ctx: CallContext, type: string, id: string): Promise<Resource>;
  /** Tells the listeners of something other than a write (e.g. activity on a request). */
  emit(ctx: CallContext, q: Queryable, event: DomainEvent): Promise<void>;
  /** The declaration of a type (404 when not stored). */
  kind(type: string): ResourceKind;
}

/** A write as a kind's rules see it: within its transaction, before or after the store. */
export interface WriteEvent {
  ctx: CallContext;
  q: Queryable;
  id: string;
  /** The resource as sent (`prepare`), or as stored (`after`). */
  resource: Resource;
  /** The current version, on an update. */
  previous?: { version: number; content: Resource };
  /** The write path, for the writes a rule makes in turn. */
  repo: Repository;
}

/** What a kind's rules store for a write: the resource, and domain columns of their own. */
export interface Prepared {
  resource: Resource;
  row?: Row;
}

/** The domain rules of a kind beyond its access rule: state machines, cascades. */
export interface KindRules {
  /** Checks the write (throwing an OperationOutcome to refuse it) and returns what to store, with domain columns of its own. */
  prepare?(event: WriteEvent): Promise<Prepared>;
  /** Follows up a stored write in the same transaction (other resources). */
  after?(event: WriteEvent): Promise<void>;
  /** Row locks to take before the resource's own, so that every writer locks in one order (e.g. a task's request first). */
  lockFirst?(q: Queryable, id: string): Promise<void>;
  /** What a read by id returns (it may move the resource, e.g. a unit's first read of a task). */
  onRead?(ctx: CallContext, resource: Resource, repo: Repository): Promise<Resource>;
  /**
   * How stored resources are shown to the caller of a read or a search (the
   * FHIR layer's answer, never what rules read): e.g. ESMS software sees a
   * decision's task in the SDO guide's shape. Absent: as stored.
   */
  present?(ctx: CallContext, resources: Resource[]): Promise<Resource[]>;
}

/** A resource type the gateway stores. */
export interface ResourceKind<T extends Resource = Resource> {
  type: T['resourceType'] & ResourceType;
  table: string;
  /** The domain columns of its table and their SQL types (store/tables/). */
  columns: Columns;
  /** Pure mapping of the resource to its table's domain columns. */
  toRow(resource: T): Row;
  /** Gateway profiles every resource of this type is validated against (canonical URLs). */
  profiles: readonly string[];
  /**
   * Profiles some resources of this type claim (meta.profile), checked when
   * they do, beyond `profiles`: supported, not asked of every resource
   * (e.g. sdo-task, for the Tasks of ESMS software).
   */
  supportedProfiles?: readonly string[];
  searchParams: readonly SearchParamDef[];
  includes: readonly IncludeDef[];
  /** `_revinclude`s accepted on it, `SourceType:param` (an `_include` of the source type pointing at this type). */
  revIncludes?: readonly string[];
  access: AccessRule;
  /** Every interaction with it is audited (AuditEvent). */
  patientData: boolean;
  /** Subscriptions may watch it (rest-hook notifications of its writes). */
  subscribable: boolean;
  /**
   * Whether a client may choose the id (update as create, `PUT Type/id` of a
   * new id): true for the directory, which the ROR pushes with its own ids;
   * false for patient data, whose ids the gateway assigns.
   */
  clientIds: boolean;
  /**
   * Directory pushes: resources carrying a national key (kept in the
   * `national_keys` column) are upserted on it, and a push whose
   * `meta.lastUpdated` is not newer than the stored one (`source_updated_at`)
   * is ignored and reported.
   */
  upsertOnNationalKeys?: boolean;
  /** Domain rules run on every write (absent: the generic store alone). */
  rules?: KindRules;
}

/**
 * What happened in a unit of work, for the listeners: a write (one
 * resource, or many of one type at once), a write that did not happen (a
 * conditional create's match, an unchanged or stale push: a read, as far as
 * the audit is concerned), or activity on an admission request outside any
 * write of its resources.
 */
export type DomainEvent =
  | { event: 'write'; action: 'created' | 'updated'; kind: ResourceKind; resources: readonly Resource[] }
  | { event: 'read-through'; kind: ResourceKind; resource: Resource; interaction: 'create' | 'update' }
  | { event: 'referral-activity'; referral: string }
  /** A security event (a lockout, a client's change): audited, with no resource written. */
  | { event: 'security'; interaction: string; action: 'C' | 'U' | 'D' | 'E'; status: number; resourceType?: string; query?: string; detail: string };

/**
 * What listens to the writes: the audit, the notifications, the deadlines.
 * A unit of work's events are handed over before it commits, in its
 * transaction, so that neither the change nor what follows from it is
 * stored without the other.
 */
export interface WriteListener {
  name: string;
  flush(ctx: ListenerContext, q: Queryable, events: readonly DomainEvent[]): Promise<void>;
  /**
   * The same work as one SQL fragment to run inside a single write's own
   * statement, when it can be written so (`null`: nothing to do for these
   * events; `undefined`: it cannot, the write takes a transaction).
   */
  inline?(ctx: ListenerContext, events: readonly DomainEvent[]): SqlFragment | null | undefined;
}

/** What the listeners read of a call: its clock, its audit trail, its jobs and the deadlines' durations. */
export type ListenerContext = Pick<CallContext, 'clock' | 'audit' | 'scheduled' | 'durations'>;

export type { HistoryPage, SearchPage, VersionWrite };

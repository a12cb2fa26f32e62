/**
 * The generic resource service: create, conditional create, update with
 * optimistic locking, read, vread, history and search, for every kind, with
 * the access layer applied. It knows neither HTTP nor FHIR URLs: callers pass
 * parsed values and get resources back or an OperationOutcome thrown.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { canonicalJson } from '../../mappings/canonical-json.js';
import { identifierKeys } from '../../mappings/resource-rows.js';
import { conflict, forbidden, notFound, preconditionFailed } from '../fhir/outcomes.js';
import type { Database, Queryable } from '../store/db.js';
import { findByNationalKeys, insertFirstVersion, lockCurrent, readCurrent, readHistory, readVersion, writeNextVersion, type HistoryPage } from '../store/resources.js';
import { authorize, mayRead, ownerColumns, visibleRows } from './access.js';
import { auditInsert, auditReadInsert, auditWrite, flushAudit, markAudited, PATIENT_DATA, type AuditTrail } from './audit.js';
import type { Clock } from './clock.js';
import { kindOf, type ResourceKind } from './kinds.js';
import type { ScheduledJob } from '../queues/schedule.js';
import type { ReferralDurations } from '../../mappings/duration.js';
import type { ClaimLimit } from './claim-limit.js';
import type { Principal } from './principal.js';
import { runSearch, type SearchPage, type SearchQuery } from './search.js';

/** Who calls, and where: the database, or an open transaction (Bundle). */
export interface CallContext {
  db: Database;
  /** The transaction to run in, when the call is part of a larger one. */
  tx?: Queryable;
  principal?: Principal;
  clock: Clock;
  /** Jobs recorded by the call, told to Redis once its transaction commits (see pushScheduled). */
  scheduled?: ScheduledJob[];
  /** Deadlines of admission requests (defaults: seed 002's). */
  durations?: ReferralDurations;
  /** Look-ups shared by the writes of one request (e.g. the caller's organization keys). */
  memo?: Map<string, unknown>;
  /** The version the caller's update is made on (`If-Match`), for rules that require one. */
  ifMatch?: number;
  /** `$claim`'s limit on failed claims (default: DEFAULT_CLAIM_LIMIT). */
  claimLimit?: ClaimLimit;
  /** Subscriptions may point at local/private addresses (tests, single-host set-ups). */
  allowPrivateEndpoints?: boolean;
  /** The audit trail the call's writes of patient data are recorded on (stored by whoever commits the transaction). */
  audit?: AuditTrail;
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

function inTransaction<T>(ctx: CallContext, fn: (q: Queryable) => Promise<T>): Promise<T> {
  return ctx.tx ? fn(ctx.tx) : ctx.db.transaction(fn);
}

function queryable(ctx: CallContext): Queryable {
  return ctx.tx ?? ctx.db;
}

/** The kind of a type, or 404 when the gateway does not store it. */
export function requireKind(type: string): ResourceKind {
  const kind = kindOf(type);
  if (!kind) throw notFound(`Resource type ${type} is not supported by this server`);
  return kind;
}

/** The resource as stored: server meta set, client-supplied version data dropped. */
export function stamp(resource: Resource, id: string, version: number, lastUpdated: string): Resource {
  const { versionId: _v, lastUpdated: _l, ...meta } = resource.meta ?? {};
  return { ...resource, id, meta: { ...meta, versionId: String(version), lastUpdated } } as Resource;
}

/** Whether two renderings say the same, server metadata aside. */
export function sameContent(a: Resource, b: Resource): boolean {
  const strip = (r: Resource): unknown => {
    const { id: _id, meta, ...rest } = r;
    const { versionId: _v, lastUpdated: _l, ...keptMeta } = meta ?? {};
    return Object.keys(keptMeta).length > 0 ? { ...rest, meta: keptMeta } : rest;
  };
  return canonicalJson(strip(a)) === canonicalJson(strip(b));
}

/** A deterministic advisory-lock key (conditional-create criteria, national keys). */
export function lockKey(type: string, criteria: string): string {
  return createHash('sha256').update(`${type}?${criteria}`).digest().readBigInt64BE(0).toString();
}

/**
 * Takes the advisory locks of these keys, in one statement and in numeric
 * order (the same order everywhere, so two writers cannot deadlock on them).
 */
export async function lockKeys(q: Queryable, type: string, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const ids = [...new Set(keys.map((k) => lockKey(type, k)))];
  await q.query('SELECT pg_advisory_xact_lock(k) FROM (SELECT k FROM unnest($1::bigint[]) AS k ORDER BY k) AS ordered', [ids]);
}

/** Why a push of `resource` over the stored version writes nothing, if it does not. */
export function skipReason(kind: ResourceKind, resource: Resource, current: { content: Resource; sourceUpdatedAt: Date | null }): WriteResult['skipped'] {
  const sentAt = resource.meta?.lastUpdated ? Date.parse(resource.meta.lastUpdated) : NaN;
  if (kind.upsertOnNationalKeys && current.sourceUpdatedAt && !Number.isNaN(sentAt) && sentAt <= current.sourceUpdatedAt.getTime()) return 'stale';
  if (sameContent(resource, current.content)) return 'unchanged';
  return undefined;
}

/** Creates a resource; with `ifNoneExist`, returns the one match instead (412 when several match). */
export async function createResource(
  ctx: CallContext,
  resource: Resource,
  options: { ifNoneExist?: { query: SearchQuery; key: string }; id?: string } = {}
): Promise<WriteResult> {
  const kind = requireKind(resource.resourceType);
  // A plain create of patient data is one statement: the resource, its history, its identifiers and its audit event.
  if (!ctx.tx && isAudited(ctx, kind) && !kind.rules && !options.ifNoneExist && !kind.upsertOnNationalKeys) return create(ctx, resource, options, ctx.audit);
  return withAudit(ctx, kind, 'create', (c) => create(c, resource, options));
}

/**
 * Runs a write and records it on the audit trail. Patient data written
 * outside any transaction gets one, which stores the write's events before
 * it commits; within a transaction, its owner stores them.
 */
async function withAudit(ctx: CallContext, kind: ResourceKind, interaction: 'create' | 'update', fn: (ctx: CallContext) => Promise<WriteResult>): Promise<WriteResult> {
  if (ctx.tx || !isAudited(ctx, kind)) return auditWrite(ctx.audit, interaction, await fn(ctx));
  const trail = ctx.audit as AuditTrail;
  return ctx.db.transaction(async (q) => {
    const result = auditWrite(trail, interaction, await fn({ ...ctx, tx: q }));
    await flushAudit(q, trail, ctx.clock.now());
    return result;
  });
}

function isAudited(ctx: CallContext, kind: ResourceKind): boolean {
  return !!ctx.audit && PATIENT_DATA.has(kind.type);
}

async function create(
  ctx: CallContext,
  resource: Resource,
  options: { ifNoneExist?: { query: SearchQuery; key: string }; id?: string },
  /** A plain create (no rules, no condition, no transaction): its event is stored by the insert itself. */
  inline?: AuditTrail
): Promise<WriteResult> {
  const kind = requireKind(resource.resourceType);
  authorize(ctx.principal, kind, 'write');
  if (kind.rules) return inTransaction(ctx, (q) => createWithRules({ ...ctx, tx: q }, kind, resource, options));
  const lastUpdated = ctx.clock.now().toISOString();
  const stored = stamp(resource, options.id ?? randomUUID(), 1, lastUpdated);
  // The row is read from the resource as sent: its meta.lastUpdated is the sender's.
  const row = { ...kind.toRow(resource as never), ...ownerColumns(ctx.principal, kind) };
  const write = { resource: stored, version: 1, lastUpdated, row, identifiers: identifierKeys((stored as { identifier?: [] }).identifier) };
  if (kind.upsertOnNationalKeys && ((row.national_keys as string[] | undefined) ?? []).length > 0) {
    return inTransaction(ctx, async (q) => {
      const holder = await findUpsertTarget(q, kind, resource);
      if (holder && options.id && holder !== options.id) {
        throw conflict(`${kind.type}/${options.id} cannot be created: its national identifier is held by ${kind.type}/${holder}`, `${kind.type}.identifier`);
      }
      if (holder) return update({ ...ctx, tx: q }, resource, holder, {});
      await insertFirstVersion(q, kind, write);
      return { resource: stored, created: true };
    });
  }
  const conditional = options.ifNoneExist;
  if (!conditional) {
    const result = { resource: stored, created: true };
    if (inline) auditWrite(inline, 'create', result);
    await insertFirstVersion(queryable(ctx), kind, write, inline ? auditInsert(inline, ctx.clock.now()) : undefined);
    return result;
  }
  return inTransaction(ctx, async (q) => {
    const match = await findConditionalMatch(q, ctx.principal, kind, conditional);
    if (match) return { resource: match, created: false, matched: true };
    await insertFirstVersion(q, kind, write);
    return { resource: stored, created: true };
  });
}

/** A create through the kind's rules, within `ctx.tx`. */
async function createWithRules(ctx: CallContext & { tx: Queryable }, kind: ResourceKind, resource: Resource, options: { ifNoneExist?: { query: SearchQuery; key: string }; id?: string }): Promise<WriteResult> {
  const q = ctx.tx;
  if (options.ifNoneExist) {
    const match = await findConditionalMatch(q, ctx.principal, kind, options.ifNoneExist);
    if (match) return { resource: match, created: false, matched: true };
  }
  const id = options.id ?? randomUUID();
  const prepared = (await kind.rules?.prepare?.({ ctx, q, id, resource })) ?? { resource };
  const lastUpdated = ctx.clock.now().toISOString();
  const stored = stamp(prepared.resource, id, 1, lastUpdated);
  const row = { ...kind.toRow(prepared.resource as never), ...ownerColumns(ctx.principal, kind), ...prepared.row };
  await insertFirstVersion(q, kind, { resource: stored, version: 1, lastUpdated, row, identifiers: identifierKeys((stored as { identifier?: [] }).identifier) });
  await kind.rules?.after?.({ ctx, q, id, resource: stored });
  return { resource: stored, created: true };
}

/**
 * The one visible resource matching a conditional create's criteria, or none
 * (412 when several match). Takes a transaction-scoped advisory lock on the
 * criteria first, so two identical conditional creates serialise: the second
 * sees the first one's row once it commits. Call within a transaction.
 */
export async function findConditionalMatch(
  q: Queryable,
  principal: Principal | undefined,
  kind: ResourceKind,
  conditional: { query: SearchQuery; key: string }
): Promise<Resource | undefined> {
  await q.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey(kind.type, conditional.key)], 'conditional-lock');
  const visible = visibleRows(principal, kind);
  const found = await runSearch(q, { ...conditional.query, count: 2, after: undefined, includes: [], total: false }, visible, () => visible, { prepare: true });
  if (found.resources.length > 1) throw preconditionFailed(`If-None-Exist matched several ${kind.type} resources`);
  return found.resources[0];
}

/**
 * The stored resource a directory push updates: the one holding its national
 * keys (409 when they are spread over several). Locks the keys for the rest
 * of the transaction, so concurrent pushes of one structure serialise.
 */
export async function findUpsertTarget(q: Queryable, kind: ResourceKind, resource: Resource): Promise<string | undefined> {
  if (!kind.upsertOnNationalKeys) return undefined;
  const keys = (kind.toRow(resource as never).national_keys as string[] | undefined) ?? [];
  if (keys.length === 0) return undefined;
  await lockKeys(q, kind.type, keys);
  const holders = await findByNationalKeys(q, kind, keys);
  if (holders.length > 1) {
    throw conflict(`The national identifiers of this ${kind.type} are held by several resources: ${holders.map((id) => `${kind.type}/${id}`).join(', ')}`, `${kind.type}.identifier`);
  }
  return holders[0];
}

/** Updates (or, where the kind allows client ids, creates) `type/id`; `ifMatch` is the expected version. */
export async function updateResource(ctx: CallContext, resource: Resource, id: string, options: { ifMatch?: number } = {}): Promise<WriteResult> {
  return withAudit(ctx, requireKind(resource.resourceType), 'update', (c) => update(c, resource, id, options));
}

async function update(ctx: CallContext, resource: Resource, id: string, options: { ifMatch?: number }): Promise<WriteResult> {
  const kind = requireKind(resource.resourceType);
  authorize(ctx.principal, kind, 'write');
  return inTransaction(ctx, async (q) => {
    await kind.rules?.lockFirst?.(q, id);
    let current = await lockCurrent(q, kind, id, visibleRows(ctx.principal, kind, 'write'), kind.upsertOnNationalKeys);
    if (!current && !kind.clientIds && (await readCurrent(q, kind, id, visibleRows(ctx.principal, kind)))) {
      throw forbidden(`${kind.type}/${id} is readable by your organization but not yours to change`);
    }
    if (!current && kind.clientIds) {
      // Two writers creating the same new id serialise here; the second then updates the first's row.
      // (with its national keys, in one sorted acquisition, as the bulk path does, so neither can deadlock the other)
      const keys = kind.upsertOnNationalKeys ? ((kind.toRow(resource as never).national_keys as string[] | undefined) ?? []) : [];
      await lockKeys(q, kind.type, [`id|${id}`, ...keys]);
      current = await lockCurrent(q, kind, id, visibleRows(ctx.principal, kind, 'write'), kind.upsertOnNationalKeys);
    }
    if (!current) {
      if (!kind.clientIds) throw notFound(`${kind.type}/${id} not found (ids of ${kind.type} are assigned by the server: create with POST)`);
      if (options.ifMatch !== undefined) throw preconditionFailed(`${kind.type}/${id} does not exist; If-Match cannot hold`);
      return create({ ...ctx, tx: q }, resource, { id });
    }
    if (options.ifMatch !== undefined && options.ifMatch !== current.version) {
      throw preconditionFailed(`Version conflict on ${kind.type}/${id}: If-Match expects version ${options.ifMatch}, current is ${current.version}`);
    }
    const event = { ctx: { ...ctx, tx: q, ifMatch: options.ifMatch }, q, id, previous: { version: current.version, content: current.content } };
    const prepared = (await kind.rules?.prepare?.({ ...event, resource })) ?? { resource };
    const skipped = skipReason(kind, prepared.resource, current);
    if (skipped) return { resource: current.content, created: false, skipped };
    const version = current.version + 1;
    const lastUpdated = ctx.clock.now().toISOString();
    const stored = stamp(prepared.resource, id, version, lastUpdated);
    await writeNextVersion(q, kind, {
      resource: stored,
      version,
      lastUpdated,
      row: { ...kind.toRow(prepared.resource as never), ...prepared.row },
      identifiers: identifierKeys((stored as { identifier?: [] }).identifier),
    });
    await kind.rules?.after?.({ ...event, resource: stored });
    return { resource: stored, created: false };
  });
}

/** Reads the current version (404 when missing or not visible to the caller). */
export async function readResource(
  ctx: CallContext,
  type: string,
  id: string,
  /** Record the read on this trail, in the read's own statement (found or not). */
  auditOn?: AuditTrail
): Promise<Resource> {
  const kind = requireKind(type);
  authorize(ctx.principal, kind, 'read');
  const also = auditOn && PATIENT_DATA.has(type) ? auditReadInsert(auditOn, type, id, ctx.clock.now()) : undefined;
  const resource = await readCurrent(queryable(ctx), kind, id, visibleRows(ctx.principal, kind), also);
  if (!resource) {
    const missing = notFound(`${type}/${id} not found`);
    if (also) markAudited(missing);
    throw missing;
  }
  return kind.rules?.onRead ? kind.rules.onRead(ctx, resource) : resource;
}

/** Reads one version. */
export async function readResourceVersion(ctx: CallContext, type: string, id: string, version: number): Promise<Resource> {
  const kind = requireKind(type);
  authorize(ctx.principal, kind, 'read');
  const resource = await readVersion(queryable(ctx), kind, id, version, visibleRows(ctx.principal, kind));
  if (!resource) throw notFound(`${type}/${id}/_history/${version} not found`);
  return resource;
}

/** History of a resource or of a type, newest first. */
export async function readResourceHistory(
  ctx: CallContext,
  type: string,
  options: { id?: string; since?: string; count: number; after?: { lastUpdated: string; id: string; version: number } }
): Promise<HistoryPage> {
  const kind = requireKind(type);
  authorize(ctx.principal, kind, 'read');
  const page = await readHistory(queryable(ctx), kind, { ...options, visible: visibleRows(ctx.principal, kind) });
  if (options.id && page.entries.length === 0 && !options.after && !options.since) throw notFound(`${type}/${options.id} not found`);
  return page;
}

/** Searches a type, restricted to what the caller may see (includes too). */
export async function searchResources(ctx: CallContext, query: SearchQuery): Promise<SearchPage> {
  authorize(ctx.principal, query.kind, 'read');
  // An _include of a type the caller may not read is dropped, not an error: it reveals nothing.
  const includes = query.includes.filter((inc) => mayRead(ctx.principal, requireKind(inc.target)));
  return runSearch(queryable(ctx), { ...query, includes }, visibleRows(ctx.principal, query.kind), (type) => visibleRows(ctx.principal, requireKind(type)));
}

/**
 * The repository: the one write path. Every create, update and bulk write of
 * every resource type goes through it: it checks the caller's right to
 * write the type, runs the type's rules (prepare, then after), stores the
 * version (domain row, history, identifiers), and records a domain event.
 * A unit of work hands its events to the listeners (notifications,
 * deadlines, audit) in its transaction, before it commits; a single write
 * outside any unit is a unit of its own, or, when the listeners' work can be
 * written as SQL, one statement with it.
 */
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { identifierKeys } from '../../mappings/resource-rows.js';
import { sameContent, stamp } from '../../mappings/versions.js';
import { conflict, forbidden, notFound, preconditionFailed } from '../core/outcomes.js';
import type { SearchQuery } from '../core/search/model.js';
import type { Queryable } from '../store/db.js';
import { readCurrentBatched } from '../store/batched-reads.js';
import { lockKeys } from '../store/locks.js';
import { runSearch } from '../store/search.js';
import type { SqlFragment } from '../store/sql.js';
import { findByNationalKeys, insertFirstVersion, insertFirstVersions, lockCurrent, readCurrent, writeNextVersion, type VersionWrite } from '../store/tables/versions.js';
import { authorize, ownerColumns, visibleRows } from './access.js';
import type { CallContext, DomainEvent, ListenerContext, Repository, ResourceKind, WriteResult } from './kind.js';
import type { Principal } from '../core/principal.js';
import { kindOf, LISTENERS } from './registry.js';

/** The kind of a type, or 404 when the gateway does not store it. */
export function requireKind(type: string): ResourceKind {
  const kind = kindOf(type);
  if (!kind) throw notFound(`Resource type ${type} is not supported by this server`);
  return kind;
}

// ---------------------------------------------------------------- units of work

/** A call within a transaction and a unit of work. */
export type UnitContext = CallContext & { tx: Queryable; events: DomainEvent[] };

/**
 * Hands a unit's events to the listeners, within `q` (the unit's
 * transaction, before it commits); the audit listener also stores the
 * records already on the trail (a Bundle's reads and refused entries).
 */
export async function flushEvents(ctx: ListenerContext, q: Queryable, events: DomainEvent[]): Promise<void> {
  // A listener's work may write in turn (never resources today); its events are handed over too.
  for (let round = 0; round === 0 || events.length > 0; round++) {
    if (round > 3) throw new Error('listeners keep writing: events do not settle');
    const taken = events.splice(0);
    for (const listener of LISTENERS) await listener.flush(ctx, q, taken);
  }
}

/**
 * Runs `fn` as a unit of work: within the caller's unit when it has one;
 * else within its transaction, or a transaction of its own; the unit's
 * events are handed to the listeners before it commits.
 */
export async function unitOfWork<T>(ctx: CallContext, fn: (ctx: UnitContext) => Promise<T>): Promise<T> {
  if (ctx.tx && ctx.events) return fn(ctx as UnitContext);
  const run = async (q: Queryable): Promise<T> => {
    const unit: UnitContext = { ...ctx, tx: q, events: [] };
    const result = await fn(unit);
    await flushEvents(unit, q, unit.events);
    return result;
  };
  return ctx.tx ? run(ctx.tx) : ctx.db.transaction(run);
}

/** Where a unit's events go since `mark`, should its work be undone (a Bundle entry's savepoint). */
export function dropEventsSince(ctx: CallContext, mark: number): void {
  if (ctx.events && ctx.events.length > mark) ctx.events.length = mark;
}

/** Records an event: in the caller's unit, or, outside any, handed to the listeners at once in `q`. */
async function emit(ctx: CallContext, q: Queryable, event: DomainEvent): Promise<void> {
  if (ctx.events) ctx.events.push(event);
  else await flushEvents(ctx, q, [event]);
}

/**
 * The listeners' work for these events as one SQL fragment, when every
 * listener can write it so (undefined otherwise): a single write then
 * needs no transaction.
 */
function inlineWork(ctx: CallContext, events: DomainEvent[]): { also?: SqlFragment } | undefined {
  const fragments: SqlFragment[] = [];
  for (const listener of LISTENERS) {
    const inline = listener.inline?.(ctx, events);
    if (inline === undefined) return undefined;
    if (inline) fragments.push(inline);
  }
  if (fragments.length > 1) return undefined;
  return { also: fragments[0] };
}

// ---------------------------------------------------------------- locks and look-ups

/** Why a push of `resource` over the stored version writes nothing, if it does not. */
export function skipReason(kind: ResourceKind, resource: Resource, current: { content: Resource; sourceUpdatedAt: Date | null }): WriteResult['skipped'] {
  const sentAt = resource.meta?.lastUpdated ? Date.parse(resource.meta.lastUpdated) : NaN;
  if (kind.upsertOnNationalKeys && current.sourceUpdatedAt && !Number.isNaN(sentAt) && sentAt <= current.sourceUpdatedAt.getTime()) return 'stale';
  if (sameContent(resource, current.content)) return 'unchanged';
  return undefined;
}

/** The national keys a directory resource is upserted on (none for other types). */
export function nationalKeysOf(kind: ResourceKind, resource: Resource): string[] {
  return kind.upsertOnNationalKeys ? ((kind.toRow(resource).national_keys as string[] | undefined) ?? []) : [];
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
  await lockKeys(q, kind.type, [conditional.key]);
  const visible = visibleRows(principal, kind);
  const found = await runSearch(q, { ...conditional.query, count: 2, after: undefined, includes: [], total: false }, visible, () => ({ table: kind.table, visible }), { prepare: true });
  if (found.resources.length > 1) throw preconditionFailed(`If-None-Exist matched several ${kind.type} resources`);
  return found.resources[0];
}

/**
 * The stored resource a directory push updates: the one holding its national
 * keys (409 when they are spread over several). Locks the keys for the rest
 * of the transaction, so concurrent pushes of one structure serialise.
 */
export async function findUpsertTarget(q: Queryable, kind: ResourceKind, resource: Resource): Promise<string | undefined> {
  const keys = nationalKeysOf(kind, resource);
  if (keys.length === 0) return undefined;
  await lockKeys(q, kind.type, keys);
  const holders = await findByNationalKeys(q, kind, keys);
  if (holders.length > 1) {
    throw conflict(`The national identifiers of this ${kind.type} are held by several resources: ${holders.map((id) => `${kind.type}/${id}`).join(', ')}`, `${kind.type}.identifier`);
  }
  return holders[0];
}

// ---------------------------------------------------------------- writes

type CreateOptions = { ifNoneExist?: { query: SearchQuery; key: string }; id?: string };

/** The first version of a resource of `kind` (its row read from `fromRow`, the resource as sent or as its rules prepared it). */
function firstVersion(ctx: CallContext, kind: ResourceKind, resource: Resource, id: string, fromRow: Resource, extra: VersionWrite['row'] = {}): VersionWrite {
  const lastUpdated = ctx.clock.now().toISOString();
  const stored = stamp(resource, id, 1, lastUpdated);
  const row = { ...kind.toRow(fromRow), ...ownerColumns(ctx.principal, kind), ...extra };
  return { resource: stored, version: 1, lastUpdated, row, identifiers: identifierKeys((stored as { identifier?: [] }).identifier) };
}

/** Creates a resource; with `ifNoneExist`, returns the one match instead (412 when several match). */
export async function createResource(ctx: CallContext, resource: Resource, options: CreateOptions = {}): Promise<WriteResult> {
  const kind = requireKind(resource.resourceType);
  authorize(ctx.principal, kind, 'write');
  // A plain create (no rules, no condition, no national key, no unit) is one statement, with what the listeners do.
  if (!ctx.tx && !kind.rules && !options.ifNoneExist && nationalKeysOf(kind, resource).length === 0) {
    // The row is read from the resource as sent: its meta.lastUpdated is the sender's.
    const write = firstVersion(ctx, kind, resource, options.id ?? randomUUID(), resource);
    const inline = inlineWork(ctx, [{ event: 'write', action: 'created', kind, resources: [write.resource] }]);
    if (inline) {
      await insertFirstVersion(ctx.db, kind, write, inline.also);
      return { resource: write.resource, created: true };
    }
  }
  return unitOfWork(ctx, (unit) => create(unit, kind, resource, options));
}

async function create(ctx: UnitContext, kind: ResourceKind, resource: Resource, options: CreateOptions): Promise<WriteResult> {
  const q = ctx.tx;
  if (options.ifNoneExist) {
    const match = await findConditionalMatch(q, ctx.principal, kind, options.ifNoneExist);
    if (match) {
      await emit(ctx, q, { event: 'read-through', kind, resource: match, interaction: 'create' });
      return { resource: match, created: false, matched: true };
    }
  }
  if (nationalKeysOf(kind, resource).length > 0) {
    const holder = await findUpsertTarget(q, kind, resource);
    if (holder && options.id && holder !== options.id) {
      throw conflict(`${kind.type}/${options.id} cannot be created: its national identifier is held by ${kind.type}/${holder}`, `${kind.type}.identifier`);
    }
    if (holder) return update(ctx, kind, resource, holder, {});
  }
  const id = options.id ?? randomUUID();
  const prepared = (await kind.rules?.prepare?.({ ctx, q, id, resource, repo: repository })) ?? { resource };
  const write = firstVersion(ctx, kind, prepared.resource, id, kind.rules ? prepared.resource : resource, prepared.row);
  await insertFirstVersion(q, kind, write);
  await emit(ctx, q, { event: 'write', action: 'created', kind, resources: [write.resource] });
  await kind.rules?.after?.({ ctx, q, id, resource: write.resource, repo: repository });
  return { resource: write.resource, created: true };
}

/** Updates (or, where the kind allows client ids, creates) `type/id`; `ifMatch` is the expected version. */
export async function updateResource(ctx: CallContext, resource: Resource, id: string, options: { ifMatch?: number } = {}): Promise<WriteResult> {
  const kind = requireKind(resource.resourceType);
  authorize(ctx.principal, kind, 'write');
  return unitOfWork(ctx, (unit) => update(unit, kind, resource, id, options));
}

async function update(ctx: UnitContext, kind: ResourceKind, resource: Resource, id: string, options: { ifMatch?: number }): Promise<WriteResult> {
  const q = ctx.tx;
  await kind.rules?.lockFirst?.(q, id);
  let current = await lockCurrent(q, kind, id, visibleRows(ctx.principal, kind, 'write'), kind.upsertOnNationalKeys);
  if (!current && !kind.clientIds && (await readCurrent(q, kind, id, visibleRows(ctx.principal, kind)))) {
    throw forbidden(`${kind.type}/${id} is readable by your organization but not yours to change`);
  }
  if (!current && kind.clientIds) {
    // Two writers creating the same new id serialise here; the second then updates the first's row.
    // (with its national keys, in one sorted acquisition, as the bulk path does, so neither can deadlock the other)
    await lockKeys(q, kind.type, [`id|${id}`, ...nationalKeysOf(kind, resource)]);
    current = await lockCurrent(q, kind, id, visibleRows(ctx.principal, kind, 'write'), kind.upsertOnNationalKeys);
  }
  if (!current) {
    if (!kind.clientIds) throw notFound(`${kind.type}/${id} not found (ids of ${kind.type} are assigned by the server: create with POST)`);
    if (options.ifMatch !== undefined) throw preconditionFailed(`${kind.type}/${id} does not exist; If-Match cannot hold`);
    return create(ctx, kind, resource, { id });
  }
  if (options.ifMatch !== undefined && options.ifMatch !== current.version) {
    throw preconditionFailed(`Version conflict on ${kind.type}/${id}: If-Match expects version ${options.ifMatch}, current is ${current.version}`);
  }
  const event = { ctx: { ...ctx, ifMatch: options.ifMatch }, q, id, previous: { version: current.version, content: current.content }, repo: repository };
  const prepared = (await kind.rules?.prepare?.({ ...event, resource })) ?? { resource };
  const skipped = skipReason(kind, prepared.resource, current);
  if (skipped) {
    await emit(ctx, q, { event: 'read-through', kind, resource: current.content, interaction: 'update' });
    return { resource: current.content, created: false, skipped };
  }
  const version = current.version + 1;
  const lastUpdated = ctx.clock.now().toISOString();
  const stored = stamp(prepared.resource, id, version, lastUpdated);
  await writeNextVersion(q, kind, {
    resource: stored,
    version,
    lastUpdated,
    row: { ...kind.toRow(prepared.resource), ...prepared.row },
    identifiers: identifierKeys((stored as { identifier?: [] }).identifier),
  });
  await emit(ctx, q, { event: 'write', action: 'updated', kind, resources: [stored] });
  await kind.rules?.after?.({ ...event, resource: stored });
  return { resource: stored, created: false };
}

/** First versions of many resources of one type, built by the gateway (a request's tasks, an import's chunk): one statement, one event. */
export async function insertMany(ctx: CallContext & { tx: Queryable }, type: string, writes: VersionWrite[], options: { prepare?: boolean } = {}): Promise<void> {
  if (writes.length === 0) return;
  const kind = requireKind(type);
  await insertFirstVersions(ctx.tx, kind, writes, options);
  await emit(ctx, ctx.tx, { event: 'write', action: 'created', kind, resources: writes.map((w) => w.resource) });
}

/** A next version built by the gateway, over a row the caller locked (an import's re-imported decision). */
export async function writeVersion(ctx: CallContext & { tx: Queryable }, type: string, write: VersionWrite): Promise<void> {
  const kind = requireKind(type);
  await writeNextVersion(ctx.tx, kind, write);
  await emit(ctx, ctx.tx, { event: 'write', action: 'updated', kind, resources: [write.resource] });
}

/** Records that a write did not happen for this resource (an unchanged or stale push in bulk): a read to the audit. */
export async function writeSkipped(ctx: CallContext & { tx: Queryable }, kind: ResourceKind, resource: Resource, interaction: 'create' | 'update'): Promise<void> {
  await emit(ctx, ctx.tx, { event: 'read-through', kind, resource, interaction });
}

/** Reads the current version (404 when missing or not visible to the caller), as the kind's rules see a read. */
export async function readResource(ctx: CallContext, type: string, id: string): Promise<Resource> {
  const kind = requireKind(type);
  authorize(ctx.principal, kind, 'read');
  const visible = visibleRows(ctx.principal, kind);
  // Outside a transaction, concurrent reads share a statement.
  const resource = await (ctx.tx ? readCurrent(ctx.tx, kind, id, visible) : readCurrentBatched(ctx.db, kind, id, visible));
  if (!resource) throw notFound(`${type}/${id} not found`);
  return kind.rules?.onRead ? kind.rules.onRead(ctx, resource, repository) : resource;
}

/** The repository as the rules are handed it. */
export const repository: Repository = {
  create: createResource,
  update: updateResource,
  insertMany,
  writeVersion,
  read: readResource,
  emit,
  kind: requireKind,
};

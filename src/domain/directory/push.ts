/**
 * Directory pushes in bulk: many resources of one directory type written in
 * a few statements (lock their keys, lock and read the current rows, find the
 * holders of their national keys, insert every new one at once, update the
 * rest one by one), with exactly the rules of a single push: upsert on
 * national keys, stale pushes ignored, unchanged ones writing nothing. The
 * ROR sends tens of thousands of resources at a time; this path spares a
 * round trip per resource and per check. It writes through the repository's
 * bulk writes, so the listeners hear of every write.
 */
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { identifierKeys } from '../../../mappings/resource-rows.js';
import { stamp } from '../../../mappings/versions.js';
import { conflict, type FhirError } from '../../core/outcomes.js';
import type { Queryable } from '../../store/db.js';
import { lockKeys } from '../../store/locks.js';
import { lockCurrents, nationalKeyHolders, type VersionWrite } from '../../store/tables/versions.js';
import { authorize } from '../access.js';
import type { CallContext, ResourceKind, WriteResult } from '../kind.js';
import { insertMany, skipReason, writeSkipped, writeVersion } from '../repository.js';

/** One resource to write: `PUT Type/id` (id given) or `POST Type`. */
export interface BatchItem {
  resource: Resource;
  id?: string;
}

/** What became of each item, in order: a result, or the error it alone gets. */
export type BatchOutcome = { result: WriteResult } | { error: FhirError };

interface Current {
  version: number;
  content: Resource;
  sourceUpdatedAt: Date | null;
}

/** Writes `items` (all of `kind`, a directory type) within `tx`. */
export async function writeDirectoryBatch(ctx: CallContext & { tx: Queryable }, kind: ResourceKind, items: BatchItem[]): Promise<BatchOutcome[]> {
  authorize(ctx.principal, kind, 'write');
  const q = ctx.tx;
  const rows = items.map((item) => kind.toRow(item.resource as never));
  const keysOf = rows.map((row) => (row.national_keys as string[] | undefined) ?? []);
  const allKeys = [...new Set(keysOf.flat())];
  // The ids asked for are locked with the keys, so a concurrent push creating one of them waits instead of colliding.
  await lockKeys(q, kind.type, [...allKeys, ...items.flatMap((item) => (item.id ? [`id|${item.id}`] : []))]);
  const holders = await nationalKeyHolders(q, kind, allKeys);
  const ids = new Set<string>(items.flatMap((item) => (item.id ? [item.id] : [])));
  for (const list of holders.values()) for (const id of list) ids.add(id);
  // What each id holds so far: its stored version, then whatever this batch wrote over it.
  const state = new Map<string, Current>(await lockCurrents(q, kind, [...ids].sort()));

  const creates: VersionWrite[] = [];
  const updates: VersionWrite[] = [];
  const outcomes: BatchOutcome[] = [];
  const now = ctx.clock.now().toISOString();
  for (let i = 0; i < items.length; i++) {
    const { resource } = items[i];
    const keyHolders = [...new Set(keysOf[i].flatMap((key) => holders.get(key) ?? []))];
    if (keyHolders.length > 1) {
      outcomes.push({ error: conflict(`The national identifiers of this ${kind.type} are held by several resources: ${keyHolders.map((h) => `${kind.type}/${h}`).join(', ')}`, `${kind.type}.identifier`) });
      continue;
    }
    const holder = keyHolders[0];
    const asked = items[i].id;
    if (asked && holder && holder !== asked && !state.has(asked)) {
      outcomes.push({ error: conflict(`${kind.type}/${asked} cannot be created: its national identifier is held by ${kind.type}/${holder}`, `${kind.type}.identifier`) });
      continue;
    }
    const id = asked ?? holder ?? randomUUID();
    const current = state.get(id);
    if (current) {
      const skipped = skipReason(kind, resource, current);
      if (skipped) {
        await writeSkipped(ctx, kind, current.content, 'update');
        outcomes.push({ result: { resource: current.content, created: false, skipped } });
        continue;
      }
    }
    const version = (current?.version ?? 0) + 1;
    const stored = stamp(resource, id, version, now);
    const write: VersionWrite = { resource: stored, version, lastUpdated: now, row: rows[i], identifiers: identifierKeys((stored as { identifier?: [] }).identifier) };
    (current ? updates : creates).push(write);
    const sent = rows[i].source_updated_at;
    state.set(id, { version, content: stored, sourceUpdatedAt: typeof sent === 'string' ? new Date(sent) : (current?.sourceUpdatedAt ?? null) });
    for (const key of keysOf[i]) holders.set(key, [id]);
    outcomes.push({ result: { resource: stored, created: !current } });
  }
  // New rows first: a later entry of the batch may update one of them.
  await insertMany(ctx, kind.type, creates);
  for (const w of updates) await writeVersion(ctx, kind.type, w);
  return outcomes;
}

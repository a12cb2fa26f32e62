/**
 * The read path: versions, histories and searches, restricted by the access
 * layer to what the caller may see (a read by id is the repository's, as
 * rules may move what they read). No audit here: the FHIR layer records
 * every interaction with patient data, reads included, in one place.
 */
import type { Resource } from '@medplum/fhirtypes';
import { forbidden, notFound } from '../core/outcomes.js';
import type { SearchQuery } from '../core/search/model.js';
import { runSearch, type SearchPage } from '../store/search.js';
import type { SqlFragment } from '../store/sql.js';
import { readHistory, readVersion, type HistoryPage } from '../store/tables/versions.js';
import { authorize, mayRead, visibleRows } from './access.js';
import type { CallContext, WriteResult } from './kind.js';
import { requireKind } from './repository.js';

/** Reads one version. */
export async function readResourceVersion(ctx: CallContext, type: string, id: string, version: number): Promise<Resource> {
  const kind = requireKind(type);
  authorize(ctx.principal, kind, 'read');
  const resource = await readVersion(ctx.tx ?? ctx.db, kind, id, version, visibleRows(ctx.principal, kind));
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
  const page = await readHistory(ctx.tx ?? ctx.db, kind, { ...options, visible: visibleRows(ctx.principal, kind) });
  if (options.id && page.entries.length === 0 && !options.after && !options.since) throw notFound(`${type}/${options.id} not found`);
  return page;
}

/** Searches a type, restricted to what the caller may see (includes too). */
export async function searchResources(ctx: CallContext, query: SearchQuery): Promise<SearchPage> {
  const kind = requireKind(query.kind.type);
  authorize(ctx.principal, kind, 'read');
  // An _include of a type the caller may not read is dropped, not an error: it reveals nothing.
  const includes = query.includes.filter((inc) => mayRead(ctx.principal, requireKind(inc.reverse ? inc.source.type : inc.def.target)) && mayRead(ctx.principal, requireKind(inc.source.type)));
  // _has reads the source type's rows: the caller must be allowed to search it.
  for (const has of query.has ?? []) {
    const source = requireKind(has.source.type);
    authorize(ctx.principal, source, 'read');
    if (!mayRead(ctx.principal, source)) throw forbidden(`The token's scopes do not allow reading ${source.type} (_has)`);
  }
  const targetOf = (type: string): { table: string; visible: SqlFragment } => {
    const target = requireKind(type);
    return { table: target.table, visible: visibleRows(ctx.principal, target) };
  };
  return runSearch(ctx.tx ?? ctx.db, { ...query, includes }, visibleRows(ctx.principal, kind), targetOf);
}

/** Resources as the caller is shown them (each kind's `present` rule, in order; as stored when it has none). */
export async function presentResources(ctx: CallContext, resources: Resource[]): Promise<Resource[]> {
  const shown = [...resources];
  for (const type of new Set(resources.map((r) => r.resourceType))) {
    const rules = requireKind(type).rules;
    if (!rules?.present) continue;
    const at = shown.flatMap((r, i) => (r.resourceType === type ? [i] : []));
    const presented = await rules.present(ctx, at.map((i) => shown[i]));
    at.forEach((i, n) => (shown[i] = presented[n]));
  }
  return shown;
}

/** A write's outcome as the caller is shown it: its resource presented as a read presents it. */
export async function presentWrite(ctx: CallContext, result: WriteResult): Promise<WriteResult> {
  const [resource] = await presentResources(ctx, [result.resource]);
  return { ...result, resource };
}

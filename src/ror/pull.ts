/**
 * Pulling the directory from a ROR FHIR API. A full load uses bulk
 * `$export` (kick-off, poll `Content-Location`, download the files); a delta
 * asks for `HealthcareService?_lastUpdated=ge…` with its organizations and
 * locations included, following `Bundle.link[next]`. Where a pull stands
 * (status URL, files and offset, next page) lives in `ror_sync` and moves in
 * the same transaction as the resources it applies, so a crash or restart
 * resumes exactly there: nothing skipped, nothing applied twice (and a
 * resource applied again would be "unchanged" anyway).
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { toFhirError } from '../core/outcomes.js';
import type { Clock } from '../domain/clock.js';
import { writeDirectoryBatch } from '../domain/directory/push.js';
import type { Principal } from '../core/principal.js';
import { kindOf } from '../domain/registry.js';
import { flushEvents, requireKind, type UnitContext } from '../domain/repository.js';
import type { Validator } from '../fhir/validation.js';
import type { Database, Queryable } from '../store/db.js';
import { addPullCounts, completePull, failPull, insertPull, lastCompletedPull, loadPull, lockPulls, movePull, runningPull, type SyncRow } from '../store/tables/ror-sync.js';
import { RorError, type RorClient } from './client.js';

export type { SyncRow };

/** The directory types a pull applies. */
const TYPES = ['Organization', 'Location', 'HealthcareService'];
const CHUNK = 500;
const SYNC_PRINCIPAL: Principal = { clientId: 'ror-sync', roles: ['ror'] };

/** What a pull needs. */
export interface PullDeps {
  db: Database;
  validator: Validator;
  clock: Clock;
  client: RorClient;
  /** Called after each committed step with the counters so far. */
  onProgress?: (progress: SyncRow) => void;
  /** Delay between two polls of an export status, when the server sends no Retry-After (ms). */
  pollDelayMs?: number;
}

/** The running pull, or a new one: `full` or `delta` as asked, `auto` = delta after a completed pull, full otherwise. */
export async function openSync(db: Database, mode: 'full' | 'delta' | 'auto', now: Date, pageSize = 200): Promise<string> {
  return db.transaction(async (tx) => {
    await lockPulls(tx);
    const running = await runningPull(tx);
    if (running) return running;
    const since = await lastCompletedPull(tx);
    const effective = mode === 'full' || !since ? 'full' : 'delta';
    const id = randomUUID();
    const sinceIso = effective === 'delta' ? new Date(since as Date).toISOString() : null;
    // A delta starts at its first page and follows `next` links; no next URL left means it is done.
    const firstPage = sinceIso
      ? `HealthcareService?_lastUpdated=ge${encodeURIComponent(sinceIso)}&_include=HealthcareService:organization&_include=HealthcareService:location&_count=${pageSize}`
      : null;
    await insertPull(tx, { id, mode: effective, since: sinceIso, startedAt: now.toISOString(), nextUrl: firstPage });
    return id;
  });
}

async function load(q: Queryable, id: string, lock = false): Promise<SyncRow> {
  const row = await loadPull(q, id, lock);
  if (!row) throw new Error(`no ROR sync ${id}`);
  return row;
}

/** The resources of an export file: a Bundle, a JSON array, or NDJSON. */
export function resourcesOfFile(text: string): Resource[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  if (trimmed.startsWith('[')) return JSON.parse(trimmed) as Resource[];
  if (trimmed.startsWith('{')) {
    try {
      const value = JSON.parse(trimmed) as Resource;
      if (value.resourceType === 'Bundle') return ((value).entry ?? []).map((e) => e.resource).filter((r): r is Resource => !!r);
      return [value];
    } catch {
      // several objects, one per line
    }
  }
  return trimmed.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Resource);
}

/** One rejected resource, for the pull's report. */
function rejection(resource: Resource, err: unknown): { resource: string; error: string } {
  const fhirError = toFhirError(err);
  if (!fhirError) throw err;
  return { resource: `${resource.resourceType}/${resource.id ?? '?'}`, error: fhirError.outcome.issue.map((i) => `${i.expression?.[0] ?? ''} ${i.diagnostics ?? ''}`.trim()).join('; ') };
}

/**
 * Applies resources in one transaction, with the progress update `advance`:
 * each is validated, then every type goes through the bulk directory writer
 * (the rules of a single push), under a savepoint of its own.
 */
async function applyChunk(deps: PullDeps, id: string, resources: Resource[], advance: (tx: Queryable) => Promise<void>): Promise<void> {
  await deps.db.transaction(async (tx) => {
    const row = await load(tx, id, true);
    if (row.state !== 'running') return;
    let applied = 0;
    let skipped = 0;
    const errors: { resource: string; error: string }[] = [];
    const byType = new Map<string, Resource[]>();
    for (const resource of resources) {
      const kind = resource && TYPES.includes(resource.resourceType) ? kindOf(resource.resourceType) : undefined;
      if (!kind) {
        skipped++;
        continue;
      }
      try {
        deps.validator.validate(resource, kind.profiles);
        byType.set(kind.type, [...(byType.get(kind.type) ?? []), resource]);
      } catch (err) {
        errors.push(rejection(resource, err));
      }
    }
    const unit: UnitContext = { db: deps.db, tx, principal: SYNC_PRINCIPAL, clock: deps.clock, events: [] };
    for (const [type, group] of byType) {
      // A database error here fails the whole chunk: the job retries it, progress untouched.
      const outcomes = await writeDirectoryBatch(unit, requireKind(type), group.map((resource) => ({ resource, id: resource.id })));
      outcomes.forEach((o, i) => {
        if ('error' in o) errors.push(rejection(group[i], o.error));
        else if (o.result.skipped) skipped++;
        else applied++;
      });
    }
    await flushEvents(unit, tx, unit.events);
    await addPullCounts(tx, id, { applied, skipped, errors });
    await advance(tx);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs (or resumes) a pull until it completes. `stopAfterSteps` ends the
 * run early, as a crash would, after that many committed steps.
 */
export async function runSync(deps: PullDeps, id: string, options: { stopAfterSteps?: number } = {}): Promise<SyncRow> {
  let steps = 0;
  // The export file being applied, downloaded once for all its chunks.
  const file: FileCache = {};
  const stepDone = async (): Promise<boolean> => {
    steps++;
    deps.onProgress?.(await load(deps.db, id));
    return options.stopAfterSteps !== undefined && steps >= options.stopAfterSteps;
  };
  try {
    for (;;) {
      const row = await load(deps.db, id);
      if (row.state !== 'running') return row;
      if (row.mode === 'full') {
        if (!row.status_url && !row.files) {
          await kickOff(deps, id);
        } else if (!row.files) {
          await poll(deps, row);
        } else if (row.file_index < row.files.length) {
          await applyFilePart(deps, row, file);
        } else {
          await finish(deps, id);
        }
      } else if (row.next_url) {
        await applyPage(deps, row);
      } else {
        await finish(deps, id);
      }
      if (await stepDone()) return load(deps.db, id);
    }
  } catch (err) {
    if (err instanceof RorError && err.status !== undefined && err.status >= 400 && err.status < 500 && err.status !== 429) {
      // The server refuses the request itself: retrying will not help.
      await failPull(deps.db, id, err.message);
      return load(deps.db, id);
    }
    throw err;
  }
}

async function kickOff(deps: PullDeps, id: string): Promise<void> {
  const res = await deps.client.request(`$export?_type=${TYPES.join(',')}`, { headers: { Prefer: 'respond-async' } });
  const location = res.headers.get('content-location');
  await res.body?.cancel();
  if (res.status !== 202 || !location) throw new RorError(`$export kick-off answered ${res.status}${location ? '' : ' without Content-Location'}`, res.status === 202 ? 502 : res.status);
  await movePull(deps.db, id, { statusUrl: location });
}

async function poll(deps: PullDeps, row: SyncRow): Promise<void> {
  for (;;) {
    const res = await deps.client.request(row.status_url as string);
    if (res.status === 202) {
      const retryAfter = Number(res.headers.get('retry-after'));
      await res.body?.cancel();
      await sleep(Number.isFinite(retryAfter) && res.headers.has('retry-after') ? retryAfter * 1000 : (deps.pollDelayMs ?? 2_000));
      continue;
    }
    if (!res.ok) throw new RorError(`$export status answered ${res.status}`, res.status);
    const manifest = (await res.json()) as { output?: { type?: string; url: string }[] };
    const files = (manifest.output ?? []).filter((f) => !f.type || TYPES.includes(f.type));
    await movePull(deps.db, row.id, { files });
    return;
  }
}

interface FileCache {
  url?: string;
  resources?: Resource[];
}

async function applyFilePart(deps: PullDeps, row: SyncRow, file: FileCache): Promise<void> {
  const { url } = (row.files as { url: string }[])[row.file_index];
  if (file.url !== url) {
    const res = await deps.client.request(url, { headers: { Accept: 'application/fhir+json, application/json, application/fhir+ndjson' } });
    if (!res.ok) throw new RorError(`export file ${url} answered ${res.status}`, res.status);
    file.resources = resourcesOfFile(await res.text());
    file.url = url;
  }
  const resources = file.resources as Resource[];
  const end = Math.min(row.file_offset + CHUNK, resources.length);
  await applyChunk(deps, row.id, resources.slice(row.file_offset, end), async (tx) => {
    const nextFile = end >= resources.length;
    await movePull(tx, row.id, { fileIndex: nextFile ? row.file_index + 1 : row.file_index, fileOffset: nextFile ? 0 : end });
  });
}

/** Applies one delta page and moves to the next. */
async function applyPage(deps: PullDeps, row: SyncRow): Promise<void> {
  const page = await deps.client.getJson<Bundle>(row.next_url as string);
  const resources = (page.entry ?? []).map((e) => e.resource).filter((r): r is Resource => !!r);
  // Referenced structures and places first, then the units.
  resources.sort((a, b) => TYPES.indexOf(a.resourceType) - TYPES.indexOf(b.resourceType));
  const next = page.link?.find((l) => l.relation === 'next')?.url ?? null;
  await applyChunk(deps, row.id, resources, async (tx) => {
    await movePull(tx, row.id, { nextUrl: next });
  });
}

async function finish(deps: PullDeps, id: string): Promise<void> {
  await completePull(deps.db, id, deps.clock.now().toISOString());
}

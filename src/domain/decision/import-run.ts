/**
 * Running an MDPH import: a worker streams the stored file through the CSV
 * parser and applies it in chunks (import-write.ts); each chunk's decisions,
 * persons, tasks, rejected rows and progress counter commit together, so a
 * worker killed mid-file resumes after the last committed chunk, with
 * neither duplicates nor gaps. A record the parser cannot read is a rejected
 * row, like a bad cell.
 */
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { checkHeader, parseRow, type Column, type RowError } from '../../../mappings/decision/file.js';
import { notFound } from '../../core/outcomes.js';
import type { ScheduledJob } from '../../jobs/schedule.js';
import { setLocal, type Database } from '../../store/db.js';
import {
  appliedChunks,
  claimChunk,
  importProgress,
  importToRun,
  insertErrors,
  markCompleted,
  markFailed,
  markRunning,
  readPart,
  recountChunk,
  refreshDecisionStatistics,
} from '../../store/tables/decision-import.js';
import { auditTrail, type AuditTrail } from '../audit/trail.js';
import type { Clock } from '../clock.js';
import type { Principal } from '../../core/principal.js';
import { flushEvents, type UnitContext } from '../repository.js';
import { importSummary } from './import-report.js';
import { writeDecisions, type Grouped } from './import-write.js';

/** Rows applied per transaction. */
export const CHUNK_ROWS = 2_000;

async function* partsOf(db: Database, importId: string, encoding: string, read: { bytes: number }): AsyncGenerator<string> {
  const decoder = new TextDecoder(encoding === 'latin1' ? 'latin1' : 'utf-8');
  for (let seq = 0; ; seq++) {
    const data = await readPart(db, importId, seq);
    if (!data) break;
    read.bytes += data.length;
    yield decoder.decode(data, { stream: true });
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}

/** What the importer needs. */
export interface ImportDeps {
  db: Database;
  clock: Clock;
  /** Tells Redis of the notification jobs a chunk recorded (after its commit). */
  push?: (jobs: ScheduledJob[]) => Promise<void>;
  /** Called after each committed chunk (tests stop a run here; the CLI shows progress). */
  /** After each chunk: its rows (chunks of the lanes interleave: `lastRow` is a position in the file, not a count). */
  onChunk?: (progress: { rows: number; lastRow: number; bytes: number }) => Promise<void> | void;
}

/**
 * Chunks applied at once, each in its own transaction and connection: rows
 * are dealt into this many lanes by person (FNV-1a of the individual number),
 * and a lane's chunks run one after another. Chunks running side by side thus
 * share no person and no decision (a decision is one person's), and need no
 * lock between them.
 */
const LANES = 3;

function laneOf(individual: string | undefined): number {
  let hash = 0x811c9dc5;
  const text = (individual ?? '').trim();
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % LANES;
}

/** A data row of the file: its number, its cells, or why the CSV parser could not read it. */
interface FileRow {
  n: number;
  cells: string[];
  unreadable?: string;
}

/** Rows waiting in a lane, and the lane's chunk being applied. */
interface Lane {
  rows: FileRow[];
  running: Promise<void>;
}

/** A record the CSV parser skipped: after how many records, at which line, why. */
interface Skipped {
  records: number;
  lines: number;
  code: string;
  message: string;
}

/** Parser errors that end the file rather than one record (an unclosed quote runs to the end). */
const FILE_ERRORS = new Set(['CSV_QUOTE_NOT_CLOSED']);

/** Runs (or resumes) an import to its end. */
export async function runImport(deps: ImportDeps, importId: string): Promise<{ state: string; rowsDone: number; rowsOk: number; rowsRejected: number }> {
  const job = await importToRun(deps.db, importId);
  if (!job) throw notFound(`Import ${importId} not found`);
  if (job.state === 'completed' || job.state === 'failed') return importSummary(deps.db, importId);
  await markRunning(deps.db, importId);
  const applied = await appliedChunks(deps.db, importId);
  // The chunks' writes are the importing MDPH's, audited under its name.
  const trail = auditTrail({ principal: job.principal, requestId: `import-${importId}` });
  const read = { bytes: 0 };
  // A record the parser cannot read (a quote inside an unquoted cell, text after a closing quote, a record over
  // 64 KiB) is a rejected row, like a bad cell; the parser tells of it between the records it emits.
  const skipped: Skipped[] = [];
  const parser = Readable.from(partsOf(deps.db, importId, job.encoding, read)).pipe(
    parse({
      delimiter: ';',
      bom: true,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: false,
      max_record_size: 64 * 1024,
      skip_records_with_error: true,
      on_skip: (err) => {
        if (!err) return;
        const info = err as unknown as { records: number; lines: number; code: string };
        const last = skipped[skipped.length - 1];
        // One record may be told of more than once (a quote per bad cell).
        if (last && last.records === info.records && last.lines === info.lines) return;
        skipped.push({ records: info.records, lines: info.lines, code: info.code, message: err.message });
      },
    })
  );
  let header: Column[] | undefined;
  let rowNumber = 0; // data rows, 1-based; the header is line 1
  const lanes: Lane[] = Array.from({ length: LANES }, () => ({ rows: [], running: Promise.resolve() }));
  const today = deps.clock.now().toISOString().slice(0, 10);
  let failure: unknown;
  let chunkCount = 0;
  let decisionColumn = -1;
  let individualColumn = -1;
  let previous: { decision: string | undefined; lane: number } = { decision: undefined, lane: 0 };
  // Chunks are numbered in the order they fill, which depends on the file alone: a resumed run skips those committed.
  const launch = async (lane: Lane): Promise<void> => {
    const rowsOfChunk = lane.rows;
    lane.rows = [];
    const chunkNo = chunkCount++;
    if (applied.has(chunkNo)) return; // committed by an earlier run
    await lane.running;
    if (failure) return;
    lane.running = applyChunk(deps, { importId, dept: job.department, principal: job.principal, trail }, header as Column[], chunkNo, rowsOfChunk, today, read).catch((err: unknown) => {
      failure ??= err;
    });
  };
  const launchRest = async (): Promise<void> => {
    for (const lane of lanes) if (lane.rows.length > 0) await launch(lane);
  };
  const drain = async (): Promise<void> => {
    await Promise.all(lanes.map((l) => l.running));
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- a lane's own error, rethrown as it was caught
    if (failure) throw failure;
  };
  let emitted = 0;
  let fileError: string | undefined;
  const add = async (row: FileRow, cells: string[]): Promise<void> => {
    // A decision's rows go where its first row went (a decision is one person's; its first row names the person).
    const decision = cells[decisionColumn];
    const laneNo = row.unreadable ? previous.lane : decision === previous.decision ? previous.lane : laneOf(cells[individualColumn]);
    previous = { decision: row.unreadable ? previous.decision : decision, lane: laneNo };
    const lane = lanes[laneNo];
    // A full chunk ends where the decision changes, so that a decision's rows are applied together.
    const last = lane.rows[lane.rows.length - 1];
    if ((lane.rows.length >= CHUNK_ROWS && decision !== last.cells[decisionColumn]) || lane.rows.length >= CHUNK_ROWS * 5) await launch(lane);
    lane.rows.push(row);
  };
  /** The records the parser skipped before the `emitted`-th: rejected rows in their place (or the header's failure). */
  const addSkipped = async (): Promise<boolean> => {
    while (skipped.length > 0 && skipped[0].records <= emitted) {
      const skip = skipped.shift() as Skipped;
      if (FILE_ERRORS.has(skip.code)) {
        fileError = skip.message;
        continue;
      }
      if (!header) {
        await fail(deps.db, importId, `Header line: not valid CSV (${skip.message})`);
        return false;
      }
      rowNumber++;
      await add({ n: rowNumber, cells: [], unreadable: `not valid CSV: ${skip.message}; a cell holding a quote (") is itself quoted, its quotes doubled` }, []);
    }
    return true;
  };
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (failure) break;
      if (!(await addSkipped())) return importSummary(deps.db, importId);
      emitted++;
      if (!header) {
        const problem = checkHeader(record);
        if (problem) {
          await fail(deps.db, importId, `Header line: ${problem}`);
          return importSummary(deps.db, importId);
        }
        header = record.map((h) => h.trim().toLowerCase() as Column);
        decisionColumn = header.indexOf('id_decision');
        individualColumn = header.indexOf('numero_individu');
        continue;
      }
      rowNumber++;
      await add({ n: rowNumber, cells: record }, record);
    }
    if (!failure && !(await addSkipped())) return importSummary(deps.db, importId);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('CSV_')) {
      await launchRest();
      await drain();
      await fail(deps.db, importId, `The file is not valid CSV after data row ${rowNumber}: ${(err as Error).message}`);
      return importSummary(deps.db, importId);
    }
    await Promise.allSettled(lanes.map((l) => l.running));
    throw err;
  }
  await drain();
  if (!header) {
    await fail(deps.db, importId, fileError ? `The file is not valid CSV: ${fileError}` : 'The file has no header line');
    return importSummary(deps.db, importId);
  }
  await launchRest();
  await drain();
  if (fileError) {
    await fail(deps.db, importId, `The file is not valid CSV after data row ${rowNumber}: ${fileError}`);
    return importSummary(deps.db, importId);
  }
  // A large import changes the tables' statistics: refresh them now rather than at autovacuum's pace, and vacuum
  // the decisions so that indicators read them from their index alone. This is part of the import: it is done
  // before the import says it is completed (VACUUM runs on its own, outside any transaction; run again, it is harmless).
  if ((await importProgress(deps.db, importId)).rows_ok >= 10_000) await refreshDecisionStatistics(deps.db);
  await deps.db.transaction((q) => markCompleted(q, importId));
  return importSummary(deps.db, importId);
}

/**
 * A message as PostgreSQL can store it. Reports quote the file's bad values,
 * and a text value cannot hold a NUL byte: it is written as `\u0000`.
 */
function storable(message: string): string {
  return message.replaceAll('\u0000', '\\u0000');
}

async function fail(db: Database, importId: string, error: string): Promise<void> {
  await db.transaction((q) => markFailed(q, importId, storable(error)));
}

/** Applies one chunk of rows in one transaction, with the progress counter. */
async function applyChunk(
  deps: ImportDeps,
  work: { importId: string; dept: string; principal: Principal; trail: AuditTrail },
  header: Column[],
  chunkNo: number,
  chunk: FileRow[],
  today: string,
  read: { bytes: number }
): Promise<void> {
  const errors: { n: number; error: RowError }[] = [];
  const decisions = new Map<string, Grouped>();
  let ok = 0;
  for (const { n, cells, unreadable } of chunk) {
    if (unreadable) {
      errors.push({ n, error: { column: '', reason: unreadable } });
      continue;
    }
    if (cells.length !== header.length) {
      errors.push({ n, error: { column: '', reason: `expected ${header.length} fields, found ${cells.length}` } });
      continue;
    }
    const byColumn: Partial<Record<Column, string>> = {};
    header.forEach((c, i) => (byColumn[c] = cells[i]));
    const parsed = parseRow(byColumn, today);
    if (!parsed.row) {
      for (const error of parsed.errors) errors.push({ n, error });
      continue;
    }
    ok++;
    const grouped = decisions.get(parsed.row.idDecision);
    if (grouped) {
      if (parsed.row.finess) grouped.targets.add(parsed.row.finess);
      grouped.rows.push(n);
    } else {
      decisions.set(parsed.row.idDecision, { row: parsed.row, targets: new Set(parsed.row.finess ? [parsed.row.finess] : []), rows: [n] });
    }
  }
  const { importId, dept } = work;
  let scheduled: ScheduledJob[] = [];
  const apply = () =>
    deps.db.transaction(async (q) => {
      scheduled = [];
      // The chunk's rows and its progress row commit together: should a crash lose this commit
      // (not yet flushed to disk), the chunk is simply applied again when the import resumes.
      // Generic plans: the chunk's arrays stay parameters, instead of constants the planner would copy (megabytes each).
      if (deps.db.kind === 'postgres') await setLocal(q, { synchronous_commit: 'off', plan_cache_mode: 'force_generic_plan' });
      const now = deps.clock.now().toISOString();
      // The chunk is recorded first: a second run of the same chunk waits here, then finds it done.
      const mine = await claimChunk(q, { importId, chunkNo, lastRow: chunk[chunk.length - 1].n, rows: chunk.length, ok, rejected: new Set(errors.map((e) => e.n)).size });
      if (!mine) return;
      // No lock against the chunks running beside it: they share no person (see LANES). Should one
      // create a person or a decision this chunk creates too (a decision naming several persons, or
      // another import of the department), one insert fails on its key, and the chunk is applied again.
      const unit: UnitContext = { db: deps.db, tx: q, principal: work.principal, clock: deps.clock, scheduled, events: [], audit: { ...work.trail, pending: [] } };
      const refused = await writeDecisions(unit, dept, [...decisions.values()], now);
      await flushEvents(unit, q, unit.events);
      const rowErrors = [...errors, ...refused.flatMap((d) => d.rows.map((n) => ({ n, error: d.error })))];
      if (refused.length > 0) await recountChunk(q, importId, chunkNo, ok - refused.reduce((sum, d) => sum + d.rows.length, 0), new Set(rowErrors.map((e) => e.n)).size);
      await insertErrors(q, importId, rowErrors.map((e) => ({ line: e.n + 1, column: e.error.column, reason: storable(e.error.reason) })));
    });
  for (let attempt = 1; ; attempt++) {
    try {
      await apply();
      break;
    } catch (err) {
      // Rolled back whole: applied again, it reads what the other chunk committed meanwhile.
      const code = (err as { code?: string }).code;
      if ((code !== '23505' && code !== '40P01') || attempt >= CHUNK_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
  }
  if (scheduled.length > 0) await deps.push?.(scheduled);
  await deps.onChunk?.({ rows: chunk.length, lastRow: chunk[chunk.length - 1].n, bytes: read.bytes });
}

/** Times a chunk is applied before its import fails, when it keeps meeting another chunk's rows. */
const CHUNK_ATTEMPTS = 5;


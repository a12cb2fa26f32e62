/**
 * MDPH decision imports. The uploaded file is stored in PostgreSQL (in 1 MiB
 * parts) with the import's row, then a worker streams it through the CSV
 * parser and applies it in chunks: each chunk's decisions, persons, tasks,
 * rejected rows and the progress counter commit together, so a worker killed
 * mid-file resumes after the last committed chunk, with neither duplicates
 * nor gaps. Ids are derived from the MDPH's own identifiers, so re-importing
 * a decision updates it instead of creating another.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { parse } from 'csv-parse';
import {
  checkHeader,
  COLUMN_PATHS,
  decisionIds,
  decisionOf,
  decisionTaskOf,
  assignedNationalId,
  FINESS_SYSTEM,
  ID_NAT_DECISION_SYSTEM,
  mdphKey,
  parseRow,
  patientOf,
  type Column,
  type DecisionRow,
  type RowError,
} from '../../mappings/decision.js';
import { patientRow, identifierKeys, type Row } from '../../mappings/resource-rows.js';
import { serviceRequestRow, taskRow } from '../../mappings/referral.js';
import { badRequest, forbidden, notFound } from '../fhir/outcomes.js';
import { audit, flushAudit, type AuditTrail } from './audit.js';
import { scheduleJob, type ScheduledJob } from '../queues/schedule.js';
import type { Database, Queryable } from '../store/db.js';
import { insertFirstVersions, lockCurrents, writeNextVersion, type VersionWrite } from '../store/resources.js';
import type { Clock } from './clock.js';
import { KINDS } from './kinds.js';
import { activeSubscriptionsSql, scheduleNotifications } from './notifications.js';
import { canonicalKey, principalKey } from './parties.js';
import { hasAnyRole, type Principal } from './principal.js';
import { lockKeys, sameContent } from './resources.js';

export const MDPH_IMPORT_QUEUE = 'mdph-import';
const PART_BYTES = 1 << 20;
/** Rows applied per transaction. */
export const CHUNK_ROWS = 2_000;

/** The department an import is for: the caller's MDPH, or any for `admin` (who must name it). */
export function importDepartment(principal: Principal | undefined, asked: string | undefined): string {
  const dept = asked?.trim();
  if (dept !== undefined && !/^(\d{2,3}|2[AB])$/.test(dept)) throw badRequest(`Invalid department "${dept}": 2 or 3 digits, or 2A/2B`, 'mdph');
  if (hasAnyRole(principal, ['admin'])) {
    if (!dept) throw badRequest('An admin names the MDPH department the file is for: ?mdph=DEPT', 'mdph');
    return dept;
  }
  const own = mdphOf(principal);
  if (!hasAnyRole(principal, ['mdph']) || !own) throw forbidden('Decisions are imported by an MDPH client (role mdph, organization https://aiguillage.org/fhir/NamingSystem/mdph|DEPT)');
  if (dept && dept !== own) throw forbidden(`This client is the MDPH of department ${own}, not ${dept}`);
  return own;
}

/** The department of an MDPH client, from its token's organization. */
export function mdphOf(principal: Principal | undefined): string | undefined {
  const m = /^https:\/\/aiguillage\.org\/fhir\/NamingSystem\/mdph\|(.+)$/.exec(principal?.organization ?? '');
  return m?.[1];
}

/** Whether bytes are valid UTF-8, fed piece by piece. */
class Utf8Check {
  private decoder = new TextDecoder('utf-8', { fatal: true });
  valid = true;
  push(bytes: Uint8Array, last: boolean): void {
    if (!this.valid) return;
    try {
      this.decoder.decode(bytes, { stream: !last });
    } catch {
      this.valid = false;
    }
  }
}

/**
 * Stores an uploaded file and records its import (and the job that runs it),
 * in one transaction. A file that is not UTF-8 is taken as Latin-1 (the
 * usual export of older MDPH software) and transcoded when read; the report
 * says so.
 */
export async function acceptImport(
  db: Database,
  principal: Principal,
  department: string,
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
  /** For decisions sent as a FHIR Bundle: the entry each row of the file made from it comes from. */
  fromBundle?: { entries: number[] },
  /** The upload's audit trail: its event commits with the import. */
  trail?: AuditTrail
): Promise<{ id: string; job: ScheduledJob; encoding: string }> {
  const id = randomUUID();
  const check = new Utf8Check();
  return db.transaction(async (q) => {
    await q.query(`INSERT INTO decision_import (id, department, principal, encoding, source, line_entries) VALUES ($1, $2, $3::text::jsonb, 'utf-8', $4, $5::text::jsonb)`, [
      id,
      department,
      JSON.stringify({ clientId: principal.clientId, organization: principal.organization, roles: principal.roles }),
      fromBundle ? 'bundle' : 'csv',
      fromBundle ? JSON.stringify(fromBundle.entries) : null,
    ]);
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let seq = 0;
    let total = 0;
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return;
      await q.query(`INSERT INTO decision_import_part (import_id, seq, data) VALUES ($1, $2, $3)`, [id, seq++, Buffer.concat(pending)]);
      pending = [];
      pendingBytes = 0;
    };
    for await (const piece of body) {
      total += piece.length;
      if (total > maxBytes) throw new FileTooLarge(maxBytes);
      check.push(piece, false);
      pending.push(piece);
      pendingBytes += piece.length;
      if (pendingBytes >= PART_BYTES) await flush();
    }
    check.push(new Uint8Array(0), true);
    await flush();
    if (total === 0) throw badRequest('The file is empty');
    const encoding = check.valid ? 'utf-8' : 'latin1';
    await q.query(`UPDATE decision_import SET encoding = $2, bytes = $3 WHERE id = $1`, [id, encoding, total]);
    const job = await scheduleJob(q, MDPH_IMPORT_QUEUE, `import.${id}`, { importId: id }, new Date());
    audit(trail, { action: 'C', interaction: 'operation', status: 202, resourceType: 'ServiceRequest', entities: [], query: '$import-decisions', detail: `import ${id} of MDPH ${department}, ${total} bytes` });
    await flushAudit(q, trail, new Date());
    return { id, job, encoding };
  });
}

/** A file over the import limit. */
export class FileTooLarge extends Error {
  constructor(readonly maxBytes: number) {
    super(`The file is over the limit of ${maxBytes} bytes`);
  }
}

async function* partsOf(db: Database, importId: string, encoding: string, read: { bytes: number }): AsyncGenerator<string> {
  const decoder = new TextDecoder(encoding === 'latin1' ? 'latin1' : 'utf-8');
  for (let seq = 0; ; seq++) {
    const { rows } = await db.query<{ data: Buffer }>(`SELECT data FROM decision_import_part WHERE import_id = $1 AND seq = $2`, [importId, seq]);
    if (rows.length === 0) break;
    read.bytes += rows[0].data.length;
    yield decoder.decode(rows[0].data, { stream: true });
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
  onChunk?: (progress: { rowsDone: number; bytes: number }) => Promise<void> | void;
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
  const { rows } = await deps.db.query<{ department: string; encoding: string; state: string }>(`SELECT department, encoding, state FROM decision_import WHERE id = $1`, [importId]);
  const job = rows[0];
  if (!job) throw notFound(`Import ${importId} not found`);
  if (job.state === 'completed' || job.state === 'failed') return summary(deps.db, importId);
  await deps.db.query(`UPDATE decision_import SET state = 'in-progress', updated_at = now() WHERE id = $1`, [importId]);
  const applied = new Set((await deps.db.query<{ chunk_no: number }>(`SELECT chunk_no FROM decision_import_chunk WHERE import_id = $1`, [importId])).rows.map((r) => r.chunk_no));
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
    lane.running = applyChunk(deps, importId, job.department, header as Column[], chunkNo, rowsOfChunk, today, read).catch((err: unknown) => {
      failure ??= err;
    });
  };
  const launchRest = async (): Promise<void> => {
    for (const lane of lanes) if (lane.rows.length > 0) await launch(lane);
  };
  const drain = async (): Promise<void> => {
    await Promise.all(lanes.map((l) => l.running));
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
      if (!(await addSkipped())) return summary(deps.db, importId);
      emitted++;
      if (!header) {
        const problem = checkHeader(record);
        if (problem) {
          await fail(deps.db, importId, `Header line: ${problem}`);
          return summary(deps.db, importId);
        }
        header = record.map((h) => h.trim().toLowerCase() as Column);
        decisionColumn = header.indexOf('id_decision');
        individualColumn = header.indexOf('numero_individu');
        continue;
      }
      rowNumber++;
      await add({ n: rowNumber, cells: record }, record);
    }
    if (!failure && !(await addSkipped())) return summary(deps.db, importId);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('CSV_')) {
      await launchRest();
      await drain();
      await fail(deps.db, importId, `The file is not valid CSV after data row ${rowNumber}: ${(err as Error).message}`);
      return summary(deps.db, importId);
    }
    await Promise.allSettled(lanes.map((l) => l.running));
    throw err;
  }
  await drain();
  if (!header) {
    await fail(deps.db, importId, fileError ? `The file is not valid CSV: ${fileError}` : 'The file has no header line');
    return summary(deps.db, importId);
  }
  await launchRest();
  await drain();
  if (fileError) {
    await fail(deps.db, importId, `The file is not valid CSV after data row ${rowNumber}: ${fileError}`);
    return summary(deps.db, importId);
  }
  // A large import changes the tables' statistics: refresh them now rather than at autovacuum's pace, and vacuum
  // the decisions so that indicators read them from their index alone. This is part of the import: it is done
  // before the import says it is completed (VACUUM runs on its own, outside any transaction; run again, it is harmless).
  if ((await progressOf(deps.db, importId)).rows_ok >= 10_000) {
    await deps.db.exec('VACUUM (ANALYZE) referral');
    await deps.db.exec('ANALYZE task; ANALYZE patient');
  }
  await deps.db.transaction(async (q) => {
    await q.query(
      `UPDATE decision_import i SET state = 'completed', updated_at = now(), rows_done = c.done, rows_ok = c.ok, rows_rejected = c.rejected
         FROM (SELECT coalesce(max(last_row), 0) AS done, coalesce(sum(rows_ok), 0) AS ok, coalesce(sum(rows_rejected), 0) AS rejected FROM decision_import_chunk WHERE import_id = $1) c
        WHERE i.id = $1`,
      [importId]
    );
    await q.query(`DELETE FROM decision_import_part WHERE import_id = $1`, [importId]);
  });
  return summary(deps.db, importId);
}

/**
 * A message as PostgreSQL can store it. Reports quote the file's bad values,
 * and a text value cannot hold a NUL byte: it is written as `\u0000`.
 */
function storable(message: string): string {
  return message.replaceAll('\u0000', '\\u0000');
}

async function fail(db: Database, importId: string, error: string): Promise<void> {
  await db.transaction(async (q) => {
    await q.query(`UPDATE decision_import SET state = 'failed', error = $2, updated_at = now() WHERE id = $1`, [importId, storable(error)]);
    await q.query(`DELETE FROM decision_import_part WHERE import_id = $1`, [importId]);
  });
}

async function summary(db: Queryable, importId: string): Promise<{ state: string; rowsDone: number; rowsOk: number; rowsRejected: number }> {
  const p = await progressOf(db, importId);
  return { state: p.state, rowsDone: p.rows_done, rowsOk: p.rows_ok, rowsRejected: p.rows_rejected };
}

/** An import's state and counts (summed over its chunks while it runs). */
async function progressOf(db: Queryable, importId: string): Promise<{ state: string; rows_done: number; rows_ok: number; rows_rejected: number }> {
  const { rows } = await db.query<{ state: string; rows_done: number; rows_ok: number; rows_rejected: number }>(
    `SELECT i.state,
            CASE WHEN i.state = 'completed' THEN i.rows_done ELSE (SELECT coalesce(sum(c.rows), 0)::int FROM decision_import_chunk c WHERE c.import_id = i.id) END AS rows_done,
            CASE WHEN i.state = 'completed' THEN i.rows_ok ELSE (SELECT coalesce(sum(c.rows_ok), 0)::int FROM decision_import_chunk c WHERE c.import_id = i.id) END AS rows_ok,
            CASE WHEN i.state = 'completed' THEN i.rows_rejected ELSE (SELECT coalesce(sum(c.rows_rejected), 0)::int FROM decision_import_chunk c WHERE c.import_id = i.id) END AS rows_rejected
       FROM decision_import i WHERE i.id = $1`,
    [importId]
  );
  return rows[0];
}

/** One decision of a chunk: its first valid row's data, every target of its rows, and their numbers. */
interface Grouped {
  row: DecisionRow;
  targets: Set<string>;
  rows: number[];
}

/** Domain columns of a decision (beyond the generic ServiceRequest row). */
function decisionColumns(dept: string, row: DecisionRow): Row {
  return {
    module: 'decision',
    department: dept,
    individual: row.individual,
    birth_date: row.birthDate,
    esms_category: row.category,
    validity_start: row.validFrom,
    validity_end: row.validTo,
    creton: row.creton,
    level_esms: row.levelEsms ?? null,
    level_pro: row.levelPro ?? null,
    requester_keys: [mdphKey(dept)],
  };
}

/** Applies one chunk of rows in one transaction, with the progress counter. */
async function applyChunk(
  deps: ImportDeps,
  importId: string,
  dept: string,
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
  let scheduled: ScheduledJob[] = [];
  const apply = () => deps.db.transaction(async (q) => {
    scheduled = [];
    // The chunk's rows and its progress row commit together: should a crash lose this commit
    // (not yet flushed to disk), the chunk is simply applied again when the import resumes.
    // Generic plans: the chunk's arrays stay parameters, instead of constants the planner would copy (megabytes each).
    if (deps.db.kind === 'postgres') await q.query(`SET LOCAL synchronous_commit = off; SET LOCAL plan_cache_mode = force_generic_plan`);
    const now = deps.clock.now().toISOString();
    // The chunk is recorded first: a second run of the same chunk waits here, then finds it done.
    const { rows: mine } = await q.query(
      `INSERT INTO decision_import_chunk (import_id, chunk_no, last_row, rows, rows_ok, rows_rejected) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1`,
      [importId, chunkNo, chunk[chunk.length - 1].n, chunk.length, ok, new Set(errors.map((e) => e.n)).size]
    );
    if (mine.length === 0) return;
    // No lock against the chunks running beside it: they share no person (see LANES). Should one
    // create a person or a decision this chunk creates too (a decision naming several persons, or
    // another import of the department), one insert fails on its key, and the chunk is applied again.
    const refused = await writeDecisions(q, dept, [...decisions.values()], now, scheduled);
    const rowErrors = [...errors, ...refused.flatMap((d) => d.rows.map((n) => ({ n, error: d.error })))];
    if (refused.length > 0) {
      await q.query(`UPDATE decision_import_chunk SET rows_ok = $3, rows_rejected = $4 WHERE import_id = $1 AND chunk_no = $2`, [
        importId,
        chunkNo,
        ok - refused.reduce((sum, d) => sum + d.rows.length, 0),
        new Set(rowErrors.map((e) => e.n)).size,
      ]);
    }
    if (rowErrors.length > 0) {
      await q.query(
        `INSERT INTO decision_import_error (import_id, row_number, column_name, reason)
         SELECT $1, n, c, r FROM unnest($2::int[], $3::text[], $4::text[]) AS x(n, c, r) ON CONFLICT DO NOTHING`,
        [importId, rowErrors.map((e) => e.n + 1), rowErrors.map((e) => e.error.column), rowErrors.map((e) => storable(e.error.reason))]
      );
    }
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
  await deps.onChunk?.({ rowsDone: chunk[chunk.length - 1].n, bytes: read.bytes });
}

/** Times a chunk is applied before its import fails, when it keeps meeting another chunk's rows. */
const CHUNK_ATTEMPTS = 5;

/**
 * The decisions whose national id (idNat_Decision) another decision holds:
 * a national id names one decision in the whole country, so a row reusing
 * another's (another MDPH's, or another of the same MDPH's) is rejected, and
 * SDO pushes naming it keep reaching the one true decision. The ids are locked
 * first (sorted, one statement), so that two imports cannot both take one.
 */
async function nationalIdConflicts(q: Queryable, dept: string, decisions: Grouped[]): Promise<Map<Grouped, RowError>> {
  const nationalOf = (d: Grouped): string => d.row.idNatDecision ?? assignedNationalId(dept, d.row.idDecision);
  const nationals = [...new Set(decisions.map(nationalOf))];
  await lockKeys(q, 'idNat_Decision', nationals);
  const { rows } = await q.query<{ value: string; holder: string }>(
    `SELECT value, resource_id AS holder FROM resource_identifier WHERE resource_type = 'ServiceRequest' AND system = $1 AND value = ANY($2::text[])`,
    [ID_NAT_DECISION_SYSTEM, nationals]
  );
  const holders = new Map<string, string[]>();
  for (const r of rows) holders.set(r.value, [...(holders.get(r.value) ?? []), r.holder]);
  const conflicts = new Map<Grouped, RowError>();
  const taken = new Map<string, string>();
  for (const d of decisions) {
    const national = nationalOf(d);
    const id = decisionIds.decision(dept, d.row.idDecision);
    const other = (holders.get(national) ?? []).find((holder) => holder !== id) ?? (taken.has(national) && taken.get(national) !== id ? taken.get(national) : undefined);
    if (other) {
      const whose = other.startsWith(`d-${dept}-`) ? 'another decision of this MDPH' : 'a decision of another MDPH';
      conflicts.set(d, { column: 'id_nat_decision', reason: `the national decision id ${national} is already held by ${whose}` });
    } else {
      taken.set(national, id);
    }
  }
  return conflicts;
}

/**
 * Writes a chunk's decisions: persons and decisions upserted (a new version
 * only when something changed; a decision's targets are those it had plus
 * the new ones), one task per new target. Returns the decisions refused
 * (their national id is another's), with the reason, written for none of them.
 */
async function writeDecisions(q: Queryable, dept: string, all: Grouped[], now: string, scheduled: ScheduledJob[]): Promise<{ rows: number[]; error: RowError }[]> {
  if (all.length === 0) return [];
  const conflicts = await nationalIdConflicts(q, dept, all);
  const decisions = all.filter((d) => !conflicts.has(d));
  const refused = [...conflicts].map(([d, error]) => ({ rows: d.rows, error }));
  if (decisions.length === 0) return refused;
  // Persons.
  const persons = new Map<string, Patient>();
  for (const d of decisions) persons.set(decisionIds.patient(dept, d.row.individual), patientOf(dept, d.row));
  const storedPersons = await lockCurrents(q, KINDS.Patient, [...persons.keys()].sort(), false);
  const personCreates: VersionWrite[] = [];
  for (const [id, person] of persons) {
    const current = storedPersons.get(id);
    const row = Object.assign(patientRow(person), { owner_org: mdphKey(dept) });
    if (!current) {
      personCreates.push(versionWrite(person, id, 1, now, row));
    } else if (!sameContent(person, current.content)) {
      await writeNextVersion(q, KINDS.Patient, versionWrite(person, id, current.version + 1, now, row));
    }
  }
  await insertFirstVersions(q, KINDS.Patient, personCreates);

  // Decisions.
  const ids = decisions.map((d) => decisionIds.decision(dept, d.row.idDecision));
  const storedDecisions = await lockCurrents(q, KINDS.ServiceRequest, [...ids].sort(), false);
  const decisionCreates: VersionWrite[] = [];
  const newTasks: DecisionTaskInput[] = [];
  // Tasks exist only for decisions stored before (a decision's tasks are written with it, or claimed after it).
  const known = ids.filter((id) => storedDecisions.has(id));
  const existingTasks = known.length > 0 ? (await q.query<{ id: string }>(`SELECT id FROM task WHERE referral_id = ANY($1::text[])`, [known])).rows : [];
  const haveTask = new Set(existingTasks.map((t) => t.id));
  for (let i = 0; i < decisions.length; i++) {
    const { row, targets } = decisions[i];
    const id = ids[i];
    const patientId = decisionIds.patient(dept, row.individual);
    const current = storedDecisions.get(id);
    const previousTargets = ((current?.content as ServiceRequest | undefined)?.performer ?? []).map((p) => p.identifier?.value).filter((v): v is string => !!v);
    const allTargets = [...new Set([...previousTargets, ...targets])];
    const decision = decisionOf(dept, row, patientId, allTargets);
    const columns = Object.assign(serviceRequestRow(decision), decisionColumns(dept, row));
    if (!current) {
      decisionCreates.push(versionWrite(decision, id, 1, now, columns));
    } else if (!sameContent({ ...decision, status: (current.content as ServiceRequest).status }, current.content)) {
      // A re-import never revives a cancelled decision: its status is the MDPH's to change.
      await writeNextVersion(q, KINDS.ServiceRequest, versionWrite({ ...decision, status: (current.content as ServiceRequest).status }, id, current.version + 1, now, { ...columns, status: (current.content as ServiceRequest).status }));
      await q.query(`UPDATE task SET esms_category = $2, individual = $3, validity_start = $4, validity_end = $5 WHERE referral_id = $1`, [id, row.category, row.individual, row.validFrom, row.validTo]);
    }
    for (const finess of allTargets) {
      const taskId = decisionIds.task(id, finess);
      if (!haveTask.has(taskId)) {
        haveTask.add(taskId);
        newTasks.push({ decisionId: id, patientId, finess, category: row.category, individual: row.individual, validFrom: row.validFrom, validTo: row.validTo });
      }
    }
  }
  await insertFirstVersions(q, KINDS.ServiceRequest, decisionCreates);
  await createDecisionTasks(q, dept, newTasks, now, scheduled, false);
  return refused;
}

/**
 * A version to write. The resource was built for this write alone, so it is
 * stamped in place (as `stamp` would, without copying it: an import makes
 * millions of them).
 */
function versionWrite(resource: Patient | ServiceRequest | Task, id: string, version: number, now: string, row: Row): VersionWrite {
  resource.id = id;
  resource.meta = { ...resource.meta, versionId: String(version), lastUpdated: now };
  return { resource, version, lastUpdated: now, row, identifiers: identifierKeys(resource.identifier) };
}

/** Creates the tasks of targeted (or claiming) ESMS, with each ESMS's organization keys, in one statement. */
/** What a decision's new task is made from. */
export interface DecisionTaskInput {
  decisionId: string;
  patientId: string;
  finess: string;
  category: string;
  individual: string;
  validFrom: string;
  validTo: string;
}

export async function createDecisionTasks(
  q: Queryable,
  dept: string,
  tasks: DecisionTaskInput[],
  now: string,
  scheduled: ScheduledJob[] | undefined,
  claimed: boolean
): Promise<Task[]> {
  if (tasks.length === 0) return [];
  const finess = [...new Set(tasks.map((t) => t.finess))];
  const { rows } = await q.query<{ finess: string; keys: string[]; subscriptions: string[] }>(
    `SELECT f AS finess, organization_keys($2, f) AS keys, ${activeSubscriptionsSql(3)} AS subscriptions FROM unnest($1::text[]) AS f`,
    [finess, FINESS_SYSTEM, 'Task'],
    'esms-keys'
  );
  const keys = new Map(rows.map((r) => [r.finess, r.keys]));
  const writes = tasks.map((t) => {
    const id = decisionIds.task(t.decisionId, t.finess);
    const task = decisionTaskOf(t.decisionId, t.patientId, dept, t.finess, now, claimed);
    return versionWrite(task, id, 1, now, Object.assign(taskRow(task), {
      module: 'decision',
      business_status: '39',
      esms_finess: t.finess,
      claimed,
      owner_keys: keys.get(t.finess) ?? [`${FINESS_SYSTEM}|${t.finess}`],
      requester_keys: [mdphKey(dept)],
      status_since: now,
      notified_at: now,
      department: dept,
      esms_category: t.category,
      individual: t.individual,
      validity_start: t.validFrom,
      validity_end: t.validTo,
    }));
  });
  await insertFirstVersions(q, KINDS.Task, writes, { prepare: writes.length <= 20 });
  await scheduleNotifications(q, writes.map((w) => w.resource), new Date(now), scheduled, rows[0]?.subscriptions ?? []);
  return writes.map((w) => w.resource as Task);
}


/** The most rejected-row issues a report lists (the counts are always complete). */
const REPORT_ISSUES = 10_000;

/** An import's status: 202 with progress while it runs, then its report (OperationOutcome). */
export async function importReport(
  db: Queryable,
  principal: Principal | undefined,
  id: string
): Promise<{ status: number; progress?: string; outcome: import('@medplum/fhirtypes').OperationOutcome }> {
  const { rows } = await db.query<{ principal: Principal; state: string; encoding: string; error: string | null; department: string; source: string; line_entries: number[] | null }>(
    `SELECT principal, state, encoding, error, department, source, line_entries FROM decision_import WHERE id = $1`,
    [id]
  );
  const found = rows[0];
  // The report is the sending MDPH's: any of its clients reads it (and admin); to anyone else it does not exist.
  const sender = found?.principal.organization ? canonicalKey(found.principal.organization) : undefined;
  const mine = !!principal && (found?.principal.clientId === principal.clientId || (!!sender && sender === principalKey(principal) && hasAnyRole(principal, ['mdph'])));
  if (!found || !principal || (!mine && !hasAnyRole(principal, ['admin']))) throw notFound(`No import ${id}`);
  const row = { ...found, ...(await progressOf(db, id)) };
  const counts = `${row.rows_done} rows read, ${row.rows_ok} applied, ${row.rows_rejected} rejected`;
  if (row.state === 'accepted' || row.state === 'in-progress') {
    return { status: 202, progress: counts, outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: `In progress: ${counts}` }] } };
  }
  const issue: import('@medplum/fhirtypes').OperationOutcomeIssue[] = [
    { severity: 'information', code: 'informational', diagnostics: `MDPH ${row.department}: ${counts}${row.encoding === 'latin1' ? '; the file was not UTF-8 and was read as Latin-1 (ISO-8859-1)' : ''}` },
  ];
  if (row.encoding === 'latin1') issue.push({ severity: 'warning', code: 'value', diagnostics: 'The file was not UTF-8: it was read as Latin-1 (ISO-8859-1). Check accented names; send UTF-8 next time.' });
  if (row.error) issue.push({ severity: 'error', code: 'invalid', diagnostics: row.error });
  const { rows: errors } = await db.query<{ row_number: number; column_name: string; reason: string }>(
    `SELECT row_number, column_name, reason FROM decision_import_error WHERE import_id = $1 ORDER BY row_number, column_name LIMIT $2`,
    [id, REPORT_ISSUES]
  );
  for (const e of errors) {
    const entry = row.source === 'bundle' ? row.line_entries?.[e.row_number - 2] : undefined;
    if (entry !== undefined) {
      // Decisions sent as FHIR: the entry and the element, not the line of the file made from them.
      const path = e.column_name ? COLUMN_PATHS[e.column_name as Column] : 'ServiceRequest';
      issue.push({ severity: 'error', code: 'invalid', diagnostics: `entry ${entry}, ${path}: ${e.reason}`, expression: [`Bundle.entry[${entry}].resource`] });
    } else {
      issue.push({
        severity: 'error',
        code: 'invalid',
        diagnostics: `line ${e.row_number}${e.column_name ? `, ${e.column_name}` : ''}: ${e.reason}`,
        location: [`line ${e.row_number}`],
        ...(e.column_name ? { expression: [e.column_name] } : {}),
      });
    }
  }
  if (row.rows_rejected > errors.length && errors.length === REPORT_ISSUES) issue.push({ severity: 'information', code: 'informational', diagnostics: `Only the first ${REPORT_ISSUES} errors are listed` });
  return { status: row.state === 'failed' ? 422 : 200, outcome: { resourceType: 'OperationOutcome', issue } };
}

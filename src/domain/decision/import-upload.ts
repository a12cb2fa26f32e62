/**
 * Uploading an MDPH decisions file: the file is stored in PostgreSQL (in
 * 1 MiB parts) with its import's row and the job that runs it, in one
 * transaction (domain/decision/import-run.ts applies it later). A file that
 * is not UTF-8 is taken as Latin-1 (the usual export of older MDPH software)
 * and transcoded when read; the report says so.
 */
import { randomUUID } from 'node:crypto';
import { badRequest, forbidden } from '../../core/outcomes.js';
import { enqueueImport } from '../../jobs/catalogue.js';
import type { ScheduledJob } from '../../jobs/schedule.js';
import type { Database, Queryable } from '../../store/db.js';
import { insertImport, insertPart, recordFile } from '../../store/tables/decision-import.js';
import { hasAnyRole, type Principal } from '../../core/principal.js';

const PART_BYTES = 1 << 20;

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

/** A file over the import limit. */
export class FileTooLarge extends Error {
  constructor(readonly maxBytes: number) {
    super(`The file is over the limit of ${maxBytes} bytes`);
  }
}

/**
 * Stores an uploaded file and records its import and the job that runs it,
 * in one transaction: `tx` when given (the caller's, with its audit), else
 * one of its own. Returns the import's id, its job (to tell Redis of once
 * committed), its size and the encoding it is read in.
 */
export async function acceptImport(
  db: Database,
  principal: Principal,
  department: string,
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
  /** For decisions sent as a FHIR Bundle: the entry each row of the file made from it comes from. */
  fromBundle?: { entries: number[] },
  tx?: Queryable
): Promise<{ id: string; job: ScheduledJob; encoding: string; bytes: number }> {
  const id = randomUUID();
  const check = new Utf8Check();
  const run = async (q: Queryable): Promise<{ id: string; job: ScheduledJob; encoding: string; bytes: number }> => {
    await insertImport(q, { id, department, principal, source: fromBundle ? 'bundle' : 'csv', lineEntries: fromBundle?.entries });
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let seq = 0;
    let total = 0;
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return;
      await insertPart(q, id, seq++, Buffer.concat(pending));
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
    await recordFile(q, id, encoding, total);
    const job = await enqueueImport(q, id, new Date());
    return { id, job, encoding, bytes: total };
  };
  return tx ? run(tx) : db.transaction(run);
}

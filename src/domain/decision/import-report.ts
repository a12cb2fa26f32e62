/**
 * An import's status and report (`GET /fhir/_import/{id}`): 202 with the
 * progress while it runs, then an OperationOutcome with the counts and one
 * issue per rejected row (line and column of the file, or entry and element
 * of a Bundle). The sending MDPH's clients read it (and admin); to anyone
 * else it does not exist.
 */
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { COLUMN_PATHS } from '../../../mappings/decision/bundle-rows.js';
import { type Column } from '../../../mappings/decision/file.js';
import { notFound, printable } from '../../core/outcomes.js';
import type { Queryable } from '../../store/db.js';
import { importErrors, importProgress, importRow } from '../../store/tables/decision-import.js';
import { canonicalKey, principalKey } from '../parties.js';
import { hasAnyRole, type Principal } from '../../core/principal.js';

/** The most rejected-row issues a report lists (the counts are always complete). */
const REPORT_ISSUES = 10_000;

/** An import's state and counts. */
export async function importSummary(q: Queryable, importId: string): Promise<{ state: string; rowsDone: number; rowsOk: number; rowsRejected: number }> {
  const p = await importProgress(q, importId);
  return { state: p.state, rowsDone: p.rows_done, rowsOk: p.rows_ok, rowsRejected: p.rows_rejected };
}

/** An import's status: 202 with progress while it runs, then its report (OperationOutcome). */
export async function importReport(db: Queryable, principal: Principal | undefined, id: string): Promise<{ status: number; progress?: string; outcome: OperationOutcome }> {
  const found = await importRow(db, id);
  // The report is the sending MDPH's: any of its clients reads it (and admin); to anyone else it does not exist.
  const sender = found?.principal.organization ? canonicalKey(found.principal.organization) : undefined;
  const mine = !!principal && (found?.principal.clientId === principal.clientId || (!!sender && sender === principalKey(principal) && hasAnyRole(principal, ['mdph'])));
  if (!found || !principal || (!mine && !hasAnyRole(principal, ['admin']))) throw notFound(`No import ${id}`);
  const row = { ...found, ...(await importProgress(db, id)) };
  const counts = `${row.rows_done} rows read, ${row.rows_ok} applied, ${row.rows_rejected} rejected`;
  if (row.state === 'accepted' || row.state === 'in-progress') {
    return { status: 202, progress: counts, outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: `In progress: ${counts}` }] } };
  }
  const issue: OperationOutcomeIssue[] = [
    { severity: 'information', code: 'informational', diagnostics: `MDPH ${row.department}: ${counts}${row.encoding === 'latin1' ? '; the file was not UTF-8 and was read as Latin-1 (ISO-8859-1)' : ''}` },
  ];
  if (row.encoding === 'latin1') issue.push({ severity: 'warning', code: 'value', diagnostics: 'The file was not UTF-8: it was read as Latin-1 (ISO-8859-1). Check accented names; send UTF-8 next time.' });
  if (row.error) issue.push({ severity: 'error', code: 'invalid', diagnostics: printable(row.error) });
  const errors = await importErrors(db, id, REPORT_ISSUES);
  for (const e of errors) {
    const entry = row.source === 'bundle' ? row.line_entries?.[e.row_number - 2] : undefined;
    if (entry !== undefined) {
      // Decisions sent as FHIR: the entry and the element, not the line of the file made from them.
      const path = e.column_name ? COLUMN_PATHS[e.column_name as Column] : 'ServiceRequest';
      issue.push({ severity: 'error', code: 'invalid', diagnostics: printable(`entry ${entry}, ${path}: ${e.reason}`), expression: [`Bundle.entry[${entry}].resource`] });
    } else {
      issue.push({
        severity: 'error',
        code: 'invalid',
        diagnostics: printable(`line ${e.row_number}${e.column_name ? `, ${e.column_name}` : ''}: ${e.reason}`),
        location: [`line ${e.row_number}`],
        ...(e.column_name ? { expression: [printable(e.column_name)] } : {}),
      });
    }
  }
  if (row.rows_rejected > errors.length && errors.length === REPORT_ISSUES) issue.push({ severity: 'information', code: 'informational', diagnostics: `Only the first ${REPORT_ISSUES} errors are listed` });
  return { status: row.state === 'failed' ? 422 : 200, outcome: { resourceType: 'OperationOutcome', issue } };
}

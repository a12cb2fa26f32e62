/** Searching the audit trail (for `admin`): criteria already checked, newest first. */
import type { Queryable } from '../../store/db.js';
import { selectAuditRow, selectAuditRows, type AuditSearch, type StoredAuditRow } from '../../store/tables/audit-event.js';

export type { AuditSearch };

/** The search parameters of AuditEvent. */
export const AUDIT_SEARCH_PARAMS = ['date', 'agent', 'entity', 'entity-type', 'action', 'outcome', 'subtype', 'address', 'request-id'] as const;

/** Runs an audit search; `next` is the position after the page's last row when there may be more. */
export async function searchAuditEvents(q: Queryable, search: AuditSearch): Promise<{ rows: StoredAuditRow[]; next?: [string, string] }> {
  const rows = await selectAuditRows(q, search);
  const page = rows.slice(0, search.count);
  const last = page[page.length - 1];
  return { rows: page, next: rows.length > search.count && last ? [new Date(last.recorded).toISOString(), last.id] : undefined };
}

/** One audit row, by id. */
export async function auditEventById(q: Queryable, id: string): Promise<StoredAuditRow | undefined> {
  return selectAuditRow(q, id);
}

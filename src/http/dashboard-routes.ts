/**
 * `GET /dashboard/tasks` (a hospital's or a unit's dashboard) and
 * `GET /dashboard/decisions` (an ESMS's or an MDPH's work list of decisions),
 * as JSON, CSV (`;`-separated, UTF-8 with BOM, for French spreadsheets) or
 * XLSX, chosen by `format` or by the Accept header.
 */
import ExcelJS from 'exceljs';
import { Hono, type Context } from 'hono';
import { dashboard, DASHBOARD_COLUMNS, parseDashboardQuery, type DashboardRow } from '../domain/referral/dashboard.js';
import { INDICATOR_COLUMNS, referralIndicatorLines, referralIndicatorQuery, type IndicatorLine } from '../domain/referral/indicators.js';
import { DECISION_LIST_COLUMNS, decisionWorkList, parseDecisionListQuery, type DecisionListLine } from '../domain/decision/work-list.js';
import { FhirError, issue, outcome, unauthorized } from '../core/outcomes.js';
import type { FhirServices } from '../fhir/types.js';
import { storeDashboardRead } from '../fhir/interaction-audit.js';
import { trailOf } from './audit-trail.js';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

function formatOf(c: Context): 'json' | 'csv' | 'xlsx' {
  const format = c.req.query('format') ?? c.req.query('_format');
  if (format) {
    if (format === 'json' || format === 'csv' || format === 'xlsx') return format;
    throw new FhirError(406, outcome(issue('not-supported', `format is json, csv or xlsx, not "${format}"`, 'format')));
  }
  const accept = c.req.header('accept') ?? '';
  if (accept.includes('text/csv')) return 'csv';
  if (accept.includes(XLSX)) return 'xlsx';
  return 'json';
}

const PARIS = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Europe/Paris',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
  timeZoneName: 'longOffset',
});

/** An instant as the people who export read it: Paris time with its offset (`2026-12-05T10:15:00+01:00`). */
export function parisTime(iso: string): string {
  if (!iso) return '';
  const p = Object.fromEntries(PARIS.formatToParts(new Date(iso)).map((part) => [part.type, part.value]));
  const offset = (p.timeZoneName ?? 'GMT').replace('GMT', '') || '+00:00';
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}${offset}`;
}

/** An export's shape: its columns in order with their headings, and which hold instants (UTC in JSON; Paris time in exports). */
interface ExportShape<R> {
  columns: readonly { key: keyof R; heading: string }[];
  instants: ReadonlySet<keyof R>;
  sheet: string;
}

const TASKS: ExportShape<DashboardRow> = { columns: DASHBOARD_COLUMNS, instants: new Set<keyof DashboardRow>(['since', 'lastUpdated']), sheet: 'Tableau de bord' };
const INDICATORS: ExportShape<IndicatorLine> = { columns: INDICATOR_COLUMNS, instants: new Set<keyof IndicatorLine>(), sheet: 'Indicateurs' };
const DECISIONS: ExportShape<DecisionListLine> = { columns: DECISION_LIST_COLUMNS, instants: new Set<keyof DecisionListLine>(['since', 'lastUpdated']), sheet: 'Décisions' };

/** A row as exported: instants in Paris time. */
function exported<R>(shape: ExportShape<R>, row: R): Record<string, string | number> {
  return Object.fromEntries(shape.columns.map((c) => [c.key, shape.instants.has(c.key) ? parisTime(String(row[c.key])) : (row[c.key] as string | number)]));
}

function csvField(value: string | number): string {
  const text = String(value);
  // Quote what needs it; neutralise spreadsheet formulas (CSV injection).
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[;"\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function toCsv<R>(shape: ExportShape<R>, rows: R[]): string {
  const lines = [shape.columns.map((c) => csvField(c.heading)).join(';')];
  for (const row of rows.map((r) => exported(shape, r))) lines.push(shape.columns.map((c) => csvField(row[c.key as string])).join(';'));
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}

async function toXlsx<R>(shape: ExportShape<R>, rows: R[]): Promise<Buffer> {
  const workbook = new ExcelJS.Workbook();
  workbook.creator = 'aiguillage';
  const sheet = workbook.addWorksheet(shape.sheet);
  sheet.columns = shape.columns.map((c) => ({ header: c.heading, key: c.key as string, width: Math.max(12, c.heading.length + 2) }));
  sheet.getRow(1).font = { bold: true };
  for (const row of rows) sheet.addRow(exported(shape, row));
  sheet.views = [{ state: 'frozen', ySplit: 1 }];
  return Buffer.from(await workbook.xlsx.writeBuffer());
}

/** The rows in the format asked: JSON, CSV or XLSX. */
async function answer<R>(c: Context, format: 'json' | 'csv' | 'xlsx', shape: ExportShape<R>, rows: R[], file: string): Promise<Response> {
  if (format === 'csv') return c.body(toCsv(shape, rows), 200, { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="${file}.csv"` });
  if (format === 'xlsx') return c.body(new Uint8Array(await toXlsx(shape, rows)), 200, { 'Content-Type': XLSX, 'Content-Disposition': `attachment; filename="${file}.xlsx"` });
  return c.json({ count: rows.length, rows });
}

export function dashboardRoutes(services: FhirServices): Hono {
  const app = new Hono();
  app.get('/tasks', async (c) => {
    const principal = c.get('principal');
    if (!principal) throw unauthorized();
    const format = formatOf(c);
    const url = new URL(c.req.url);
    const rows = await dashboard(services.db, principal, parseDashboardQuery(url.searchParams, 10_000));
    // A dashboard shows patients: it is audited as a search of the tasks it lists.
    await storeDashboardRead(services, trailOf(c), rows.map((r) => r.task), `dashboard ${url.search}`);
    return answer(c, format, TASKS, rows, 'tableau-de-bord');
  });
  // The referral indicators ($indicators?module=referral) as a table: the same parameters and rights.
  app.get('/indicators', async (c) => {
    const principal = c.get('principal');
    if (!principal) throw unauthorized();
    const format = formatOf(c);
    const params = new URL(c.req.url).searchParams;
    params.delete('format');
    const scope = referralIndicatorQuery(principal, params, services.clock.now().toISOString().slice(0, 10));
    if (scope.flows) throw new FhirError(400, outcome(issue('not-supported', 'The export lists the groups; the flows are read with $indicators?module=referral&flows=true', 'flows')));
    return answer(c, format, INDICATORS, await referralIndicatorLines(services.db, scope), 'indicateurs');
  });
  // An ESMS's or an MDPH's work list of orientation decisions.
  app.get('/decisions', async (c) => {
    const principal = c.get('principal');
    if (!principal) throw unauthorized();
    const format = formatOf(c);
    const url = new URL(c.req.url);
    const today = services.clock.now().toISOString().slice(0, 10);
    const rows = await decisionWorkList(services.db, principal, parseDecisionListQuery(url.searchParams, 10_000), today);
    await storeDashboardRead(services, trailOf(c), rows.map((r) => r.task), `decisions ${url.search}`);
    return answer(c, format, DECISIONS, rows, 'decisions');
  });
  return app;
}

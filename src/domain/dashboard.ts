/**
 * Dashboards (tableaux de bord, seed 002): a unit's or a prescriber's tasks
 * in the five sections, searchable by patient name or request number, with
 * the unread messages of each task. Always limited to the caller's own
 * organization and side.
 */
import { normalizeText } from '../../mappings/text.js';
import { OPEN_STATUSES, SECTIONS, SECTION_LABELS, sectionOf, STATUS_TABLE, type BusinessStatus, type Section } from '../../mappings/referral.js';
import { badRequest, forbidden } from '../fhir/outcomes.js';
import type { Queryable } from '../store/db.js';
import { join, run, sql, type SqlFragment } from '../store/sql.js';
import { principalKey } from './parties.js';
import { hasAnyRole, type Principal } from './principal.js';

export type DashboardView = 'unit' | 'prescriber';

export interface DashboardQuery {
  view: DashboardView;
  section?: Section;
  /** Part of the patient's name (accent/case-insensitive, starts a word). */
  name?: string;
  /** A request's id or business identifier (n° de dossier). */
  request?: string;
  limit: number;
}

/** One line of a dashboard. */
export interface DashboardRow {
  task: string;
  request: string;
  requestIdentifier: string;
  patient: string;
  birthDate: string;
  unit: string;
  status: BusinessStatus;
  statusLabel: string;
  section: Section;
  sectionLabel: string;
  since: string;
  /** Agreement window or proposed admission date. */
  periodStart: string;
  periodEnd: string;
  unread: number;
  lastUpdated: string;
}

/** Reads a dashboard query from URL parameters (400 on anything unknown). */
export function parseDashboardQuery(params: URLSearchParams, maxCount: number): DashboardQuery {
  const allowed = new Set(['view', 'section', 'name', 'request', '_count', 'format', '_format']);
  for (const key of params.keys()) if (!allowed.has(key)) throw badRequest(`Unknown parameter "${key}"; supported: view, section, name, request, _count, format`, key);
  const view = params.get('view') ?? 'unit';
  if (view !== 'unit' && view !== 'prescriber') throw badRequest('view is unit or prescriber', 'view');
  const section = params.get('section') ?? undefined;
  if (section !== undefined && !(SECTIONS as readonly string[]).includes(section)) throw badRequest(`section is one of ${SECTIONS.join(', ')}`, 'section');
  const count = params.get('_count');
  if (count !== null && !/^\d{1,9}$/.test(count)) throw badRequest('_count is a number', '_count');
  return { view, section: section as Section | undefined, name: params.get('name') || undefined, request: params.get('request') || undefined, limit: Math.min(Number(count ?? 1_000), maxCount) };
}

function sectionCondition(section: Section | undefined): SqlFragment {
  switch (section) {
    case undefined:
      return sql`TRUE`;
    case 'archived':
      return sql`t.archived`;
    case 'in-progress':
      return sql`NOT t.archived AND t.business_status = ANY(${[...OPEN_STATUSES]}::text[])`;
    case 'refused':
      return sql`NOT t.archived AND t.business_status = 'refused'`;
    case 'admissions':
      return sql`NOT t.archived AND t.business_status = 'admitted'`;
    case 'cancelled':
      return sql`NOT t.archived AND t.business_status = 'cancelled'`;
  }
}

/** The caller's dashboard. */
export async function dashboard(q: Queryable, principal: Principal | undefined, query: DashboardQuery): Promise<DashboardRow[]> {
  const key = principalKey(principal);
  const roles = query.view === 'unit' ? (['receiver'] as const) : (['prescriber', 'care-team', 'admin-social'] as const);
  if (!key || !hasAnyRole(principal, roles)) throw forbidden(`The ${query.view} dashboard needs a token of an organization with role ${roles.join(' or ')}`);
  const side = query.view === 'unit' ? sql`t.owner_keys @> ARRAY[${key}]::text[]` : sql`t.requester_keys @> ARRAY[${key}]::text[]`;
  const conditions: SqlFragment[] = [sql`t.module = 'referral'`, side, sectionCondition(query.section)];
  if (query.name) {
    const words = normalizeText(query.name).split(/[\s-]+/).filter(Boolean);
    for (const word of words) conditions.push(sql`EXISTS (SELECT 1 FROM unnest(p.name_words) AS w(v) WHERE w.v LIKE ${`${word.replace(/[\\%_]/g, (c) => `\\${c}`)}%`})`);
  }
  if (query.request) {
    conditions.push(sql`(t.referral_id = ${query.request} OR EXISTS (SELECT 1 FROM resource_identifier i WHERE i.resource_type = 'ServiceRequest' AND i.resource_id = t.referral_id AND i.value = ${query.request}))`);
  }
  const { rows } = await run<{
    id: string;
    referral_id: string;
    business_status: BusinessStatus;
    archived: boolean;
    status_since: Date;
    last_updated: Date;
    patient: string | null;
    birth_date: string | null;
    unit: string | null;
    period_start: string | null;
    period_end: string | null;
    unread: string;
    identifiers: string | null;
  }>(
    q,
    sql`SELECT t.id, t.referral_id, t.business_status, t.archived, t.status_since, t.last_updated,
               coalesce(ph.content->'name'->0->>'family', '') || ' ' || coalesce(ph.content->'name'->0->'given'->>0, '') AS patient,
               ph.content->>'birthDate' AS birth_date,
               hs.name AS unit,
               h.content->'restriction'->'period'->>'start' AS period_start,
               h.content->'restriction'->'period'->>'end' AS period_end,
               (SELECT count(*) FROM message m WHERE m.task_id = t.id AND m.received IS NULL AND m.recipient_keys @> ARRAY[${key}]::text[]) AS unread,
               (SELECT string_agg(i.value, ' ' ORDER BY i.value) FROM resource_identifier i WHERE i.resource_type = 'ServiceRequest' AND i.resource_id = t.referral_id) AS identifiers
          FROM task t
          JOIN resource_history h ON h.resource_type = 'Task' AND h.id = t.id AND h.version = t.version
          LEFT JOIN patient p ON p.id = t.patient_id
          LEFT JOIN resource_history ph ON ph.resource_type = 'Patient' AND ph.id = p.id AND ph.version = p.version
          LEFT JOIN healthcare_service hs ON hs.id = t.owner_service_id
         WHERE ${join(conditions, ' AND ')}
         ORDER BY t.last_updated DESC, t.id
         LIMIT ${query.limit}`
  );
  return rows.map((r) => {
    const section = sectionOf(r.business_status, r.archived);
    return {
      task: r.id,
      request: r.referral_id,
      requestIdentifier: r.identifiers ?? '',
      patient: (r.patient ?? '').trim(),
      birthDate: r.birth_date ?? '',
      unit: r.unit ?? '',
      status: r.business_status,
      statusLabel: STATUS_TABLE[r.business_status].display,
      section,
      sectionLabel: SECTION_LABELS[section],
      since: new Date(r.status_since).toISOString(),
      periodStart: r.period_start ?? '',
      periodEnd: r.period_end ?? '',
      unread: Number(r.unread),
      lastUpdated: new Date(r.last_updated).toISOString(),
    };
  });
}

/** The columns of an export, with their French headings. */
export const DASHBOARD_COLUMNS: { key: keyof DashboardRow; heading: string }[] = [
  { key: 'sectionLabel', heading: 'Rubrique' },
  { key: 'patient', heading: 'Patient' },
  { key: 'birthDate', heading: 'Date de naissance' },
  { key: 'requestIdentifier', heading: 'N° de dossier' },
  { key: 'request', heading: 'Demande' },
  { key: 'unit', heading: 'Unité' },
  { key: 'statusLabel', heading: 'Statut' },
  { key: 'since', heading: 'Depuis' },
  { key: 'periodStart', heading: 'Date proposée / début' },
  { key: 'periodEnd', heading: 'Fin de l’accord' },
  { key: 'unread', heading: 'Messages non lus' },
  { key: 'task', heading: 'Tâche' },
  { key: 'lastUpdated', heading: 'Dernière mise à jour' },
];

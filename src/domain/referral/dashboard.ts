/**
 * Dashboards (tableaux de bord, seed 002): a unit's or a prescriber's tasks
 * in the five sections, searchable by patient name or request number, with
 * the unread messages of each task. Always limited to the caller's own
 * organization and side.
 */
import { normalizeText } from '../../../mappings/text.js';
import { OPEN_STATUSES, REASONS, REFERRAL_REASON_SYSTEM, SECTIONS, SECTION_LABELS, sectionOf, STATUS_TABLE, type BusinessStatus, type Reason, type Section } from '../../../mappings/referral.js';
import { badRequest, forbidden } from '../../core/outcomes.js';
import type { Queryable } from '../../store/db.js';
import { dashboardRows, type SectionFilter } from '../../store/dashboard.js';
import { principalKey } from '../parties.js';
import { hasAnyRole, type Principal } from '../../core/principal.js';

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
  /** Why the task was refused or cancelled (its statusReason's label, and text when given). */
  reason: string;
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

/** The tasks of a section: archived or not, and in which statuses. */
function sectionFilter(section: Section | undefined): SectionFilter {
  switch (section) {
    case undefined:
      return {};
    case 'archived':
      return { archived: true };
    case 'in-progress':
      return { archived: false, statuses: OPEN_STATUSES };
    case 'refused':
      return { archived: false, statuses: ['refused'] };
    case 'admissions':
      return { archived: false, statuses: ['admitted'] };
    case 'cancelled':
      return { archived: false, statuses: ['cancelled'] };
  }
}

/** The caller's dashboard. */
export async function dashboard(q: Queryable, principal: Principal | undefined, query: DashboardQuery): Promise<DashboardRow[]> {
  const key = principalKey(principal);
  const roles = query.view === 'unit' ? (['receiver'] as const) : (['prescriber', 'care-team', 'admin-social', 'non-medical-manager', 'portal'] as const);
  if (!key || !hasAnyRole(principal, roles)) throw forbidden(`The ${query.view} dashboard needs a token of an organization with role ${roles.join(' or ')}`);
  const rows = await dashboardRows<BusinessStatus>(q, {
    side: query.view === 'unit' ? 'owner' : 'requester',
    key,
    ...sectionFilter(query.section),
    nameWords: query.name ? normalizeText(query.name).split(/[\s-]+/).filter(Boolean) : [],
    request: query.request,
    limit: query.limit,
  });
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
      reason: reasonText(r.status_reason),
      unread: Number(r.unread),
      lastUpdated: new Date(r.last_updated).toISOString(),
    };
  });
}

/** A statusReason as a line reads it: the label of its code (ours, or its display), then its text. */
function reasonText(reason: { coding?: { system?: string; code?: string; display?: string }[]; text?: string } | null): string {
  if (!reason) return '';
  const coding = reason.coding?.find((c) => c.system === REFERRAL_REASON_SYSTEM) ?? reason.coding?.[0];
  const label = coding?.code && coding.system === REFERRAL_REASON_SYSTEM && coding.code in REASONS ? REASONS[coding.code as Reason] : (coding?.display ?? coding?.code);
  return [label, reason.text].filter(Boolean).join(' : ');
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
  { key: 'reason', heading: 'Motif de refus ou d’annulation' },
  { key: 'unread', heading: 'Messages non lus' },
  { key: 'task', heading: 'Tâche' },
  { key: 'lastUpdated', heading: 'Dernière mise à jour' },
];

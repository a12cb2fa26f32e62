/**
 * The work lists of orientation decisions (issue 17): an ESMS's (the
 * decisions notified to it, in its sections: notified, in contact, waiting
 * list, admitted, impossible, closed) and an MDPH's (its decisions' tasks in
 * every ESMS, by the same sections, by validity colour, Creton, priority),
 * searchable by the person's name or a decision number; exported as the
 * hospital dashboard is. Always the caller's own organization and side.
 */
import { DECISION_SECTIONS, ESMS_STATUSES, isEsmsStatus, isValidityAlert, VALIDITY_ALERTS, validityAlertOf, decisionSectionOf, type DecisionSection } from '../../../mappings/decision/statuses.js';
import { normalizeText } from '../../../mappings/text.js';
import { badRequest, forbidden } from '../../core/outcomes.js';
import { hasAnyRole, type Principal } from '../../core/principal.js';
import type { Queryable } from '../../store/db.js';
import { decisionListRows } from '../../store/decision-dashboard.js';
import { principalKey } from '../parties.js';

export interface DecisionListQuery {
  section?: DecisionSection;
  validity?: keyof typeof VALIDITY_ALERTS;
  creton?: boolean;
  priority?: number;
  name?: string;
  decision?: string;
  limit: number;
}

/** One line of a decisions work list. */
export interface DecisionListLine {
  task: string;
  decision: string;
  decisionNumbers: string;
  person: string;
  birthDate: string;
  individual: string;
  department: string;
  category: string;
  esmsFiness: string;
  esms: string;
  status: string;
  statusLabel: string;
  section: string;
  sectionLabel: string;
  since: string;
  validityStart: string;
  validityEnd: string;
  validity: string;
  creton: string;
  priority: string;
  lastUpdated: string;
}

/** The columns of an export, in order, with their headings (French, as the people who export read them). */
export const DECISION_LIST_COLUMNS: readonly { key: keyof DecisionListLine; heading: string }[] = [
  { key: 'decisionNumbers', heading: 'N° de décision' },
  { key: 'person', heading: 'Personne' },
  { key: 'birthDate', heading: 'Date de naissance' },
  { key: 'individual', heading: 'N° individu' },
  { key: 'department', heading: 'MDPH' },
  { key: 'category', heading: 'Catégorie ESMS' },
  { key: 'esms', heading: 'ESMS' },
  { key: 'esmsFiness', heading: 'FINESS' },
  { key: 'statusLabel', heading: 'Statut' },
  { key: 'sectionLabel', heading: 'Section' },
  { key: 'since', heading: 'Depuis' },
  { key: 'validityStart', heading: 'Début de validité' },
  { key: 'validityEnd', heading: 'Fin de validité' },
  { key: 'validity', heading: 'Alerte de validité' },
  { key: 'creton', heading: 'Amendement Creton' },
  { key: 'priority', heading: 'Priorité' },
  { key: 'lastUpdated', heading: 'Mise à jour' },
  { key: 'task', heading: 'Task' },
  { key: 'decision', heading: 'ServiceRequest' },
];

/** Reads a work-list query (400 on anything unknown). */
export function parseDecisionListQuery(params: URLSearchParams, maxCount: number): DecisionListQuery {
  const allowed = new Set(['section', 'validity', 'creton', 'priority', 'name', 'decision', '_count', 'format', '_format']);
  for (const key of params.keys()) if (!allowed.has(key)) throw badRequest(`Unknown parameter "${key}"; supported: section, validity, creton, priority, name, decision, _count, format`, key);
  const section = params.get('section') ?? undefined;
  if (section !== undefined && !Object.hasOwn(DECISION_SECTIONS, section)) throw badRequest(`section is one of ${Object.keys(DECISION_SECTIONS).join(', ')}`, 'section');
  const validity = params.get('validity') ?? undefined;
  if (validity !== undefined && !isValidityAlert(validity)) throw badRequest(`validity is one of ${Object.keys(VALIDITY_ALERTS).join(', ')}`, 'validity');
  const creton = params.get('creton');
  if (creton !== null && creton !== 'true' && creton !== 'false') throw badRequest('creton is true or false', 'creton');
  const priority = params.get('priority');
  if (priority !== null && !/^\d{1,2}$/.test(priority)) throw badRequest('priority is the decision’s level (a number)', 'priority');
  const count = params.get('_count');
  if (count !== null && !/^\d{1,9}$/.test(count)) throw badRequest('_count is a number', '_count');
  return {
    ...(section ? { section: section as DecisionSection } : {}),
    ...(validity ? { validity: validity } : {}),
    ...(creton !== null ? { creton: creton === 'true' } : {}),
    ...(priority !== null ? { priority: Number(priority) } : {}),
    name: params.get('name') || undefined,
    decision: params.get('decision') || undefined,
    limit: Math.min(Number(count ?? 1_000), maxCount),
  };
}

/** The caller's work list: an ESMS's or an MDPH's (403 for any other role). */
export async function decisionWorkList(q: Queryable, principal: Principal | undefined, query: DecisionListQuery, today: string): Promise<DecisionListLine[]> {
  const key = principalKey(principal);
  const side = hasAnyRole(principal, ['esms']) ? 'owner' : hasAnyRole(principal, ['mdph']) ? 'requester' : undefined;
  if (!side || !key) throw forbidden('The decisions work list is an ESMS’s or an MDPH’s (role esms or mdph, with its organization)');
  const bounds = query.validity ? VALIDITY_ALERTS[query.validity] : undefined;
  const rows = await decisionListRows(q, {
    side,
    key,
    today,
    ...(query.section ? { statuses: DECISION_SECTIONS[query.section].statuses } : {}),
    ...(bounds ? { validity: { ...(bounds.from !== undefined ? { from: bounds.from } : {}), ...(bounds.to !== undefined ? { to: bounds.to } : {}) } } : {}),
    ...(query.creton !== undefined ? { creton: query.creton } : {}),
    ...(query.priority !== undefined ? { priority: query.priority } : {}),
    nameWords: query.name ? normalizeText(query.name).split(/\s+/).filter(Boolean) : [],
    ...(query.decision ? { decision: query.decision } : {}),
    limit: query.limit,
  });
  return rows.map((r) => {
    const section = decisionSectionOf(r.business_status);
    return {
      task: r.id,
      decision: r.referral_id,
      decisionNumbers: r.identifiers ?? '',
      person: (r.person ?? '').trim(),
      birthDate: r.birth_date ?? '',
      individual: r.individual ?? '',
      department: r.department ?? '',
      category: r.esms_category ?? '',
      esmsFiness: r.esms_finess ?? '',
      esms: r.esms ?? '',
      status: r.business_status,
      statusLabel: isEsmsStatus(r.business_status) ? ESMS_STATUSES[r.business_status].display : r.business_status,
      section: section ?? '',
      sectionLabel: section ? DECISION_SECTIONS[section].label : '',
      since: new Date(r.status_since).toISOString(),
      validityStart: r.validity_start ?? '',
      validityEnd: r.validity_end ?? '',
      validity: r.validity_end ? VALIDITY_ALERTS[validityAlertOf(r.validity_end, today)].display : '',
      creton: r.creton ? 'oui' : 'non',
      priority: r.level_esms === null ? '' : String(r.level_esms),
      lastUpdated: new Date(r.last_updated).toISOString(),
    };
  });
}

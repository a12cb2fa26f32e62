/**
 * The code systems the gateway defines, and a ValueSet of each (all its
 * codes), written from the same tables the code that emits the codes reads:
 * a status, reason or flag the gateway writes is a concept here, or the R4
 * guard of the tests fails.
 */
import type { CodeSystem, ValueSet } from '@medplum/fhirtypes';
import { DECISION_CATEGORY } from '../../../mappings/decision/codes.js';
import { ANSWER_LISTS, listSystem } from '../../../mappings/forms.js';
import { MESSAGE_CATEGORY_SYSTEM, REASONS, REFERRAL_FLAG_SYSTEM, REFERRAL_REASON_SYSTEM, REFERRAL_STATUS_SYSTEM, STATUS_TABLE } from '../../../mappings/referral.js';
import { AUDIT_SUBTYPE_SYSTEM, SECURITY_EVENTS } from '../../domain/audit/render.js';
import { ROLE_TITLES } from '../../core/principal.js';
import { CANONICAL_BASE } from './canonical.js';

/** A code system as declared: its id (the last segment of its URL), words, and concepts. */
interface Declared {
  url: string;
  title: string;
  description: string;
  concepts: readonly { code: string; display: string; definition?: string }[];
}

const DECLARED: readonly Declared[] = [
  {
    url: REFERRAL_STATUS_SYSTEM,
    title: 'Statuts d’une demande d’admission',
    description: 'Where an admission request stands for one receiving unit (Task.businessStatus), from the seeds’ status table.',
    concepts: Object.entries(STATUS_TABLE).map(([code, s]) => ({ code, display: s.display, definition: `Task.status ${s.taskStatus}` })),
  },
  {
    url: REFERRAL_REASON_SYSTEM,
    title: 'Motifs de refus ou d’annulation',
    description: 'The reason a unit refuses, or a prescriber or the gateway cancels, an admission request (Task.statusReason).',
    concepts: Object.entries(REASONS).map(([code, display]) => ({ code, display })),
  },
  // The forms' answer lists, the care wanted first.
  ...ANSWER_LISTS.map((l) => ({ url: listSystem(l), title: l.title, description: l.description, concepts: l.codes.map(([code, display]) => ({ code, display })) })),
  {
    url: REFERRAL_FLAG_SYSTEM,
    title: 'Marques d’une demande d’admission',
    description: 'Tags the gateway puts on the tasks of admission requests (meta.tag).',
    concepts: [{ code: 'archived', display: 'Archivée', definition: 'Closed for long enough to leave the dashboards’ working sections' }],
  },
  {
    url: MESSAGE_CATEGORY_SYSTEM,
    title: 'Catégories de messages',
    description: 'Kinds of messages (Communication.category) exchanged on an admission request.',
    concepts: [{ code: 'reminder', display: 'Relance', definition: 'A reminder sent by one side to the other' }],
  },
  {
    url: DECISION_CATEGORY.system,
    title: 'Natures de demandes',
    description: 'What a ServiceRequest stands for when it is not an admission request (ServiceRequest.category).',
    concepts: [{ code: DECISION_CATEGORY.code, display: DECISION_CATEGORY.display, definition: 'An orientation decision of a CDAPH, imported from its MDPH' }],
  },
  {
    url: `${CANONICAL_BASE}/CodeSystem/decision-flag`,
    title: 'Marques d’une notification de décision',
    description: 'Tags the gateway puts on the tasks of orientation decisions (meta.tag).',
    concepts: [{ code: 'claimed', display: 'Notification déclarée par l’ESMS', definition: 'The ESMS claimed the decision ($claim) rather than being targeted by it' }],
  },
  {
    url: `${CANONICAL_BASE}/CodeSystem/role`,
    title: 'Rôles des clients',
    description: 'The roles of the gateway’s OAuth2 clients (AuditEvent.agent.role); what each may do is in the access rules of each resource type.',
    concepts: Object.entries(ROLE_TITLES).map(([code, display]) => ({ code, display })),
  },
  {
    url: AUDIT_SUBTYPE_SYSTEM,
    title: 'Événements de sécurité',
    description: 'AuditEvent subtypes of the events that are not RESTful interactions.',
    concepts: Object.entries(SECURITY_EVENTS).map(([code, e]) => ({ code, display: e.subtypeDisplay, definition: `DICOM ${e.code} ${e.display}` })),
  },
];

const idOf = (url: string): string => url.slice(url.lastIndexOf('/') + 1);
const nameOf = (id: string): string => id.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());

/** The gateway's code systems. */
export function codeSystems(version: string): CodeSystem[] {
  return DECLARED.map((d) => ({
    resourceType: 'CodeSystem',
    id: idOf(d.url),
    url: d.url,
    version,
    name: nameOf(idOf(d.url)),
    title: d.title,
    status: 'active',
    description: d.description,
    caseSensitive: true,
    valueSet: `${CANONICAL_BASE}/ValueSet/${idOf(d.url)}`,
    content: 'complete',
    count: d.concepts.length,
    concept: d.concepts.map((c) => ({ ...c })),
  }));
}

/** A ValueSet of every code of each of the gateway's code systems. */
export function valueSets(version: string): ValueSet[] {
  return DECLARED.map((d) => ({
    resourceType: 'ValueSet',
    id: idOf(d.url),
    url: `${CANONICAL_BASE}/ValueSet/${idOf(d.url)}`,
    version,
    name: nameOf(idOf(d.url)),
    title: d.title,
    status: 'active',
    description: `Every code of ${d.url}.`,
    compose: { include: [{ system: d.url }] },
  }));
}

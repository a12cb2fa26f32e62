/**
 * ServiceRequest: an admission request (module Sanitaire) or an orientation
 * decision (module Handicap, written by imports only). The request's rules:
 * who sends it, what it may point at (a visible patient, usable units, the
 * volets its organization wrote), its status moves, and its tasks (one per
 * candidate unit, created and cancelled with it).
 */
import { randomUUID } from 'node:crypto';
import type { Consent, Patient, Reference, ServiceRequest, Task } from '@medplum/fhirtypes';
import { consentProblem } from '../../../mappings/consent.js';
import { CARE_WANTED, careFieldProblem, listSystem } from '../../../mappings/forms.js';
import { DECISION_CATEGORY } from '../../../mappings/decision/codes.js';
import { parseReference } from '../../../mappings/reference.js';
import { businessStatusConcept, OPEN_STATUSES, serviceRequestRow, taskRow, VALIDATED_VOLET_STATUSES, type BusinessStatus, type Volet } from '../../../mappings/referral.js';
import { stamp } from '../../../mappings/versions.js';
import { conflict, forbidden, ruleViolation } from '../../core/outcomes.js';
import { sql, type SqlFragment } from '../../store/sql.js';
import { REFERRAL_COLUMNS, referenceChecks, referralState, type VoletRow } from '../../store/tables/referral.js';
import { newTaskParties, tasksOfReferral } from '../../store/tables/task.js';
import type { VersionWrite } from '../../store/tables/versions.js';
import { visibleRows } from '../access.js';
import { COMMON_PARAMS, REQUEST_ROLES, token } from '../common-params.js';
import { targetChecks } from '../directory/targets.js';
import type { CallContext, Prepared, ResourceKind, WriteEvent } from '../kind.js';
import { principalKey, referenceKey } from '../parties.js';
import { hasAnyRole, type Principal, type Role } from '../../core/principal.js';
import { cancelRequestTasks, cancelTask } from './cancel.js';
import { asGateway, callerKeys, PRESCRIBER_SIDE } from './shared.js';

const REQUEST_STATUSES_ON_CREATE = ['active', 'draft'];

/** Who sends a request (seeds 001 and 004: every profile of the requesting side, once the medical volet is validated). */
export const SENDING_ROLES: readonly Role[] = ['prescriber', 'care-team', 'admin-social', 'non-medical-manager', 'portal', 'admin'];

/** What a person-facing portal asks for the person: Grand Âge care. */
export const PORTAL_CARE: readonly string[] = ['EHPAD', 'USLD'];

/**
 * Volets (alias `t`) written by the caller's organization: the only ones it
 * may cite. Reading a volet (a unit reads those of the requests it received)
 * gives no right to put it in a request of one's own.
 */
function authoredBy(principal: Principal | undefined): SqlFragment {
  if (principal?.gateway || hasAnyRole(principal, ['admin'])) return sql`TRUE`;
  const key = principalKey(principal);
  return key ? sql`t.author_keys @> ARRAY[${key}]::text[]` : sql`FALSE`;
}

/** Documents (alias `t`) of the caller's organization: the only ones it may cite, as for volets. */
function documentsOf(principal: Principal | undefined): SqlFragment {
  if (principal?.gateway || hasAnyRole(principal, ['admin'])) return sql`TRUE`;
  const key = principalKey(principal);
  return key ? sql`t.owner_org = ${key}` : sql`FALSE`;
}

/**
 * What a request points at, checked in one statement: its subject (a
 * patient the caller may see), its new candidate units (usable targets) and
 * its volets (written by the caller's organization).
 */
async function checkReferences(e: WriteEvent, ctx: CallContext, request: ServiceRequest, added: string[], performers: string[], care: string[], sending: boolean): Promise<void> {
  const subject = parseReference(request.subject?.reference);
  if (!subject || subject.type !== 'Patient') throw ruleViolation('The request needs a subject Patient/{id}', 'ServiceRequest.subject');
  const cited = (type: string): { id: string; i: number }[] =>
    (request.supportingInfo ?? [])
      .map((s, i) => ({ ref: parseReference(s.reference), i }))
      .filter((v) => v.ref?.type === type)
      .map((v) => ({ id: v.ref?.id as string, i: v.i }));
  const volets = cited('QuestionnaireResponse');
  const documents = cited('DocumentReference');
  const consents = cited('Consent');
  const found = await referenceChecks(e.q, {
    subject: subject.id,
    subjectVisible: visibleRows(ctx.principal, e.repo.kind('Patient')),
    volets: volets.map((v) => v.id),
    voletsAllowed: authoredBy(ctx.principal),
    documents: documents.map((d) => d.id),
    consents: consents.map((c) => c.id),
    documentsAllowed: documentsOf(ctx.principal),
    targets: added,
  });
  if (!found.subject) throw ruleViolation(`Patient/${subject.id} does not exist`, 'ServiceRequest.subject');
  const checks = targetChecks(added, found.targets);
  for (const id of added) {
    const check = checks.get(id);
    if (!check?.usable) throw ruleViolation(`HealthcareService/${id} cannot receive requests: ${check?.reason ?? 'unknown'}`, `ServiceRequest.performer[${performers.indexOf(id)}]`);
    // The unit takes the care asked, as its field of activity says (ROR).
    const field = careFieldProblem(care, found.targets.find((t) => t.id === id)?.type_codes ?? []);
    if (field) throw ruleViolation(`HealthcareService/${id} cannot receive this request: ${field}`, `ServiceRequest.performer[${performers.indexOf(id)}]`);
  }
  const missing = volets.find((v) => !found.volets.some((row) => row.id === v.id));
  if (missing) throw ruleViolation(`QuestionnaireResponse/${missing.id} is not a volet of this patient written by your organization`, `ServiceRequest.supportingInfo[${missing.i}]`);
  const stray = documents.find((d) => !found.documents.includes(d.id));
  if (stray) throw ruleViolation(`DocumentReference/${stray.id} is not a document of this patient written by your organization`, `ServiceRequest.supportingInfo[${stray.i}]`);
  const strayConsent = consents.find((c) => !found.consents.some((row) => row.id === c.id));
  if (strayConsent) throw ruleViolation(`Consent/${strayConsent.id} is not a consent of this patient recorded by your organization`, `ServiceRequest.supportingInfo[${strayConsent.i}]`);
  if (sending) checkReadyToSend(found.volets, care, consentVerdict(e, found.patient, found.consents));
}

/**
 * Whether the patient agrees to the orientation: one of the consents cited
 * holds (mappings/consent.ts); otherwise what is wrong with them, or that
 * there is none.
 */
function consentVerdict(e: WriteEvent, patient: Patient | null, consents: readonly { id: string; content: Consent }[]): string | undefined {
  if (consents.length === 0 || !patient) return 'none is cited in supportingInfo';
  const today = e.ctx.clock.now().toISOString().slice(0, 10);
  const problems: string[] = [];
  for (const { id, content } of consents) {
    const problem = consentProblem(content, patient, today);
    if (!problem) return undefined;
    problems.push(`Consent/${id}: ${problem}`);
  }
  return problems.join('; ');
}

/**
 * A request is sent (made active) only with its medical volet validated (by
 * a prescriber: the volet's own rule) for the care it asks (`care`, from its
 * category), its administrative and social volet completed, as the service
 * defines the request, and the patient's agreement (`consent`: what is
 * wrong with the consents cited, if anything); the care volet may follow.
 * Says everything that is missing at once.
 */
function checkReadyToSend(volets: readonly VoletRow[], care: readonly string[], consent: string | undefined): void {
  const validated = (volet: Volet): boolean => volets.some((v) => v.volet === volet && VALIDATED_VOLET_STATUSES.includes(v.status));
  const missing: string[] = [];
  for (const [volet, what] of [
    ['medical', 'the medical volet validated by a prescriber (status completed)'],
    ['administrative', 'the administrative and social volet completed'],
  ] as const) {
    if (validated(volet)) continue;
    const cited = volets.filter((v) => v.volet === volet);
    missing.push(cited.length > 0 ? `${what}: QuestionnaireResponse/${cited[0].id} is ${cited[0].status}` : `${what}: none is cited in supportingInfo`);
  }
  const medical = volets.find((v) => v.volet === 'medical' && VALIDATED_VOLET_STATUSES.includes(v.status));
  if (care.length === 0) missing.push(`the care wanted in category (${listSystem(CARE_WANTED)}: ${CARE_WANTED.codes.map(([code]) => code).join(', ')})`);
  else if (medical?.care_wanted && !care.includes(medical.care_wanted)) missing.push(`a medical volet written for the care wanted: QuestionnaireResponse/${medical.id} is for ${medical.care_wanted}, the request asks ${care.join(', ')}`);
  if (consent) missing.push(`the patient’s agreement (Consent): ${consent}`);
  if (missing.length > 0) throw ruleViolation(`A request is sent with ${missing.join('; and ')}`, 'ServiceRequest.supportingInfo');
}

/**
 * The requester a unit sees is the caller's own organization, named by its
 * literal reference or by one of its identifiers. Practitioners are not in
 * the directory yet, so a PractitionerRole (whatever its display) cannot be
 * tied to the caller's organization and is refused, as a display alone is.
 */
async function checkRequester(e: WriteEvent, requester: Reference): Promise<void> {
  const literal = parseReference(requester.reference);
  const type = literal?.type ?? requester.type ?? (requester.identifier ? 'Organization' : undefined);
  const key = referenceKey(requester);
  if (type !== 'Organization' || !key || !(await callerKeys(e.ctx, e.q)).includes(key)) {
    throw ruleViolation('The requester is the caller’s own organization: Organization/{id}, or an identifier of it (e.g. its FINESS)', 'ServiceRequest.requester');
  }
}

/** The systems a request's category is coded from: the care wanted, and the ROR's fields of activity (TRE_R227, FR Core). */
const CATEGORY_SYSTEMS: readonly string[] = [
  listSystem(CARE_WANTED),
  'https://mos.esante.gouv.fr/NOS/TRE_R227-ChampActivite/FHIR/TRE-R227-ChampActivite',
  'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-champ-activite',
];

/** The care a request asks for (its care-wanted codes); 422 for a category coded otherwise. */
function careWanted(request: ServiceRequest): string[] {
  const codes: string[] = [];
  (request.category ?? []).forEach((concept, i) =>
    (concept.coding ?? []).forEach((coding, j) => {
      const at = `ServiceRequest.category[${i}].coding[${j}]`;
      if (!CATEGORY_SYSTEMS.includes(coding.system ?? '')) throw ruleViolation(`The care wanted is coded from ${CATEGORY_SYSTEMS.join(' or ')}; not ${coding.system ?? '(no system)'}`, at);
      if (coding.system !== listSystem(CARE_WANTED)) return;
      if (!CARE_WANTED.codes.some(([code]) => code === coding.code)) throw ruleViolation(`${coding.code} is not a care wanted: ${CARE_WANTED.codes.map(([code]) => code).join(', ')}`, at);
      codes.push(coding.code as string);
    })
  );
  return codes;
}

function isDecision(request: ServiceRequest | undefined): boolean {
  return (request?.category ?? []).some((c) => c.coding?.some((k) => k.code === DECISION_CATEGORY.code && k.system === DECISION_CATEGORY.system));
}

async function prepareServiceRequest(e: WriteEvent): Promise<Prepared> {
  const request = e.resource as ServiceRequest;
  const previous = e.previous?.content as ServiceRequest | undefined;
  const gateway = e.ctx.principal?.gateway === true;
  if (isDecision(request) || isDecision(previous)) {
    if (!gateway) throw ruleViolation('Orientation decisions are written by their MDPH’s imports (POST /fhir/$import-decisions), not through ServiceRequest', 'ServiceRequest.category');
    return { resource: request };
  }
  const now = e.ctx.clock.now();
  const care = careWanted(request);
  // A portal asks, for the person, Grand Âge care only.
  const portalOnly = hasAnyRole(e.ctx.principal, ['portal']) && !hasAnyRole(e.ctx.principal, SENDING_ROLES.filter((r) => r !== 'portal'));
  if (portalOnly && care.some((c) => !PORTAL_CARE.includes(c))) throw ruleViolation(`A person-facing portal asks for ${PORTAL_CARE.join(' or ')}, not ${care.join(', ')}`, 'ServiceRequest.category');
  const performers = (request.performer ?? []).map((p, i) => {
    const ref = parseReference(p.reference);
    if (!ref || ref.type !== 'HealthcareService') throw ruleViolation('Each performer must be a candidate unit, HealthcareService/{id}', `ServiceRequest.performer[${i}]`);
    return ref.id;
  });
  if (new Set(performers).size !== performers.length) throw ruleViolation('A unit is listed twice in performer', 'ServiceRequest.performer');
  if (request.status === 'active' && performers.length === 0) throw ruleViolation('An active request needs at least one candidate unit in performer', 'ServiceRequest.performer');
  // Units are checked when they are added, and all of them when a draft is sent.
  const previousPerformers = new Set(previous?.status === 'active' ? (previous.performer ?? []).map((p) => parseReference(p.reference)?.id) : []);
  const added = performers.filter((id) => !previousPerformers.has(id));
  if (!gateway) {
    if (request.status === 'active' && previous?.status !== 'active' && !hasAnyRole(e.ctx.principal, SENDING_ROLES)) {
      throw forbidden(`A request is sent (status active) by ${SENDING_ROLES.join(', ')}`, 'ServiceRequest.status');
    }
    if (previous && parseReference(request.subject?.reference)?.id !== parseReference(previous.subject?.reference)?.id) {
      throw ruleViolation('A request keeps its patient; make a new request for another patient', 'ServiceRequest.subject');
    }
    if (request.requester) await checkRequester(e, request.requester);
  }
  const sending = !gateway && request.status === 'active' && previous?.status !== 'active';
  await checkReferences(e, gateway ? asGateway(e.ctx, e.q) : e.ctx, request, added, performers, care, sending);

  if (!previous) {
    if (!REQUEST_STATUSES_ON_CREATE.includes(request.status)) throw ruleViolation(`A new request is active or draft, not ${request.status}`, 'ServiceRequest.status');
    const requester = gateway ? [] : await callerKeys(e.ctx, e.q);
    return {
      resource: { ...request, authoredOn: request.authoredOn ?? now.toISOString() },
      row: { requester_keys: requester, last_prescriber_action_at: now.toISOString() },
    };
  }
  if (!gateway) {
    const state = await referralState(e.q, e.id);
    const key = principalKey(e.ctx.principal);
    if (!key || !state?.requester_keys.includes(key)) throw forbidden('Only the prescriber’s organization may change its request');
    if (state.archived) throw conflict('This request is archived and can no longer change');
    if (previous.status !== request.status) {
      // Sending a draft is for every profile of the requesting side; cancelling, for the prescriber.
      const movers = request.status === 'active' ? SENDING_ROLES : PRESCRIBER_SIDE;
      if (!hasAnyRole(e.ctx.principal, movers)) throw forbidden(`A request is ${request.status === 'active' ? 'sent' : 'cancelled'} by ${movers.join(', ')}`, 'ServiceRequest.status');
      const allowed: Record<string, string[]> = { draft: ['active', 'revoked'], active: ['revoked'] };
      if (!(allowed[previous.status] ?? []).includes(request.status)) {
        const hint = previous.status === 'revoked' && request.status === 'active' ? ' (to reactivate a cancelled request, POST ServiceRequest/{id}/$reactivate)' : '';
        throw conflict(
          `A request moves from ${previous.status} to ${(allowed[previous.status] ?? []).join(' or ') || 'nothing'}, not to ${request.status}${hint}`,
          'ServiceRequest.status'
        );
      }
    } else if (previous.status === 'revoked') {
      throw conflict('A cancelled request does not change; reactivate it first with $reactivate', 'ServiceRequest.status');
    }
  }
  // The initial request date is kept whatever the update says.
  return {
    resource: { ...request, authoredOn: previous.authoredOn },
    row: gateway ? {} : { last_prescriber_action_at: now.toISOString() },
  };
}

/** The Task the gateway creates for one candidate unit. */
function taskFor(request: ServiceRequest, requestId: string, serviceId: string, now: string): Task {
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    businessStatus: businessStatusConcept('sent'),
    focus: { reference: `ServiceRequest/${requestId}` },
    for: request.subject,
    ...(request.requester ? { requester: request.requester } : {}),
    owner: { reference: `HealthcareService/${serviceId}` },
    authoredOn: now,
    lastModified: now,
  };
}

async function afterServiceRequest(e: WriteEvent): Promise<void> {
  const request = e.resource as ServiceRequest;
  const previous = e.previous?.content as ServiceRequest | undefined;
  const gatewayCtx = asGateway(e.ctx, e.q);
  // A new request has no task yet.
  const tasks = previous ? await tasksOfReferral(e.q, e.id) : [];
  const performers = (request.performer ?? []).map((p) => parseReference(p.reference)?.id as string);
  if (request.status === 'active') {
    // Units newly listed get a task, including one dropped earlier whose task was closed then.
    // (a draft's units were never sent; a reactivated request's were)
    const listed = new Set(previous && previous.status !== 'draft' ? (previous.performer ?? []).map((p) => parseReference(p.reference)?.id) : []);
    const open = new Set(tasks.filter((t) => OPEN_STATUSES.includes(t.business_status as BusinessStatus)).map((t) => t.owner_service_id));
    const adding = performers.filter((id) => !listed.has(id) && !open.has(id));
    if (adding.length > 0 && tasks.some((t) => t.business_status === 'confirmed' || t.business_status === 'admitted')) {
      throw conflict('A unit was confirmed for this request: no other unit can be added', 'ServiceRequest.performer');
    }
    await createTasks(e, request, adding);
    // A unit dropped from the request: its open task is cancelled.
    for (const task of tasks) {
      if (!performers.includes(task.owner_service_id) && OPEN_STATUSES.includes(task.business_status as BusinessStatus)) {
        await cancelTask(gatewayCtx, e.repo, task.id, 'cancelled-by-prescriber', false);
      }
    }
  }
  if (previous && previous.status !== 'revoked' && request.status === 'revoked' && e.ctx.principal?.gateway !== true) {
    await cancelRequestTasks(gatewayCtx, e.repo, e.id, 'cancelled-by-prescriber');
  }
}

/** Creates the tasks of new candidate units, in one statement whatever their number, with each unit's keys and the prescriber's. */
async function createTasks(e: WriteEvent, request: ServiceRequest, serviceIds: string[]): Promise<void> {
  if (serviceIds.length === 0) return;
  const now = e.ctx.clock.now().toISOString();
  const parties = await newTaskParties(e.q, e.id, serviceIds);
  // The care asked (its first care-wanted code), for the indicators.
  const care = careWanted(request)[0] ?? null;
  const writes: VersionWrite[] = parties.map((r) => {
    const task = stamp(taskFor(request, e.id, r.service, now), randomUUID(), 1, now) as Task;
    const row = { ...taskRow(task), owner_keys: r.keys, requester_keys: r.requester_keys, status_since: now, sent_at: now, care, unit_department: r.unit_department, origin_department: r.origin_department };
    return { resource: task, version: 1, lastUpdated: now, row, identifiers: [] };
  });
  await e.repo.insertMany(asGateway(e.ctx, e.q), 'Task', writes, { prepare: writes.length <= 20 });
}

export const SERVICE_REQUEST: ResourceKind<ServiceRequest> = {
  type: 'ServiceRequest',
  table: 'referral',
  columns: REFERRAL_COLUMNS,
  toRow: serviceRequestRow,
  profiles: [],
  searchParams: [
    ...COMMON_PARAMS,
    { code: 'patient', type: 'reference', kind: 'reference', column: 'patient_id', target: 'Patient', documentation: 'The patient of the request' },
    { code: 'subject', type: 'reference', kind: 'reference', column: 'patient_id', target: 'Patient', documentation: 'Same as patient' },
    { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'draft | active | revoked | completed' },
    { code: 'performer', type: 'reference', kind: 'reference-array', column: 'performer_ids', target: 'HealthcareService', documentation: 'A candidate unit' },
    { ...token('requester', 'requester_keys', 'The prescriber’s organization: Organization/id or its identifier system|value'), expression: 'ServiceRequest.requester' },
    token('category', 'category_codes', 'The care wanted (https://aiguillage.org/fhir/CodeSystem/care-wanted: SMR, HAD, USP, EHPAD…), or https://aiguillage.org/fhir/CodeSystem/request-kind|orientation-decision'),
    { code: 'validity-end', type: 'date', kind: 'date-range', low: 'validity_end', high: 'validity_end', documentation: 'Orientation decisions: end of validity (eq, lt, le, gt, ge…)', expression: 'ServiceRequest.occurrence.ofType(Period).end', sort: "coalesce(t.validity_end, 'infinity'::date)" },
    { code: 'expiring-within', type: 'special', kind: 'days-ahead', column: 'validity_end', documentation: 'Orientation decisions whose validity ends within N days from today (e.g. 30, 90)', expression: 'ServiceRequest.occurrence.ofType(Period).end' },
    { code: 'validity-alert', type: 'token', kind: 'validity-alert', column: 'validity_end', documentation: 'Orientation decisions by the colour of their end of validity: expired, red (30 days or less), orange (31 to 90), green (beyond)', expression: 'ServiceRequest.occurrence.ofType(Period).end' },
    { code: 'department', type: 'token', kind: 'code', column: 'department', documentation: 'Orientation decisions: the MDPH’s department', expression: "ServiceRequest.requester.identifier.where(system = 'https://aiguillage.org/fhir/NamingSystem/mdph').value" },
  ],
  includes: [
    { param: 'patient', target: 'Patient', column: 'patient_id', array: false },
    { param: 'performer', target: 'HealthcareService', column: 'performer_ids', array: true },
  ],
  access: {
    read: REQUEST_ROLES,
    write: ['prescriber', 'care-team', 'admin-social', 'non-medical-manager', 'portal', 'admin'],
    visibleTo: (key) => sql`(t.requester_keys @> ARRAY[${key}]::text[] OR EXISTS (SELECT 1 FROM task x WHERE x.referral_id = t.id AND x.owner_keys @> ARRAY[${key}]::text[]))`,
    partiesWrite: true,
  },
  patientData: true,
  subscribable: true,
  clientIds: false,
  rules: { prepare: prepareServiceRequest, after: afterServiceRequest },
};

/**
 * A small world for admission-request tests: a hospital that prescribes,
 * three receiving units (SMR, HAD, USP) each in its own organization, a
 * token per side, and helpers to submit a request and move its tasks.
 */
import type { Bundle, Communication, Consent, QuestionnaireResponse, QuestionnaireResponseItem, ServiceRequest, Task } from '@medplum/fhirtypes';
import { businessStatusConcept, reasonConcept, STATUS_TABLE, VOLETS, type BusinessStatus, type Reason } from '../mappings/referral.js';
import type { Role } from '../src/core/principal.js';
import { FHIR_JSON, testPatient, type TestGateway } from './helpers.js';

export const FINESS = 'https://finess.esante.gouv.fr';
export const HOSPITAL_FINESS = '750000001';
export const UNITS = ['smr', 'had', 'usp'] as const;
export type UnitName = (typeof UNITS)[number];

export interface World {
  t: TestGateway;
  prescriber: string;
  careTeam: string;
  adminSocial: string;
  nonMedical: string;
  /** A receiver token per unit (organization `Organization/org-<unit>`). */
  unit: Record<UnitName, string>;
  admin: string;
}

/** Creates the directory and the tokens. */
export async function makeWorld(t: TestGateway): Promise<World> {
  const admin = await t.tokenFor(['admin']);
  const put = async (path: string, body: object): Promise<void> => {
    const res = await t.http.put(`/fhir/${path}`).set('Authorization', `Bearer ${admin}`).set('Content-Type', FHIR_JSON).send(body);
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
  };
  await put('Organization/chu', { resourceType: 'Organization', id: 'chu', name: 'CHU Exemple', identifier: [{ system: FINESS, value: HOSPITAL_FINESS }] });
  for (const [i, unit] of UNITS.entries()) {
    await put(`Organization/org-${unit}`, { resourceType: 'Organization', id: `org-${unit}`, name: `Établissement ${unit.toUpperCase()}`, identifier: [{ system: FINESS, value: `75000010${i}` }] });
    await put(`HealthcareService/${unit}`, { resourceType: 'HealthcareService', id: unit, name: `Unité ${unit.toUpperCase()}`, providedBy: { reference: `Organization/org-${unit}` } });
  }
  const hospital = `${FINESS}|${HOSPITAL_FINESS}`;
  const unitToken = async (unit: UnitName): Promise<string> => t.tokenFor(['receiver'], `Organization/org-${unit}`);
  return {
    t,
    prescriber: await t.tokenFor(['prescriber'], hospital),
    careTeam: await t.tokenFor(['care-team'], hospital),
    adminSocial: await t.tokenFor(['admin-social'], hospital),
    nonMedical: await t.tokenFor(['non-medical-manager'], hospital),
    unit: { smr: await unitToken('smr'), had: await unitToken('had'), usp: await unitToken('usp') },
    admin,
  };
}

/** The category of a request asking SMR. */
export const SMR_CATEGORY = [{ coding: [{ system: 'https://aiguillage.org/fhir/CodeSystem/care-wanted', code: 'SMR' }] }];

const coding = (list: string, code: string) => ({ valueCoding: { system: `https://aiguillage.org/fhir/CodeSystem/${list}`, code } });
const text = (value: string) => ({ valueString: value });

/** The block of the medical volet a care wanted asks (mappings/forms.ts). */
const CARE_BLOCKS: Record<string, QuestionnaireResponseItem> = {
  SMR: { linkId: 'bloc-smr', item: [{ linkId: 'smr-mention', answer: [coding('smr-mention', 'polyvalent')] }, { linkId: 'smr-objectifs', answer: [text('Reprise de la marche')] }] },
  HAD: {
    linkId: 'bloc-had',
    item: [
      { linkId: 'had-mode', answer: [coding('had-mode', 'complex-dressing')] },
      { linkId: 'had-domicile-adapte', answer: [{ valueBoolean: true }] },
      { linkId: 'had-medecin-traitant', answer: [{ valueBoolean: true }] },
    ],
  },
  USP: {
    linkId: 'bloc-usp',
    item: [
      { linkId: 'usp-phase', answer: [coding('palliative-phase', 'unstable')] },
      { linkId: 'usp-information', answer: [coding('patient-informed', 'yes')] },
      { linkId: 'usp-directives-anticipees', answer: [{ valueBoolean: true }] },
      { linkId: 'usp-symptomes', answer: [text('Douleur mal contrôlée')] },
    ],
  },
  EHPAD: {
    linkId: 'bloc-grand-age',
    item: [
      { linkId: 'gir', answer: [coding('aggir-gir', '2')] },
      { linkId: 'gir-date', answer: [{ valueDate: '2026-11-20' }] },
      { linkId: 'troubles-cognitifs', answer: [{ valueBoolean: true }] },
    ],
  },
};

/** What each volet answers, for a request asking `care`. */
export function voletItems(kind: keyof typeof VOLETS, care = 'SMR'): QuestionnaireResponseItem[] {
  if (kind === 'medical') {
    return [
      { linkId: 'prise-en-charge', answer: [coding('care-wanted', care)] },
      { linkId: 'motif', answer: [text('Suites d’une fracture du col du fémur')] },
      { linkId: 'diagnostic', answer: [text('Fracture du col du fémur opérée')] },
      ...(CARE_BLOCKS[care === 'USLD' ? 'EHPAD' : care] ? [CARE_BLOCKS[care === 'USLD' ? 'EHPAD' : care]] : []),
    ];
  }
  if (kind === 'care') return ['deplacements', 'toilette', 'alimentation'].map((what) => ({ linkId: `autonomie-${what}`, answer: [coding('autonomy', 'partial-help')] }));
  return [
    { linkId: 'mode-de-vie', answer: [coding('living-situation', 'home-alone')] },
    { linkId: 'protection-juridique', answer: [coding('legal-protection', 'none')] },
    { linkId: 'couverture-sociale', answer: [text('Régime général')] },
  ];
}

export function volet(kind: keyof typeof VOLETS, subject: string, status: QuestionnaireResponse['status'] = 'completed', care = 'SMR'): QuestionnaireResponse {
  return { resourceType: 'QuestionnaireResponse', questionnaire: VOLETS[kind], status, subject: { reference: subject }, item: voletItems(kind, care) };
}

/** The patient's own agreement to the orientation (an adult's). */
export function consentOf(patient: string, performer: string = patient): Consent {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: patient },
    dateTime: '2026-12-01',
    performer: [{ reference: performer }],
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    provision: { type: 'permit' },
  };
}

/**
 * A validated medical volet, a completed administrative one and the
 * patient's consent about `subject`, written by the prescriber: what a
 * request is sent with.
 */
export async function sendable(w: World, subject: string): Promise<{ reference: string }[]> {
  const refs: { reference: string }[] = [];
  for (const body of [volet('medical', subject), volet('administrative', subject), consentOf(subject)]) {
    const res = await as(w, w.prescriber).post(body.resourceType, body);
    if (res.status !== 201) throw new Error(`${body.resourceType}: ${res.status} ${JSON.stringify(res.body)}`);
    refs.push({ reference: `${body.resourceType}/${res.body.id}` });
  }
  return refs;
}

/** The transaction of an EHR: the patient (conditional on its INS), the three volets, the request to `units` from `requester`. */
export function submission(units: readonly string[], patient = testPatient(), requester = 'Organization/chu'): Bundle {
  const nir = patient.identifier?.[0];
  const entry = (fullUrl: string, resource: object, ifNoneExist?: string): NonNullable<Bundle['entry']>[number] => ({
    fullUrl,
    resource: resource as never,
    request: { method: 'POST', url: (resource as { resourceType: string }).resourceType, ...(ifNoneExist ? { ifNoneExist } : {}) },
  });
  const request: ServiceRequest = {
    resourceType: 'ServiceRequest',
    status: 'active',
    intent: 'order',
    category: [{ coding: [{ system: 'https://aiguillage.org/fhir/CodeSystem/care-wanted', code: 'SMR' }] }],
    subject: { reference: 'urn:uuid:patient' },
    requester: { reference: requester },
    performer: units.map((u) => ({ reference: `HealthcareService/${u}` })),
    supportingInfo: [{ reference: 'urn:uuid:medical' }, { reference: 'urn:uuid:care' }, { reference: 'urn:uuid:administrative' }, { reference: 'urn:uuid:consent' }],
  };
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      entry('urn:uuid:patient', patient, `identifier=${nir?.system}|${nir?.value}`),
      entry('urn:uuid:medical', volet('medical', 'urn:uuid:patient')),
      entry('urn:uuid:care', volet('care', 'urn:uuid:patient')),
      entry('urn:uuid:administrative', volet('administrative', 'urn:uuid:patient')),
      entry('urn:uuid:consent', consentOf('urn:uuid:patient')),
      entry('urn:uuid:request', request),
    ],
  };
}

/** Sends a request as `token`. */
export function as(w: World, token: string) {
  const auth = (r: ReturnType<TestGateway['http']['get']>) => r.set('Authorization', `Bearer ${token}`);
  return {
    get: (path: string) => auth(w.t.http.get(`/fhir/${path}`)),
    post: (path: string, body: object) => auth(w.t.http.post(`/fhir/${path}`)).set('Content-Type', FHIR_JSON).send(body),
    put: (path: string, body: object, ifMatch?: string) => {
      const r = auth(w.t.http.put(`/fhir/${path}`)).set('Content-Type', FHIR_JSON);
      return (ifMatch ? r.set('If-Match', ifMatch) : r).send(body);
    },
  };
}

/** The id in a `Location` (`…/Type/id/_history/n`). */
export function idFrom(location: string | undefined): string {
  const parts = (location ?? '').split('/');
  return parts[parts.indexOf('_history') - 1];
}

/** Submits a request to `units`; returns its id and its tasks by unit. */
export async function submit(w: World, units: readonly UnitName[]): Promise<{ requestId: string; patientId: string; tasks: Record<string, Task> }> {
  const res = await as(w, w.prescriber).post('', submission(units));
  if (res.status !== 200) throw new Error(`submission: ${res.status} ${JSON.stringify(res.body)}`);
  const bundle = res.body as Bundle;
  const requestId = idFrom(bundle.entry?.[5]?.response?.location);
  const patientId = idFrom(bundle.entry?.[0]?.response?.location);
  const search = await as(w, w.prescriber).get(`Task?focus=ServiceRequest/${requestId}`);
  const tasks: Record<string, Task> = {};
  for (const e of (search.body as Bundle<Task>).entry ?? []) tasks[(e.resource?.owner?.reference as string).split('/')[1]] = e.resource as Task;
  return { requestId, patientId, tasks };
}

/** The task moved to `to`, with the details each move carries. */
export function moved(task: Task, to: BusinessStatus, reason?: Reason): Task {
  const next: Task = { ...task, status: STATUS_TABLE[to].taskStatus, businessStatus: businessStatusConcept(to) };
  if (to === 'agreed-in-principle') next.restriction = { period: { start: '2026-12-01', end: '2026-12-15' } };
  if (to === 'accepted') next.restriction = { period: { start: '2026-12-05' } };
  if (to === 'refused') next.statusReason = reasonConcept(reason ?? 'no-place');
  if (to === 'cancelled') next.statusReason = reasonConcept(reason ?? 'cancelled-by-prescriber');
  return next;
}

/** Moves a task as `token`, with If-Match of its version; returns the response. */
export async function move(w: World, token: string, task: Task, to: BusinessStatus, reason?: Reason) {
  return as(w, token).put(`Task/${task.id}`, moved(task, to, reason), `W/"${task.meta?.versionId}"`);
}

/** The current task, read as the admin (no automatic move). */
export async function current(w: World, id: string): Promise<Task> {
  const res = await as(w, w.admin).get(`Task/${id}`);
  return res.body as Task;
}

export function message(taskId: string, text: string): Communication {
  return { resourceType: 'Communication', status: 'completed', partOf: [{ reference: `Task/${taskId}` }], payload: [{ contentString: text }] };
}

export type { Role };

/**
 * The world of the access matrix: two organizations on each side of each
 * flow (hospitals H1/H2, units U1/U2 plus a third unit U3 both hospitals
 * send to, MDPH 13/75, ESMS E1/E2 plus a third ESMS E3 both decisions
 * target), a token per role on side 1, and every resource registered with
 * its variant and side so that the test knows, for any id a response shows,
 * whose it is.
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { Response } from 'supertest';
import { FHIR_JSON, testNir, testPatient, waitFor, type TestGateway } from './helpers.js';
import { moved, SMR_CATEGORY, submission as referralSubmission } from './referral-world.js';
import { CALLERS, VARIANTS, type Caller, type Variant } from './access-matrix.data.js';
import { TERRITORY_SYSTEM } from '../mappings/territories.js';

export const FINESS = 'https://finess.esante.gouv.fr';
export const NIR_SYSTEM = 'urn:oid:1.2.250.1.213.1.4.8';
export const MDPH = 'https://aiguillage.org/fhir/NamingSystem/mdph';
export const DECISION_HEADER =
  'numero_individu;date_naissance;nom;prenom;sexe;id_decision;id_nat_decision;categorie_esms;date_debut_validite;date_fin_validite;caracterisation_esms;caracterisation_pro;creton;finess_esms';

export type Side = 1 | 2;

/** What each side is made of. Family names are unique, so an export that shows one tells whose data it is. */
export const SIDES = {
  1: { hospital: 'h1', hospitalFiness: '130000101', unit: 'u1', unitFiness: '130000111', dept: '13', esms: 'e1', esmsFiness: '130000201', family: 'Aubert', postal: '13001' },
  2: { hospital: 'h2', hospitalFiness: '750000102', unit: 'u2', unitFiness: '750000112', dept: '75', esms: 'e2', esmsFiness: '750000202', family: 'Bazin', postal: '75012' },
} as const;
export const U3 = { unit: 'u3', finess: '130000113' };
export const E3 = { esms: 'e3', finess: '130000203' };

/** The persons of the decisions, by side (side 2 also has a decision E1 may claim). */
export const PERSONS = {
  1: { individual: 'I13A', birthDate: '2001-02-03', family: 'Carre', decision: 'DEC-13A', national: 'NAT-13A' },
  2: { individual: 'I75A', birthDate: '2002-03-04', family: 'Dumas', decision: 'DEC-75A', national: 'NAT-75A' },
  claimable: { individual: 'I75C', birthDate: '2003-04-05', family: 'Roux', decision: 'DEC-75C', national: 'NAT-75C' },
} as const;

/** A resource of the world. */
export interface Instance {
  key: string;
  variant: Variant;
  side: Side;
  type: string;
  id: string;
  /** Runs the per-instance cells (the others are checked through the type-wide searches and histories). */
  sample: boolean;
  /** Searches that single it out (query strings on its type). */
  searches: string[];
  /** A search with `_include`s, and the keys of the instances it includes. */
  include?: { query: string; keys: string[] };
}

export interface World {
  t: TestGateway;
  /** Side 1's callers (undefined: anonymous). */
  tokens: Record<Caller, string | undefined>;
  /** Side 2's and U3's clients, for setting the world up and making events. */
  side2: { prescriber: string; receiver: string; esms: string; mdph: string };
  u3: string;
  instances: Instance[];
  byKey: Map<string, Instance>;
  nir: Record<Side, string>;
  imports: Record<Side, string>;
  /** Asynchronous Bundles (`Prefer: respond-async`) sent by each side's prescriber: their status ids. */
  asyncs: Record<Side, string>;
  /** Second clients of side 1's organizations (an MDPH 13 client, an H1 prescriber), for the per-client rules. */
  sameOrganization: { mdph: string; prescriber: string };
  hook: (name: string) => string;
}

/** A request as `token` (none: anonymous). */
export function call(t: TestGateway, token: string | undefined) {
  const auth = <R extends { set(k: string, v: string): R }>(r: R): R => (token ? r.set('Authorization', `Bearer ${token}`) : r);
  return {
    get: (path: string, headers: Record<string, string> = {}) => auth(t.http.get(path)).set(headers),
    post: (path: string, body: unknown, headers: Record<string, string> = {}) => auth(t.http.post(path)).set('Content-Type', FHIR_JSON).set(headers).send(JSON.stringify(body)),
    put: (path: string, body: unknown, headers: Record<string, string> = {}) => auth(t.http.put(path)).set('Content-Type', FHIR_JSON).set(headers).send(JSON.stringify(body)),
    del: (path: string) => auth(t.http.delete(path)),
    raw: (method: 'post', path: string, type: string, body: string, headers: Record<string, string> = {}) => auth(t.http[method](path)).set('Content-Type', type).set(headers).send(body),
  };
}

function ok(res: Response, what: string): Response {
  if (res.status >= 300) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
  return res;
}

/** The id in a `Location` (`…/Type/id/_history/n`). */
function idOf(location: string | undefined): string {
  const parts = (location ?? '').split('/');
  return parts[parts.indexOf('_history') - 1];
}

function directory(): Bundle {
  const put = (resource: { resourceType: string; id: string; [key: string]: unknown }) => ({ resource, request: { method: 'PUT' as const, url: `${resource.resourceType}/${resource.id}` } });
  const org = (id: string, finess: string, extra: object = {}) => put({ resourceType: 'Organization', id, name: `Organisation ${id}`, identifier: [{ system: FINESS, value: finess }], ...extra });
  const entries = [];
  for (const side of [1, 2] as const) {
    const s = SIDES[side];
    entries.push(org(s.hospital, s.hospitalFiness), org(`org-${s.unit}`, s.unitFiness), put({ resourceType: 'HealthcareService', id: s.unit, name: `Unité ${s.unit}`, providedBy: { reference: `Organization/org-${s.unit}` } }));
    entries.push(org(s.esms, s.esmsFiness, { type: [{ coding: [{ code: '255' }] }], address: [{ postalCode: s.postal }] }));
    entries.push(put({ resourceType: 'Location', id: `l${side}`, name: `Site ${side}`, managingOrganization: { reference: `Organization/${s.hospital}` } }));
  }
  entries.push(org(`org-${U3.unit}`, U3.finess), put({ resourceType: 'HealthcareService', id: U3.unit, name: 'Unité u3', providedBy: { reference: `Organization/org-${U3.unit}` } }));
  entries.push(org(E3.esms, E3.finess, { type: [{ coding: [{ code: '255' }] }], address: [{ postalCode: '13005' }] }));
  return { resourceType: 'Bundle', type: 'batch', entry: entries as Bundle['entry'] };
}

/** A prescriber's submission: the patient (conditional on its INS), the three volets, the consent, the request to `units`. */
function submission(side: Side, nir: string, units: string[]): Bundle {
  const s = SIDES[side];
  const patient = testPatient({ identifier: [{ system: NIR_SYSTEM, value: nir, use: 'official' }], name: [{ use: 'official', family: s.family, given: ['Jeanne'] }] });
  return referralSubmission(units, patient, `Organization/${s.hospital}`);
}

/** One referral chain: its patient, request (to its unit and U3), tasks, volets, a message, a cancelled request, a subscription. */
async function referralSide(t: TestGateway, side: Side, nir: string, tokens: { prescriber: string; receiver: string; u3: string }, hook: (name: string) => string) {
  const s = SIDES[side];
  const asPrescriber = call(t, tokens.prescriber);
  const sent = ok(await asPrescriber.post('/fhir', submission(side, nir, [s.unit, U3.unit])), `submission ${side}`).body as Bundle;
  const ids = (sent.entry ?? []).map((e) => idOf(e.response?.location));
  const [patient, medical, care, administrative, consent, request] = ids;
  const tasks = ok(await asPrescriber.get(`/fhir/Task?focus=ServiceRequest/${request}`), 'tasks').body as Bundle<Task>;
  const taskOf = (unit: string): Task => (tasks.entry ?? []).map((e) => e.resource as Task).find((x) => x.owner?.reference === `HealthcareService/${unit}`) as Task;
  // The unit accepts (it may remind the prescriber), U3 agrees in principle (the prescriber may remind it).
  const accepted = ok(await call(t, tokens.receiver).put(`/fhir/Task/${taskOf(s.unit).id}`, moved(taskOf(s.unit), 'accepted'), { 'If-Match': `W/"${taskOf(s.unit).meta?.versionId}"` }), 'accept').body as Task;
  const agreed = ok(await call(t, tokens.u3).put(`/fhir/Task/${taskOf(U3.unit).id}`, moved(taskOf(U3.unit), 'agreed-in-principle'), { 'If-Match': `W/"${taskOf(U3.unit).meta?.versionId}"` }), 'agree').body as Task;
  const message = ok(
    await asPrescriber.post('/fhir/Communication', { resourceType: 'Communication', status: 'completed', partOf: [{ reference: `Task/${accepted.id}` }], payload: [{ contentString: `Message ${side}` }] }),
    'message'
  ).body;
  // A document (its content, then its reference), cited by the request below.
  const binary = ok(await asPrescriber.post('/fhir/Binary', { resourceType: 'Binary', contentType: 'text/plain', data: Buffer.from(`Compte rendu ${side}`).toString('base64') }), 'binary').body as { id: string };
  const document = ok(
    await asPrescriber.post('/fhir/DocumentReference', {
      resourceType: 'DocumentReference',
      status: 'current',
      subject: { reference: `Patient/${patient}` },
      content: [{ attachment: { contentType: 'text/plain', url: `Binary/${binary.id}` } }],
    }),
    'document'
  ).body as { id: string };
  // A request cancelled by its prescriber (reactivable for 15 days).
  const draft = ok(
    await asPrescriber.post('/fhir/ServiceRequest', {
      resourceType: 'ServiceRequest',
      status: 'active',
      intent: 'order',
      category: SMR_CATEGORY,
      subject: { reference: `Patient/${patient}` },
      requester: { reference: `Organization/${s.hospital}` },
      performer: [{ reference: `HealthcareService/${s.unit}` }],
      // Sent with the chain's validated medical volet, completed administrative volet and consent.
      supportingInfo: [{ reference: `QuestionnaireResponse/${medical}` }, { reference: `QuestionnaireResponse/${administrative}` }, { reference: `Consent/${consent}` }, { reference: `DocumentReference/${document.id}` }],
    }),
    'second request'
  ).body as ServiceRequest;
  const cancelled = ok(await asPrescriber.put(`/fhir/ServiceRequest/${draft.id}`, { ...draft, status: 'revoked' }), 'cancel').body as ServiceRequest;
  const cancelledTask = (ok(await asPrescriber.get(`/fhir/Task?focus=ServiceRequest/${cancelled.id}`), 'cancelled task').body as Bundle<Task>).entry?.[0]?.resource as Task;
  return { patient, medical, care, administrative, consent, document: document.id, binary: binary.id, request, task: accepted.id as string, sibling: agreed.id as string, message: message.id as string, cancelled: cancelled.id as string, cancelledTask: cancelledTask.id as string, hook };
}

async function importDecisions(t: TestGateway, token: string, rows: string[]): Promise<string> {
  const res = ok(await call(t, token).raw('post', '/fhir/$import-decisions', 'text/csv', `${[DECISION_HEADER, ...rows].join('\n')}\n`, { Prefer: 'respond-async' }), 'import');
  const path = new URL(res.headers['content-location']).pathname;
  for (let i = 0; i < 400; i++) {
    const report = await call(t, token).get(path);
    if (report.status === 200) {
      if (!String(report.body.issue?.[0]?.diagnostics).includes(`${rows.length} applied, 0 rejected`)) throw new Error(`import: ${JSON.stringify(report.body)}`);
      return path.split('/').pop() as string;
    }
    if (report.status !== 202) throw new Error(`import report: ${report.status} ${JSON.stringify(report.body)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('import did not finish');
}

/** Sends a one-entry batch asynchronously and waits for its report; returns its status id. */
async function asyncBundle(t: TestGateway, token: string, organization: string): Promise<string> {
  const bundle = { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Organization/${organization}` } }] };
  const res = ok(await call(t, token).post('/fhir', bundle, { Prefer: 'respond-async' }), 'async bundle');
  const path = new URL(res.headers['content-location']).pathname;
  await waitFor('the asynchronous Bundle', async () => (await call(t, token).get(path)).status === 200);
  return path.split('/').pop() as string;
}

function decisionRow(p: { individual: string; birthDate: string; family: string; decision: string; national: string }, finess: string): string {
  return `${p.individual};${p.birthDate};${p.family};Camille;F;${p.decision};${p.national};255;2025-01-01;2029-12-31;;;0;${finess}`;
}

/** Builds the world; `clock` is moved back 80 h while the tasks take the statuses reminders wait on. */
export async function buildWorld(t: TestGateway, clock: { offsetMs: number }, hook: (name: string) => string): Promise<World> {
  const admin = await t.tokenFor(['admin']);
  const batch = ok(await call(t, admin).post('/fhir', directory()), 'directory').body as Bundle;
  const failed = (batch.entry ?? []).filter((e) => !/^20[01]/.test(e.response?.status ?? ''));
  if (failed.length > 0) throw new Error(`directory: ${JSON.stringify(failed)}`);

  const s1 = SIDES[1];
  const s2 = SIDES[2];
  const tokenOf = async (caller: Caller): Promise<string | undefined> => {
    switch (caller) {
      case 'prescriber':
      case 'care-team':
      case 'admin-social':
      case 'non-medical-manager':
      case 'portal':
        return t.tokenFor([caller], `${FINESS}|${s1.hospitalFiness}`);
      case 'receiver':
        return t.tokenFor(['receiver'], `Organization/org-${s1.unit}`);
      case 'mdph':
        return t.tokenFor(['mdph'], `${MDPH}|${s1.dept}`);
      case 'esms':
        return t.tokenFor(['esms'], `${FINESS}|${s1.esmsFiness}`);
      case 'ror':
        // The ROR role with a hospital's organization: its role, not its organization, keeps it out of patient data.
        return t.tokenFor(['ror'], `${FINESS}|${s1.hospitalFiness}`);
      case 'territory':
        // The ARS of side 1's region (Provence-Alpes-Côte d’Azur): indicators only.
        return t.tokenFor(['territory'], `${TERRITORY_SYSTEM}|region-93`);
      case 'admin':
        return admin;
      case 'anonymous':
        return undefined;
    }
  };
  const [callerTokens, side2, u3] = await Promise.all([
    Promise.all(CALLERS.map(tokenOf)),
    Promise.all([
      t.tokenFor(['prescriber'], `${FINESS}|${s2.hospitalFiness}`),
      t.tokenFor(['receiver'], `Organization/org-${s2.unit}`),
      t.tokenFor(['esms'], `${FINESS}|${s2.esmsFiness}`),
      t.tokenFor(['mdph'], `${MDPH}|${s2.dept}`),
    ]),
    t.tokenFor(['receiver'], `Organization/org-${U3.unit}`),
  ]);
  const tokens = Object.fromEntries(CALLERS.map((c, i) => [c, callerTokens[i]])) as Record<Caller, string | undefined>;
  const nir: Record<Side, string> = { 1: testNir(), 2: testNir() };

  // Referrals, 80 hours ago.
  clock.offsetMs = -80 * 3_600_000;
  let chains;
  try {
    chains = await Promise.all([
      referralSide(t, 1, nir[1], { prescriber: tokens.prescriber as string, receiver: tokens.receiver as string, u3 }, hook),
      referralSide(t, 2, nir[2], { prescriber: side2[0], receiver: side2[1], u3 }, hook),
    ]);
  } finally {
    clock.offsetMs = 0;
  }
  const subscriptions = await Promise.all(
    ([tokens.prescriber as string, side2[0]] as const).map(async (token, i) =>
      ok(
        await call(t, token).post('/fhir/Subscription', {
          resourceType: 'Subscription',
          status: 'requested',
          reason: 'Suivi',
          criteria: 'Task',
          channel: { type: 'rest-hook', endpoint: hook(`setup-${i + 1}`), payload: 'application/fhir+json', header: ['Authorization: Bearer secret-of-subscriber'] },
        }),
        'subscription'
      ).body.id as string
    )
  );

  // Decisions: MDPH 13 targets E1 and E3; MDPH 75 targets E2 and E3, and E2 alone for a person E1 will claim.
  // …and, meanwhile, each side's prescriber's asynchronous Bundle and second clients of side 1's organizations.
  const [imports, asyncs, sameMdph, samePrescriber] = await Promise.all([
    Promise.all([
      importDecisions(t, tokens.mdph as string, [decisionRow(PERSONS[1], s1.esmsFiness), decisionRow(PERSONS[1], E3.finess)]),
      importDecisions(t, side2[3], [decisionRow(PERSONS[2], s2.esmsFiness), decisionRow(PERSONS[2], E3.finess), decisionRow(PERSONS.claimable, s2.esmsFiness)]),
    ]),
    Promise.all(([tokens.prescriber as string, side2[0]] as const).map((token, i) => asyncBundle(t, token, SIDES[(i + 1) as Side].hospital))),
    t.tokenFor(['mdph'], `${MDPH}|${s1.dept}`),
    t.tokenFor(['prescriber'], `${FINESS}|${s1.hospitalFiness}`),
  ]);
  const sameOrganization = { mdph: sameMdph, prescriber: samePrescriber };

  const instances: Instance[] = [];
  const add = (variant: Variant, side: Side, label: string, id: string, sample: boolean, searches: string[], include?: { query: string; keys: string[] }): void => {
    instances.push({ key: `${variant}:${side}:${label}`, variant, side, type: VARIANTS[variant], id, sample, searches: [`_id=${id}`, ...searches], include });
  };
  for (const side of [1, 2] as const) {
    const s = SIDES[side];
    const c = chains[side - 1];
    const k = (variant: Variant, label: string) => `${variant}:${side}:${label}`;
    add('patient', side, 'patient', c.patient, true, [`identifier=${NIR_SYSTEM}|${nir[side]}`, `family=${s.family}`]);
    add('request', side, 'request', c.request, true, [`patient=Patient/${c.patient}`, `performer=HealthcareService/${s.unit}`], {
      query: `_id=${c.request}&_include=ServiceRequest:patient&_include=ServiceRequest:performer`,
      keys: [k('patient', 'patient'), k('service', s.unit), 'service:1:u3'],
    });
    add('request-cancelled', side, 'request', c.cancelled, true, [`patient=Patient/${c.patient}&status=revoked`]);
    add('task', side, 'task', c.task, true, [`focus=ServiceRequest/${c.request}`, `owner=HealthcareService/${s.unit}&patient=Patient/${c.patient}`], {
      query: `_id=${c.task}&_include=Task:patient&_include=Task:focus&_include=Task:owner`,
      keys: [k('patient', 'patient'), k('request', 'request'), k('service', s.unit)],
    });
    add('task', side, 'cancelled', c.cancelledTask, false, []);
    add('task-sibling', side, 'task', c.sibling, true, [`focus=ServiceRequest/${c.request}&owner=HealthcareService/${U3.unit}`], {
      query: `_id=${c.sibling}&_include=Task:patient&_include=Task:focus&_include=Task:owner`,
      keys: [k('patient', 'patient'), k('request', 'request'), 'service:1:u3'],
    });
    add('volet', side, 'administrative', c.administrative, true, [`patient=Patient/${c.patient}`]);
    add('volet', side, 'medical', c.medical, true, [`patient=Patient/${c.patient}&status=completed`]);
    add('volet', side, 'care', c.care, false, []);
    add('consent', side, 'consent', c.consent, true, [`patient=Patient/${c.patient}`]);
    add('document', side, 'document', c.document, true, [`patient=Patient/${c.patient}`]);
    add('binary', side, 'binary', c.binary, true, []);
    add('message', side, 'message', c.message, true, [`part-of=Task/${c.task}`, `recipient=Organization/org-${s.unit}`], {
      query: `_id=${c.message}&_include=Communication:part-of`,
      keys: [k('task', 'task')],
    });
    add('subscription', side, 'subscription', subscriptions[side - 1], true, ['status=active']);
    // Decisions.
    const p = PERSONS[side];
    const decision = `d-${s.dept}-${p.decision}`;
    const person = `p-${s.dept}-${p.individual}`;
    add('person', side, 'person', person, true, [`identifier=https://aiguillage.org/fhir/NamingSystem/mdph-individu/${s.dept}|${p.individual}`, `family=${p.family}`]);
    add('decision', side, 'decision', decision, true, [`patient=Patient/${person}`, `department=${s.dept}&category=https://aiguillage.org/fhir/CodeSystem/request-kind|orientation-decision`], {
      query: `_id=${decision}&_include=ServiceRequest:patient`,
      keys: [k('person', 'person')],
    });
    add('decision-task', side, 'task', `t-${s.dept}-${p.decision}-${s.esmsFiness}`, true, [`focus=ServiceRequest/${decision}`, `patient=Patient/${person}&owner=${FINESS}|${s.esmsFiness}`], {
      query: `_id=t-${s.dept}-${p.decision}-${s.esmsFiness}&_include=Task:patient&_include=Task:focus`,
      keys: [k('person', 'person'), k('decision', 'decision')],
    });
    add('decision-task-sibling', side, 'task', `t-${s.dept}-${p.decision}-${E3.finess}`, true, [`focus=ServiceRequest/${decision}&owner=${FINESS}|${E3.finess}`], {
      query: `_id=t-${s.dept}-${p.decision}-${E3.finess}&_include=Task:patient&_include=Task:focus`,
      keys: [k('person', 'person'), k('decision', 'decision')],
    });
    // The public directory.
    add('organization', side, s.hospital, s.hospital, true, [`identifier=${FINESS}|${s.hospitalFiness}`]);
    add('organization', side, `org-${s.unit}`, `org-${s.unit}`, false, []);
    add('organization', side, s.esms, s.esms, false, []);
    add('service', side, s.unit, s.unit, true, [`organization=Organization/org-${s.unit}`], {
      query: `_id=${s.unit}&_include=HealthcareService:organization`,
      keys: [k('organization', `org-${s.unit}`)],
    });
    add('location', side, `l${side}`, `l${side}`, true, [`organization=Organization/${s.hospital}`], {
      query: `_id=l${side}&_include=Location:organization`,
      keys: [k('organization', s.hospital)],
    });
  }
  const claimable = PERSONS.claimable;
  add('person', 2, 'claimable', `p-75-${claimable.individual}`, false, []);
  add('decision', 2, 'claimable', `d-75-${claimable.decision}`, false, []);
  add('decision-task', 2, 'claimable', `t-75-${claimable.decision}-${s2.esmsFiness}`, false, []);
  add('organization', 1, `org-${U3.unit}`, `org-${U3.unit}`, false, []);
  add('organization', 1, E3.esms, E3.esms, false, []);
  add('service', 1, U3.unit, U3.unit, false, []);

  // Every registered id exists (read as admin), so a 404 in the matrix never comes from a typo here.
  await Promise.all(instances.map(async (i) => ok(await call(t, admin).get(`/fhir/${i.type}/${i.id}`), `world ${i.key}`)));
  const byKey = new Map(instances.map((i) => [i.key, i]));
  for (const i of instances) for (const key of i.include?.keys ?? []) if (!byKey.has(key)) throw new Error(`world: ${i.key} includes unknown ${key}`);
  return {
    t,
    tokens,
    side2: { prescriber: side2[0], receiver: side2[1], esms: side2[2], mdph: side2[3] },
    u3,
    instances,
    byKey,
    nir,
    imports: { 1: imports[0], 2: imports[1] },
    asyncs: { 1: asyncs[0], 2: asyncs[1] },
    sameOrganization,
    hook,
  };
}

/** A new patient with a fresh INS (its identifiers never match an earlier search). */
export function freshPatient(): Patient {
  return testPatient({ name: [{ use: 'official', family: `Zed${randomUUID().slice(0, 6)}`, given: ['Nouveau'] }] });
}

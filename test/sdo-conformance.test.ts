/**
 * The SDO guide both ways: what ESMS software pulls conforms to the guide's
 * search-result Bundle and sdo-task profiles (checked with the gateway's
 * validator and, independently, against the copied StructureDefinitions'
 * differentials); every SDO example pushed reads back as it was sent; the
 * non-conformant example is refused and stores nothing.
 */
import fs from 'node:fs';
import type { AuditEvent, Bundle, Consent, DocumentReference, OperationOutcome, Resource, Task, TaskInput } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ESMS_STATUSES } from '../mappings/decision/statuses.js';
import { Validator } from '../src/fhir/validation.js';
import { fromRoot } from '../src/paths.js';
import { FHIR_JSON, startTestGateway, type TestGateway } from './helpers.js';

const SDO = 'https://interop.esante.gouv.fr/ig/fhir/sdo/StructureDefinition/';
const MDPH = 'https://aiguillage.org/fhir/NamingSystem/mdph';
const FINESS = 'https://finess.esante.gouv.fr';
const ESMS = {
  a: { id: 'sdo-esms-a', finess: '750000401', name: 'Foyer Les Tilleuls' },
  b: { id: 'sdo-esms-b', finess: '750000402', name: 'IME Les Peupliers' },
  c: { id: 'sdo-esms-c', finess: '750000403', name: 'SESSAD Les Saules' },
};

interface ElementDefinition {
  id: string;
  path: string;
  sliceName?: string;
  min?: number;
  max?: string;
  fixedCode?: string;
  fixedString?: string;
  type?: { code: string; profile?: string[] }[];
}
interface StructureDefinition {
  url: string;
  differential: { element: ElementDefinition[] };
}

const example = <T>(name: string): T => JSON.parse(fs.readFileSync(fromRoot(`fixtures/sdo/${name}`), 'utf8')) as T;
const structureDefinition = (id: string): StructureDefinition => JSON.parse(fs.readFileSync(fromRoot(`conformance/StructureDefinition-${id}.json`), 'utf8')) as StructureDefinition;
const validator = new Validator();

let t: TestGateway;
const tokens: Record<string, string> = {};
const auth = (who: string) => ({ Authorization: `Bearer ${tokens[who]}` });
const get = (who: string, path: string) => t.http.get(`/fhir/${path}`).set(auth(who));
const post = (who: string, path: string, body: object) => t.http.post(`/fhir/${path}`).set(auth(who)).set('Content-Type', FHIR_JSON).send(body);
const put = (who: string, path: string, body: object) => t.http.put(`/fhir/${path}`).set(auth(who)).set('Content-Type', FHIR_JSON).send(body);

/** A resource without what the server sets: its id and meta.versionId/lastUpdated (meta.profile and the rest kept). */
function asSent(resource: Resource): unknown {
  const { id: _id, meta, ...rest } = resource;
  const { versionId: _v, lastUpdated: _l, ...kept } = meta ?? {};
  return Object.keys(kept).length > 0 ? { ...rest, meta: kept } : rest;
}

/**
 * The issues of a Task against a StructureDefinition's differential, read
 * from the copied file (not from the gateway's schema): fixed codes, required
 * elements, each slice's cardinality (sliced on type.text) and value type.
 */
function differentialIssues(task: Task, sd: StructureDefinition): string[] {
  const issues: string[] = [];
  const elements = sd.differential.element;
  for (const element of elements.filter((e) => !e.id.includes(':'))) {
    const field = element.path.split('.').slice(1);
    const value = field.reduce<unknown>((v, f) => (v as Record<string, unknown> | undefined)?.[f], task);
    if (element.fixedCode !== undefined && value !== element.fixedCode) issues.push(`${element.path} is ${String(value)}, fixed ${element.fixedCode}`);
    if ((element.min ?? 0) > 0 && value === undefined) issues.push(`${element.path} is required`);
  }
  for (const slice of elements.filter((e) => e.sliceName)) {
    const text = elements.find((e) => e.id === `${slice.id}.type.text`)?.fixedString;
    const inputs = (task.input ?? []).filter((i) => i.type?.text === text);
    if (inputs.length < (slice.min ?? 0)) issues.push(`slice ${slice.sliceName} (type.text ${text}) is missing`);
    if (slice.max === '1' && inputs.length > 1) issues.push(`slice ${slice.sliceName} is repeated`);
    const types = elements.find((e) => e.id === `${slice.id}.value[x]`)?.type?.map((x) => x.code.toLowerCase()) ?? [];
    for (const input of inputs) {
      const given = Object.keys(input).find((k) => k.startsWith('value'))?.slice('value'.length).toLowerCase();
      if (types.length > 0 && !types.includes(given ?? '')) issues.push(`slice ${slice.sliceName} is value${given}, the profile says ${types.join(' | ')}`);
    }
  }
  return issues;
}

const inputOf = (task: Task, text: string): TaskInput | undefined => task.input?.find((i) => i.type?.text === text);

/** Uploads an MDPH file and waits for its report. */
async function importDecisions(csv: string): Promise<OperationOutcome> {
  const accepted = await t.http.post('/fhir/$import-decisions').set(auth('mdph75')).set('Prefer', 'respond-async').set('Content-Type', 'text/csv').send(csv);
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  const path = new URL(accepted.headers['content-location'] as string).pathname;
  for (let i = 0; i < 200; i++) {
    const res = await t.http.get(path).set(auth('mdph75'));
    if (res.status !== 202) return res.body as OperationOutcome;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('import did not finish');
}

/** The decision's task for one ESMS, as its MDPH reads it (as stored). */
async function decisionTask(idDecision: string, finess: string): Promise<Task> {
  const decision = (await get('admin', `ServiceRequest?identifier=urn:oid:1.2.250.1.213.7.75|${idDecision}`)).body.entry[0].resource as Resource;
  const tasks = ((await get('mdph75', `Task?focus=ServiceRequest/${decision.id}`)).body.entry as { resource: Task }[]).map((e) => e.resource);
  return tasks.find((task) => task.owner?.identifier?.value === finess) as Task;
}

const statusOf = (task: Task): string | undefined => task.businessStatus?.coding?.[0]?.code;
const taskRows = async (): Promise<number> => Number((await t.gateway.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM task`)).rows[0].n);

beforeAll(async () => {
  t = await startTestGateway({ workers: true });
  tokens.admin = await t.tokenFor(['admin']);
  for (const esms of Object.values(ESMS)) {
    const res = await put('admin', `Organization/${esms.id}`, { resourceType: 'Organization', id: esms.id, name: esms.name, identifier: [{ system: FINESS, value: esms.finess }] });
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  }
  tokens.mdph75 = await t.tokenFor(['mdph'], `${MDPH}|75`);
  tokens.mdph13 = await t.tokenFor(['mdph'], `${MDPH}|13`);
  tokens.esmsA = await t.tokenFor(['esms'], `${FINESS}|${ESMS.a.finess}`);
  tokens.esmsB = await t.tokenFor(['esms'], `Organization/${ESMS.b.id}`);
  tokens.esmsC = await t.tokenFor(['esms'], `${FINESS}|${ESMS.c.finess}`);
  tokens.prescriber = await t.tokenFor(['prescriber'], `${FINESS}|750000001`);
  const header = fs.readFileSync(fromRoot('fixtures/decisions/valid.csv'), 'utf8').split('\n')[0];
  // The identifiers the guide's examples name: IdDecision/IdNat_Decision (Tasks), idDecision/idNat_Decision (DocumentReference, Consent).
  const report = await importDecisions(
    [
      header,
      `S001;2000-01-01;Sdo;Exemple;F;IdDecision;IdNat_Decision;255;2025-01-01;2029-12-31;;;0;${ESMS.a.finess}`,
      `S001;2000-01-01;Sdo;Exemple;F;IdDecision;IdNat_Decision;255;2025-01-01;2029-12-31;;;0;${ESMS.b.finess}`,
      `S002;2001-02-02;Test;Michel;M;idDecision;idNat_Decision;255;2025-01-01;2029-12-31;;;0;${ESMS.a.finess}`,
      '',
    ].join('\n')
  );
  expect(report.issue?.[0].diagnostics).toContain('3 applied, 0 rejected');
});
afterAll(() => t.close());

describe('what ESMS software pulls', () => {
  it('is a search-result Bundle of sdo-task Tasks, the required slices filled from the decision and the directory', async () => {
    const taskSd = structureDefinition('sdo-task');
    const bundleSd = structureDefinition('sdo-bundle-resultat-recherche-notification-esms');
    for (const [who, esms] of [['esmsA', ESMS.a], ['esmsB', ESMS.b]] as const) {
      const res = await get(who, 'Task?_lastUpdated=gt2000-01-01T00:00:00Z&_count=100');
      expect(res.status).toBe(200);
      const bundle = res.body as Bundle<Task>;
      // The gateway's validator, with the Bundle profile (which checks each entry against sdo-task).
      const found = validator.check(bundle, [bundleSd.url]);
      expect([...found.base, ...found.profile]).toEqual([]);
      // Independently, from the copied StructureDefinitions.
      expect(bundle.type).toBe(bundleSd.differential.element.find((e) => e.path === 'Bundle.type')?.fixedCode);
      const tasks = (bundle.entry ?? []).map((e) => e.resource as Task);
      expect(tasks.length).toBe(who === 'esmsA' ? 2 : 1);
      for (const task of tasks) {
        expect(task.meta?.profile).toEqual([taskSd.url]);
        expect(differentialIssues(task, taskSd)).toEqual([]);
        expect({ status: task.status, intent: task.intent }).toEqual({ status: 'completed', intent: 'plan' });
        expect(inputOf(task, 'idNat_Struct')?.valueIdentifier).toEqual({ system: 'urn:oid:1.2.250.1.71.4.2.2', value: `1${esms.finess}` });
        expect(inputOf(task, 'nomESMS')?.valueString).toBe(esms.name);
        const status = inputOf(task, 'statutESMS')?.valueCodeableConcept?.coding?.[0].code;
        expect(Object.keys(ESMS_STATUSES)).toContain(status);
        expect(status).toBe('39');
        expect(inputOf(task, 'idDecision')?.valueIdentifier?.system).toBe('urn:oid:1.2.250.1.213.7.75');
        expect(inputOf(task, 'idNat_Decision')?.valueIdentifier?.system).toBe('urn:oid:1.2.250.1.213.8.1');
        const decision = (await get(who, task.focus?.reference as string)).body as Resource & { identifier: { system: string; value: string }[] };
        expect([inputOf(task, 'idDecision')?.valueIdentifier?.value, inputOf(task, 'idNat_Decision')?.valueIdentifier?.value]).toEqual(decision.identifier.map((i) => i.value));
        // A read by id shows the same shape.
        const read = (await get(who, `Task/${task.id}`)).body as Task;
        expect(read).toEqual(task);
        // …and so do its versions: vread and the instance history.
        const version = task.meta?.versionId as string;
        expect((await get(who, `Task/${task.id}/_history/${version}`)).body).toEqual(task);
        const history = (await get(who, `Task/${task.id}/_history`)).body as Bundle<Task>;
        for (const entry of history.entry ?? []) expect(differentialIssues(entry.resource as Task, taskSd), `version ${entry.resource?.meta?.versionId}`).toEqual([]);
      }
    }
    // Its MDPH sees the task as stored.
    const stored = await decisionTask('IdDecision', ESMS.a.finess);
    expect({ status: stored.status, intent: stored.intent, profile: stored.meta?.profile }).toEqual({ status: 'requested', intent: 'order', profile: undefined });
    // The copied profiles catch what they should: a pulled Task with another status fails both checks.
    const pulled = (await get('esmsA', `Task/${stored.id}`)).body as Task;
    const wrong = { ...pulled, status: 'requested' as const, input: pulled.input?.filter((i) => i.type?.text !== 'nomESMS') };
    expect(differentialIssues(wrong, structureDefinition('sdo-task'))).toEqual(['Task.status is requested, fixed completed', 'slice nomESMS (type.text nomESMS) is missing']);
    const issues = validator.check({ resourceType: 'Bundle', type: 'searchset', entry: [{ resource: wrong }] }, [`${SDO}sdo-bundle-resultat-recherche-notification-esms`]).profile;
    expect(issues.map((i) => i.expression?.[0])).toEqual(expect.arrayContaining(['Bundle.entry[0].resource.status', 'Bundle.entry[0].resource.input']));
  });

  it('an ESMS puts back a Task it pulled with another statutESMS: the decision’s task moves', async () => {
    const stored = await decisionTask('IdDecision', ESMS.b.finess);
    const pulled = (await get('esmsB', `Task/${stored.id}`)).body as Task;
    const changed: Task = {
      ...pulled,
      input: pulled.input?.map((i) => (i.type?.text === 'statutESMS' ? { ...i, valueCodeableConcept: { coding: [{ system: i.valueCodeableConcept?.coding?.[0].system, code: '40' }] } } : i)),
    };
    expect((await put('esmsA', `Task/${stored.id}`, changed)).status).toBe(404); // not its decision
    const res = await put('esmsB', `Task/${stored.id}`, changed);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(statusOf(await decisionTask('IdDecision', ESMS.b.finess))).toBe('40');
    expect(inputOf((await get('esmsB', `Task/${stored.id}`)).body as Task, 'statutESMS')?.valueCodeableConcept?.coding?.[0].code).toBe('40');
  });
});

describe('SDO Tasks pushed by ESMS software', () => {
  it('sdo-SDOTask.json is kept as sent and moves the decision’s task; only the ESMS and the MDPH read it', async () => {
    const sent = example<Task>('sdo-SDOTask.json');
    const step = (code: string): Task => ({
      ...sent,
      input: sent.input?.map((i) => (i.type?.text === 'statutESMS' ? { ...i, valueCodeableConcept: { coding: [{ system: 'https://mos.esante.gouv.fr/NOS/JDV_J252-StatutPersonnePriseChargeESMS/', code }] } } : i)),
    });
    for (const code of ['41', '42', '71', '47']) {
      const res = await post('esmsA', 'Task', step(code));
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(statusOf(await decisionTask('IdDecision', ESMS.a.finess))).toBe(code);
    }
    const created = await post('esmsA', 'Task', sent);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    expect(id).not.toBe(sent.id);
    const read = await get('esmsA', `Task/${id}`).set('X-Request-Id', 'sdo-read-task');
    expect(read.status).toBe(200);
    expect(asSent(read.body)).toEqual(asSent(sent));
    expect(read.body.meta.profile).toEqual(sent.meta?.profile);
    const moved = await decisionTask('IdDecision', ESMS.a.finess);
    expect(statusOf(moved)).toBe('48');
    expect(moved.statusReason?.coding?.[0].code).toBe('89'); // motifUnite
    // The decision's MDPH reads it; another ESMS, another MDPH, a prescriber are told nothing.
    expect(asSent((await get('mdph75', `Task/${id}`)).body)).toEqual(asSent(sent));
    for (const who of ['esmsB', 'esmsC', 'mdph13']) expect((await get(who, `Task/${id}`)).status, who).toBe(404);
    expect((await get('prescriber', `Task/${id}`)).status).toBe(404);
    // Audited as patient data.
    const events = ((await get('admin', 'AuditEvent?request-id=sdo-read-task')).body.entry as { resource: AuditEvent }[]).map((e) => e.resource);
    expect(events.flatMap((e) => (e.entity ?? []).map((x) => x.what?.reference))).toContain(`Task/${id}/_history/1`);
    // Its MDPH may not rewrite it.
    expect((await put('mdph75', `Task/${id}`, { ...sent, id })).status).toBe(403);
  });

  it('the Tasks of sdo-SDOBundleResultatRechercheNotificationESMS.json are kept as sent, each moving its ESMS’s task', async () => {
    const bundle = example<Bundle<Task>>('sdo-SDOBundleResultatRechercheNotificationESMS.json');
    const found = validator.check(bundle, [`${SDO}sdo-bundle-resultat-recherche-notification-esms`]);
    expect([...found.base, ...found.profile]).toEqual([]);
    const [first, second] = (bundle.entry ?? []).map((e) => e.resource as Task);
    // The first says 48 (Usager sorti), where ESMS A's task already is: stored, nothing moves.
    // The second says 41 (Contact effectué), with a motifESMS: ESMS B's task moves from 40.
    for (const [who, task, finess, status] of [
      ['esmsA', first, ESMS.a.finess, '48'],
      ['esmsB', second, ESMS.b.finess, '41'],
    ] as const) {
      const res = await post(who, 'Task', task);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(asSent((await get(who, `Task/${res.body.id}`)).body)).toEqual(asSent(task));
      expect(statusOf(await decisionTask('IdDecision', finess))).toBe(status);
    }
    expect((await decisionTask('IdDecision', ESMS.b.finess)).statusReason?.coding?.[0].code).toBe('152');
  });

  it('sdo-SDOTask_nonPassant.json is refused with the problems named, and nothing is stored', async () => {
    const before = await taskRows();
    const res = await post('esmsA', 'Task', example<Task>('sdo-SDOTask_nonPassant.json'));
    expect(res.status).toBe(422);
    const issues = (res.body as OperationOutcome).issue ?? [];
    const text = issues.map((i) => i.diagnostics).join(' | ');
    for (const expected of ['status completed', 'intent plan', 'input idNat_Struct', 'input nomESMS', 'input statutESMS', 'input idDecision', 'input idNat_Decision']) expect(text).toContain(expected);
    expect(issues.find((i) => i.diagnostics?.includes('status completed'))?.expression).toEqual(['Task.status']);
    // A conformant Task for a decision that does not target the caller: 404, nothing stored either.
    expect((await post('esmsC', 'Task', example<Task>('sdo-SDOTask.json'))).status).toBe(404);
    // An input given twice.
    const twice = example<Task>('sdo-SDOTask.json');
    twice.input = [...(twice.input ?? []), ...(twice.input ?? []).filter((i) => i.type?.text === 'nomESMS')];
    const repeated = await post('esmsA', 'Task', twice);
    expect(repeated.status).toBe(422);
    expect(repeated.body.issue[0].diagnostics).toContain('nomESMS');
    expect(await taskRows()).toBe(before);
  });
});

describe('SDO DocumentReference and ESMS Consent', () => {
  it('each example is stored as sent, read by its writer and the decision’s parties only, and audited', async () => {
    for (const [type, file] of [
      ['DocumentReference', 'sdo-SDODocumentReference.json'],
      ['Consent', 'sdo-ESMSConsent.json'],
    ] as const) {
      const sent = example<DocumentReference | Consent>(file);
      const created = await post('esmsA', type, sent);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const id = created.body.id as string;
      const read = await get('esmsA', `${type}/${id}`).set('X-Request-Id', `sdo-read-${type}`);
      expect(read.status).toBe(200);
      expect(asSent(read.body)).toEqual(asSent(sent));
      // The MDPH of the decision it names (idDecision / idNat_Decision of S002) reads it.
      expect(asSent((await get('mdph75', `${type}/${id}`)).body)).toEqual(asSent(sent));
      for (const who of ['esmsB', 'esmsC', 'mdph13']) expect((await get(who, `${type}/${id}`)).status, `${type} ${who}`).toBe(404);
      // A prescriber reads documents and consents (its requests'), not these.
      expect((await get('prescriber', `${type}/${id}`)).status).toBe(404);
      expect(((await get('esmsB', `${type}?_count=100`)).body as Bundle).entry ?? []).toEqual([]);
      const events = ((await get('admin', `AuditEvent?request-id=sdo-read-${type}`)).body.entry as { resource: AuditEvent }[]).map((e) => e.resource);
      expect(events.flatMap((e) => (e.entity ?? []).map((x) => x.what?.reference))).toContain(`${type}/${id}/_history/1`);
    }
  });

  it('what an MDPH writes about its decision, the ESMS it targets reads', async () => {
    const sent = example<DocumentReference>('sdo-SDODocumentReference.json');
    const created = await post('mdph75', 'DocumentReference', sent);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(asSent((await get('esmsA', `DocumentReference/${created.body.id}`)).body)).toEqual(asSent(sent));
    expect((await get('esmsB', `DocumentReference/${created.body.id}`)).status).toBe(404);
    // Only its writer changes it.
    expect((await put('esmsA', `DocumentReference/${created.body.id}`, { ...sent, id: created.body.id, status: 'superseded' })).status).toBe(403);
  });

  it('non-conformant ones are refused with an OperationOutcome naming the problem, and nothing is stored', async () => {
    const count = async (table: string): Promise<number> => Number((await t.gateway.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n);
    const [documents, consents] = [await count('sdo_document'), await count('sdo_consent')];
    const document = example<DocumentReference>('sdo-SDODocumentReference.json');
    const noIdentifier = await post('esmsA', 'DocumentReference', { ...document, identifier: undefined, content: [...document.content, ...document.content] });
    expect(noIdentifier.status).toBe(422);
    expect(noIdentifier.body.issue.map((i: { expression: string[] }) => i.expression[0]).sort()).toEqual(['DocumentReference', 'DocumentReference.content']);
    const consent = example<Consent>('sdo-ESMSConsent.json');
    const badConsent = await post('esmsA', 'Consent', {
      ...consent,
      status: 'draft',
      meta: { profile: consent.meta?.profile },
      provision: { data: [{ meaning: 'related', reference: { identifier: { use: 'usual', value: 'idNat_Decision' } } }] },
    });
    expect(badConsent.status).toBe(422);
    const text = badConsent.body.issue.map((i: { diagnostics: string }) => i.diagnostics).join(' | ');
    for (const expected of ['meta.source', 'status active', 'use official']) expect(text).toContain(expected);
    expect(await count('sdo_document')).toBe(documents);
    expect(await count('sdo_consent')).toBe(consents);
  });
});

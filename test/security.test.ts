/**
 * The ten holes an outside attack found (issue 13), one `describe` each, in
 * the issue's order: each test failed on the code before its fix. The world:
 * hospitals A and B (prescribers), receiving units C and D (each in its own
 * organization, C also with a prescriber client of its own), MDPHs 93 and 75,
 * ESMS E and F.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuditEvent, Bundle, OperationOutcome, QuestionnaireResponse, ServiceRequest, Subscription, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esmsStatusOf } from '../mappings/decision/statuses.js';
import { deliver, type Resolve } from '../src/queues/rest-hook.js';
import { FHIR_JSON, startTestGateway, testPatient, waitFor, type TestGateway } from './helpers.js';
import { idFrom, moved, SMR_CATEGORY, submission, voletItems } from './referral-world.js';

const FINESS = 'https://finess.esante.gouv.fr';
const MDPH = 'https://aiguillage.org/fhir/NamingSystem/mdph';
const HEADER = 'numero_individu;date_naissance;nom;prenom;sexe;id_decision;id_nat_decision;categorie_esms;date_debut_validite;date_fin_validite;caracterisation_esms;caracterisation_pro;creton;finess_esms';

let t: TestGateway;
const tok: Record<string, string> = {};
const servers: Server[] = [];

const auth = (who: string) => ({ Authorization: `Bearer ${tok[who]}` });
const get = (who: string, path: string) => t.http.get(`/fhir/${path}`).set(auth(who));
const post = (who: string, path: string, body: object, headers: Record<string, string> = {}) => t.http.post(`/fhir/${path}`).set(auth(who)).set('Content-Type', FHIR_JSON).set(headers).send(body);
const put = (who: string, path: string, body: object, headers: Record<string, string> = {}) => t.http.put(`/fhir/${path}`).set(auth(who)).set('Content-Type', FHIR_JSON).set(headers).send(body);

/** A local HTTP server; `handler` answers each request, which is recorded. */
async function server(handler: (path: string, res: import('node:http').ServerResponse) => void): Promise<{ url: string; hits: { path: string; headers: Record<string, unknown>; body: string }[] }> {
  const hits: { path: string; headers: Record<string, unknown>; body: string }[] = [];
  const s = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      hits.push({ path: req.url ?? '', headers: req.headers, body });
      handler(req.url ?? '', res);
    });
  });
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, hits };
}

/** Uploads a decisions file as `who` and waits for its report (fails after `timeoutMs`). */
async function importRows(who: string, rows: string[], timeoutMs = 20_000): Promise<{ status: number; report: OperationOutcome }> {
  const res = await t.http.post('/fhir/$import-decisions').set(auth(who)).set('Prefer', 'respond-async').set('Content-Type', 'text/csv').send(`${[HEADER, ...rows].join('\n')}\n`);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const path = new URL(res.headers['content-location']).pathname;
  const end = Date.now() + timeoutMs;
  for (;;) {
    const report = await t.http.get(path).set(auth(who));
    if (report.status !== 202) return { status: report.status, report: report.body };
    if (Date.now() > end) throw new Error(`the import is still in progress after ${timeoutMs} ms: ${JSON.stringify(report.body)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function submitted(who: string, units: string[], requester = 'Organization/hosp-a'): Promise<{ request: string; patient: string; volets: string[]; consent: string; tasks: Record<string, Task> }> {
  const res = await post(who, '', submission(units, testPatient(), requester));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const ids = (res.body as Bundle).entry?.map((e) => idFrom(e.response?.location)) ?? [];
  const tasks: Record<string, Task> = {};
  for (const e of ((await get('admin', `Task?focus=ServiceRequest/${ids[5]}`)).body as Bundle<Task>).entry ?? []) tasks[(e.resource?.owner?.reference as string).split('/')[1]] = e.resource as Task;
  return { request: ids[5], patient: ids[0], volets: ids.slice(1, 4), consent: ids[4], tasks };
}

beforeAll(async () => {
  t = await startTestGateway({ workers: true, config: { notify: { attempts: 2, backoffMs: 100, timeoutMs: 2_000, allowPrivateEndpoints: true } } });
  tok.admin = await t.tokenFor(['admin']);
  const dir = async (path: string, body: object): Promise<void> => {
    const res = await put('admin', path, body);
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
  };
  await dir('Organization/hosp-a', { resourceType: 'Organization', id: 'hosp-a', name: 'Hôpital A', identifier: [{ system: FINESS, value: '930000001' }] });
  await dir('Organization/hosp-b', { resourceType: 'Organization', id: 'hosp-b', name: 'Hôpital B', identifier: [{ system: FINESS, value: '930000002' }] });
  for (const unit of ['c', 'd']) {
    await dir(`Organization/org-${unit}`, { resourceType: 'Organization', id: `org-${unit}`, name: `Établissement ${unit}`, identifier: [{ system: FINESS, value: `93000001${unit === 'c' ? 1 : 2}` }] });
    await dir(`HealthcareService/unit-${unit}`, { resourceType: 'HealthcareService', id: `unit-${unit}`, name: `Unité ${unit}`, providedBy: { reference: `Organization/org-${unit}` } });
  }
  for (const [id, finess] of [
    ['esms-e', '930000201'],
    ['esms-f', '930000202'],
  ]) {
    await dir(`Organization/${id}`, { resourceType: 'Organization', id, name: id, identifier: [{ system: FINESS, value: finess }], type: [{ coding: [{ code: '255' }] }] });
  }
  tok.a = await t.tokenFor(['prescriber'], `${FINESS}|930000001`);
  tok.b = await t.tokenFor(['prescriber'], `${FINESS}|930000002`);
  tok.c = await t.tokenFor(['receiver'], 'Organization/org-c');
  tok.cPrescriber = await t.tokenFor(['prescriber'], 'Organization/org-c');
  tok.d = await t.tokenFor(['receiver'], 'Organization/org-d');
  tok.mdph93 = await t.tokenFor(['mdph'], `${MDPH}|93`);
  tok.mdph75 = await t.tokenFor(['mdph'], `${MDPH}|75`);
  tok.e = await t.tokenFor(['esms'], `${FINESS}|930000201`);
  tok.e2 = await t.tokenFor(['esms'], `${FINESS}|930000201`);
  tok.f = await t.tokenFor(['esms'], `${FINESS}|930000202`);
}, 60_000);

afterAll(async () => {
  await t?.close();
  for (const s of servers) s.close();
});

describe('1. volet takeover', () => {
  it('a unit’s organization may read a volet it received, but neither cite it in a request of its own nor rewrite it', async () => {
    const { volets } = await submitted('a', ['unit-c']);
    const medical = volets[0];
    expect((await get('c', `QuestionnaireResponse/${medical}`)).status).toBe(200);
    const current = (await get('c', `QuestionnaireResponse/${medical}`)).body as QuestionnaireResponse;
    const patient = current.subject?.reference as string;
    // C's own prescriber client cites A's volet in a request of its own.
    const cited = await post('cPrescriber', 'ServiceRequest', {
      resourceType: 'ServiceRequest',
      status: 'draft',
      intent: 'order',
      subject: { reference: patient },
      supportingInfo: [{ reference: `QuestionnaireResponse/${medical}` }],
    });
    expect(cited.status, JSON.stringify(cited.body)).toBe(422);
    expect(JSON.stringify(cited.body)).toContain('ServiceRequest.supportingInfo[0]');
    // …and rewrites it.
    const rewritten = await put('cPrescriber', `QuestionnaireResponse/${medical}`, { ...current, item: [...voletItems('medical').filter((i) => i.linkId !== 'motif'), { linkId: 'motif', answer: [{ valueString: 'Réécrit par C' }] }] });
    expect(rewritten.status).toBe(403);
    // Nothing changed, and a third unit still cannot read it.
    expect(((await get('admin', `QuestionnaireResponse/${medical}`)).body as QuestionnaireResponse).meta?.versionId).toBe('1');
    expect((await get('d', `QuestionnaireResponse/${medical}`)).status).toBe(404);
    // A's own prescriber still changes its volet.
    expect((await put('a', `QuestionnaireResponse/${medical}`, { ...current, item: [...voletItems('medical').filter((i) => i.linkId !== 'motif'), { linkId: 'motif', answer: [{ valueString: 'Complété' }] }] })).status).toBe(200);
  });
});

describe('2. notification SSRF through redirects', () => {
  it('does not follow a redirect: a 3xx is a failed delivery, and the place it points at hears nothing', async () => {
    const inside = await server((_path, res) => res.writeHead(200).end());
    const outside = await server((_path, res) => res.writeHead(307, { Location: `${inside.url}/internal` }).end());
    const created = await post('c', 'Subscription', {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'x',
      criteria: 'Task',
      channel: { type: 'rest-hook', endpoint: `${outside.url}/hook`, payload: 'application/fhir+json', header: ['Authorization: Bearer secret'] },
    });
    expect(created.status).toBe(201);
    await submitted('a', ['unit-c']);
    await waitFor('the subscription in error', async () => ((await get('c', `Subscription/${created.body.id}`)).body as Subscription).status === 'error');
    expect(outside.hits.length).toBeGreaterThan(0);
    expect(inside.hits).toEqual([]);
    expect(((await get('c', `Subscription/${created.body.id}`)).body as Subscription).error).toContain('307');
  });

  it('checks the address a name resolves to when it connects, not only the name', async () => {
    const inside = await server((_path, res) => res.writeHead(200).end());
    const port = new URL(inside.url).port;
    const resolveTo = (address: string): Resolve => (_host, _options, callback) => callback(null, [{ address, family: 4 }]);
    const send = (allowPrivate: boolean, address: string) =>
      deliver(`http://hooks.example:${port}/hook`, { headers: {}, body: '{}', timeoutMs: 2_000, allowPrivate, resolve: resolveTo(address) });
    await expect(send(false, '127.0.0.1')).rejects.toThrow(/not a public address/);
    await expect(send(false, '192.0.2.1')).rejects.toThrow(/not a public address/);
    expect(inside.hits).toEqual([]);
    // The same name, allowed to resolve locally (AIGUILLAGE_NOTIFY_ALLOW_PRIVATE): delivered.
    expect(await send(true, '127.0.0.1')).toBe(200);
    expect(inside.hits).toHaveLength(1);
    // A literal address is checked before connecting (no lookup happens for it).
    await expect(deliver(`${inside.url}/hook`, { headers: {}, timeoutMs: 2_000, allowPrivate: false })).rejects.toThrow(/not a public address/);
    expect(inside.hits).toHaveLength(1);
  });
});

describe('3. $claim brute force', () => {
  it('limits failed claims per client and per individual number, answers 429 with Retry-After, and records the lockout', async () => {
    const rows = ['I-BRUTE;1950-06-15;Martin;Paul;M;DEC-BRUTE;;255;2025-01-01;2030-12-31;;;0;930000202'];
    expect((await importRows('mdph93', rows)).status).toBe(200);
    const claim = (who: string, birthDate: string, individual = 'I-BRUTE') =>
      post(who, 'ServiceRequest/$claim', { resourceType: 'Parameters', parameter: [{ name: 'individualNumber', valueString: individual }, { name: 'birthDate', valueDate: birthDate }] });
    const statuses: number[] = [];
    for (let day = 1; day <= 6; day++) statuses.push((await claim('e', `1950-01-0${day}`)).status);
    expect(statuses).toEqual([404, 404, 404, 404, 404, 429]);
    const locked = await claim('e', '1950-06-15');
    expect(locked.status).toBe(429); // even the right pair, while locked out
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(60);
    // Another client (of the same ESMS) is locked out of this individual number too…
    expect((await claim('e2', '1950-06-15')).status).toBe(429);
    // …and E is locked out of other numbers.
    expect((await claim('e', '1950-06-15', 'I-OTHER')).status).toBe(429);
    // The admin finds the lockout in the audit trail.
    const events = await get('admin', 'AuditEvent?subtype=lockout');
    expect(events.status).toBe(200);
    const found = ((events.body as Bundle<AuditEvent>).entry ?? []).map((e) => e.resource as AuditEvent);
    const { clientId } = await t.gateway.tokens.verify(tok.e);
    expect(found.some((e) => JSON.stringify(e.agent).includes(clientId) && e.outcomeDesc?.includes('$claim'))).toBe(true);
  });
});

describe('4. national decision id reused across MDPHs', () => {
  it('rejects a row whose idNat_Decision another MDPH’s decision holds; SDO pushes reach the true decision', async () => {
    expect((await importRows('mdph93', ['I-93;1990-01-01;Leroy;Anne;F;DEC-93;NAT-SHARED;255;2025-01-01;2030-12-31;;;0;930000201'])).status).toBe(200);
    const decoy = await importRows('mdph75', [
      'I-75;1991-01-01;Petit;Luc;M;DEC-75;NAT-SHARED;255;2025-01-01;2030-12-31;;;0;930000201',
      'I-75B;1991-01-02;Petit;Léa;F;DEC-75B;;255;2025-01-01;2030-12-31;;;0;930000201',
    ]);
    expect(decoy.status).toBe(200);
    expect(decoy.report.issue?.[0].diagnostics).toContain('2 rows read, 1 applied, 1 rejected');
    expect(JSON.stringify(decoy.report)).toContain('NAT-SHARED');
    const sdo = {
      resourceType: 'Task',
      meta: { profile: ['https://interop.esante.gouv.fr/ig/fhir/sdo/StructureDefinition/sdo-task'] },
      status: 'completed',
      intent: 'plan',
      input: [
        { type: { text: 'idNat_Struct' }, valueString: '1930000201' },
        { type: { text: 'nomESMS' }, valueString: 'ESMS E' },
        { type: { text: 'statutESMS' }, valueCodeableConcept: { coding: [{ system: 'https://mos.esante.gouv.fr/NOS/JDV_J252-StatutPersonnePriseChargeESMS/', code: '41' }] } },
        { type: { text: 'dateStatutESMS' }, valueDate: '2026-12-01' },
        { type: { text: 'idDecision' }, valueString: 'DEC-93' },
        { type: { text: 'idNat_Decision' }, valueString: 'NAT-SHARED' },
      ],
    };
    // Kept as sent (a Task of its own), it moves the true decision's task.
    const pushed = await post('e', 'Task', sdo);
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);
    expect((pushed.body as Task).input).toEqual(sdo.input);
    expect(esmsStatusOf((await get('admin', 'Task/t-93-DEC-93-930000201')).body as Task)).toBe('41');
    expect((await get('admin', 'ServiceRequest/d-75-DEC-75')).status).toBe(404);
  });
});

describe('5. requester impersonation', () => {
  const request = (requester: object) => ({ resourceType: 'ServiceRequest', status: 'draft', intent: 'order', requester, performer: [{ reference: 'HealthcareService/unit-c' }] });

  it('refuses a requester that is not the caller’s own organization, literal or identifier', async () => {
    const patient = await post('b', 'Patient', testPatient());
    expect(patient.status).toBe(201);
    const subject = { reference: `Patient/${patient.body.id}` };
    const send = (requester: object) => post('b', 'ServiceRequest', { ...request(requester), subject });
    for (const requester of [
      { type: 'Organization', identifier: { system: FINESS, value: '930000001' } },
      { type: 'Organization', identifier: { system: 'http://finess.esante.gouv.fr', value: '930000001' } },
      { identifier: { system: FINESS, value: '930000001' } },
      { reference: 'Organization/hosp-a' },
      { reference: 'PractitionerRole/anyone', display: 'Dr A, Hôpital A' },
      { display: 'Hôpital A' },
    ]) {
      const res = await send(requester);
      expect(res.status, JSON.stringify(requester)).toBe(422);
      expect(JSON.stringify(res.body)).toContain('ServiceRequest.requester');
    }
    for (const requester of [{ reference: 'Organization/hosp-b' }, { type: 'Organization', identifier: { system: FINESS, value: '930000002' } }]) {
      expect((await send(requester)).status, JSON.stringify(requester)).toBe(201);
    }
  });
});

describe('6. invalid tokens and the rate limit', () => {
  let limited: TestGateway;
  beforeAll(async () => {
    limited = await startTestGateway({ config: { rateLimit: { rate: 1, burst: 5 } } });
  });
  afterAll(() => limited?.close());

  it('limits requests with a bad token by address, and aggregates the refusals of unauthenticated callers', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await limited.http.get('/fhir/Patient').set('Authorization', 'Bearer not.a.token')).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(20);
    const { rows } = await limited.gateway.db.query<{ rows: number; requests: number }>(`SELECT count(*)::int AS rows, coalesce(sum(count), 0)::int AS requests FROM audit_event WHERE client_id IS NULL`);
    // One row per address, minute, interaction and status, counting the requests.
    expect(rows[0].requests).toBe(30);
    expect(rows[0].rows).toBeLessThanOrEqual(4);
  });
});

describe('7. confirmed date rewritten', () => {
  it('freezes what was confirmed; a new date needs a new acceptance and confirmation', async () => {
    const { tasks } = await submitted('a', ['unit-c']);
    let task = tasks['unit-c'];
    const step = async (who: string, next: Task, expected: number): Promise<Task> => {
      const res = await put(who, `Task/${task.id}`, next, { 'If-Match': `W/"${task.meta?.versionId}"` });
      expect(res.status, JSON.stringify(res.body)).toBe(expected);
      return res.status === 200 ? (res.body as Task) : task;
    };
    task = await step('c', moved(task, 'accepted'), 200);
    task = await step('a', moved(task, 'confirmed'), 200);
    const rewrite = { ...task, restriction: { period: { start: '2027-03-01' } } };
    await step('c', rewrite, 409);
    expect(((await get('admin', `Task/${task.id}`)).body as Task).restriction?.period?.start).toBe('2026-12-05');
    // The unit proposes another date: a new acceptance, which the prescriber confirms again.
    task = await step('c', { ...moved(task, 'accepted'), restriction: { period: { start: '2027-03-01' } } }, 200);
    task = await step('a', moved(task, 'confirmed'), 200);
    expect(task.restriction?.period?.start).toBe('2027-03-01');
  });
});

describe('8. validation before authentication', () => {
  it('answers 401 before looking at the body of a non-public interaction', async () => {
    expect((await t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send('{"resourceType":"Patient","gender":"nonsense"}')).status).toBe(401);
    expect((await t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send('{not json')).status).toBe(401);
    expect((await t.http.post('/fhir/Patient/$validate').set('Content-Type', FHIR_JSON).send(testPatient())).status).toBe(401);
    expect((await t.http.put('/fhir/Organization/x').set('Content-Type', 'text/plain').send('x')).status).toBe(401);
    // A Bundle's entries answer each as alone: a write without a token is 401 before its resource is validated.
    const transaction = await t.http
      .post('/fhir')
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient', gender: 'nonsense' }, request: { method: 'POST', url: 'Patient' } }] });
    expect(transaction.status).toBe(401);
    // The public directory still answers without a token.
    expect((await t.http.get('/fhir/HealthcareService/unit-c')).status).toBe(200);
    expect((await t.http.get('/fhir/metadata')).status).toBe(200);
  });
});

describe('9. reserved ranges reach the notifier', () => {
  let strict: TestGateway;
  beforeAll(async () => {
    strict = await startTestGateway();
    tok.strict = await strict.tokenFor(['receiver'], 'Organization/org-c');
  });
  afterAll(() => strict?.close());

  it('refuses every endpoint that is not a globally routable unicast address', async () => {
    const subscribe = (host: string) =>
      strict.http
        .post('/fhir/Subscription')
        .set('Authorization', `Bearer ${tok.strict}`)
        .set('Content-Type', FHIR_JSON)
        .send({ resourceType: 'Subscription', status: 'requested', reason: 'x', criteria: 'Task', channel: { type: 'rest-hook', endpoint: `https://${host}/hook` } });
    for (const host of ['192.0.2.10', '198.18.0.1', '198.51.100.7', '203.0.113.9', '100.64.1.1', '240.0.0.1', '255.255.255.255', '224.0.0.1', '[2001:db8::1]', '[64:ff9b::7f00:1]', '[::ffff:7f00:1]', '[fc00::1]', '[2002:7f00:1::]', '0.0.0.0', '127.0.0.2', 'localhost']) {
      const res = await subscribe(host);
      expect(res.status, host).toBe(422);
    }
    expect((await subscribe('203.0.114.9')).status).toBe(201);
  });
});

describe('10. import stuck on a quote', () => {
  it('rejects a row with a quote inside an unquoted cell, and reports the file', async () => {
    const { status, report } = await importRows(
      'mdph93',
      ['I-Q1;1980-01-01;Durand;Marc;M;DEC-Q1;;255;2025-01-01;2030-12-31;;;0;930000201', 'I-Q2;1980-01-02;=HYPERLINK("http://x");Eve;F;DEC-Q2;;255;2025-01-01;2030-12-31;;;0;930000201', 'I-Q3;1980-01-03;Durand;Lise;F;DEC-Q3;;255;2025-01-01;2030-12-31;;;0;930000201'],
      10_000
    );
    expect(status).toBe(200);
    expect(report.issue?.[0].diagnostics).toContain('3 rows read, 2 applied, 1 rejected');
    const problem = report.issue?.find((i) => i.severity === 'error');
    expect(problem?.diagnostics).toMatch(/^line 3: /);
    expect((await get('mdph93', 'ServiceRequest/d-93-DEC-Q3')).status).toBe(200);
  });
});

describe('requests the holes needed are still served', () => {
  it('a prescriber still cites its own organization’s volets', async () => {
    const { volets, consent, patient } = await submitted('a', ['unit-c']);
    const res = await post('a', 'ServiceRequest', {
      resourceType: 'ServiceRequest',
      status: 'active',
      intent: 'order',
      category: SMR_CATEGORY,
      subject: { reference: `Patient/${patient}` },
      requester: { type: 'Organization', identifier: { system: FINESS, value: '930000001' } },
      performer: [{ reference: 'HealthcareService/unit-d' }],
      supportingInfo: [...volets.map((id) => ({ reference: `QuestionnaireResponse/${id}` })), { reference: `Consent/${consent}` }],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect((res.body as ServiceRequest).requester?.identifier?.value).toBe('930000001');
  });
});

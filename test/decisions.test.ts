/** Orientation decisions: MDPH imports, TRE_R357 moves by role, SDO flows, claims, expiring decisions. */
import fs from 'node:fs';
import type { Bundle, OperationOutcome, ServiceRequest, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECISION_MOVES, decisionMoves, esmsStatusConcept, esmsStatusOf, ESMS_STATUSES, VALIDITY_ALERTS, validityAlertOf, type DecisionSide, type EsmsStatus } from '../mappings/decision/statuses.js';
import { CHUNK_ROWS, runImport } from '../src/domain/decision/import-run.js';
import { GATEWAY } from '../src/core/principal.js';
import { updateResource } from '../src/domain/repository.js';
import { fromRoot } from '../src/paths.js';
import { FHIR_JSON, startTestGateway, type TestGateway } from './helpers.js';

let t: TestGateway;
const tokens: Record<string, string> = {};
const MDPH = 'https://aiguillage.org/fhir/NamingSystem/mdph';
const FINESS = 'https://finess.esante.gouv.fr';

const fixture = (name: string): Buffer => fs.readFileSync(fromRoot(`fixtures/decisions/${name}`));
const sdoFixture = (name: string): unknown => JSON.parse(fs.readFileSync(fromRoot(`fixtures/sdo/${name}`), 'utf8'));
const auth = (who: string) => ({ Authorization: `Bearer ${tokens[who]}` });

async function upload(who: string, body: Buffer | string, query = ''): Promise<{ status: number; location?: string; body: OperationOutcome }> {
  const res = await t.http.post(`/fhir/$import-decisions${query}`).set(auth(who)).set('Prefer', 'respond-async').set('Content-Type', 'text/csv').send(body);
  return { status: res.status, location: res.headers['content-location'], body: res.body };
}

/** Uploads a file and waits for its report. */
async function importFile(who: string, body: Buffer | string): Promise<{ status: number; report: OperationOutcome }> {
  const accepted = await upload(who, body);
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  const path = new URL(accepted.location as string).pathname;
  for (let i = 0; i < 200; i++) {
    const res = await t.http.get(path).set(auth(who));
    if (res.status !== 202) return { status: res.status, report: res.body };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('import did not finish');
}

const get = (who: string, path: string) => t.http.get(`/fhir/${path}`).set(auth(who));
const put = (who: string, path: string, body: object) => t.http.put(`/fhir/${path}`).set(auth(who)).set('Content-Type', FHIR_JSON).send(body);

beforeAll(async () => {
  t = await startTestGateway({ workers: true });
  tokens.admin = await t.tokenFor(['admin']);
  const dir = async (path: string, body: object): Promise<void> => {
    const res = await put('admin', path, body);
    if (res.status >= 300) throw new Error(JSON.stringify(res.body));
  };
  for (const [id, finess, type] of [
    ['esms-a', '750000201', '183'],
    ['esms-b', '750000202', '255'],
    ['esms-c', '750000203', '255'],
  ]) {
    await dir(`Organization/${id}`, { resourceType: 'Organization', id, name: id.toUpperCase(), identifier: [{ system: FINESS, value: finess }], type: [{ coding: [{ code: type }] }], address: [{ postalCode: '75012' }] });
  }
  tokens.mdph75 = await t.tokenFor(['mdph'], `${MDPH}|75`);
  tokens.mdph13 = await t.tokenFor(['mdph'], `${MDPH}|13`);
  tokens.esmsA = await t.tokenFor(['esms'], `${FINESS}|750000201`);
  tokens.esmsB = await t.tokenFor(['esms'], 'Organization/esms-b');
  tokens.esmsC = await t.tokenFor(['esms'], `${FINESS}|750000203`);
  tokens.prescriber = await t.tokenFor(['prescriber'], `${FINESS}|750000001`);
});
afterAll(() => t.close());

async function decisionsOf(who: string, query = ''): Promise<ServiceRequest[]> {
  const res = await get(who, `ServiceRequest?category=https://aiguillage.org/fhir/CodeSystem/request-kind|orientation-decision&_count=500${query}`);
  return (res.body.entry ?? []).map((e: { resource: ServiceRequest }) => e.resource);
}

describe('MDPH imports', () => {
  it('imports a valid file: decisions, persons, one task per targeted ESMS; re-importing changes nothing', async () => {
    const first = await importFile('mdph75', fixture('valid.csv'));
    expect(first.status).toBe(200);
    expect(first.report.issue?.[0].diagnostics).toContain('5 rows read, 5 applied, 0 rejected');
    const decisions = await decisionsOf('mdph75');
    expect(decisions.map((d) => d.identifier?.[0].value).sort()).toEqual(['DEC-1', 'DEC-2', 'DEC-3', 'DEC-4']);
    const dec1 = decisions.find((d) => d.identifier?.[0].value === 'DEC-1') as ServiceRequest;
    expect(dec1.identifier?.[0].system).toBe('urn:oid:1.2.250.1.213.7.75');
    expect(dec1.identifier?.[1].system).toBe('urn:oid:1.2.250.1.213.8.1');
    expect(dec1.identifier?.[1].value).toMatch(/^75-/); // assigned
    expect(decisions.find((d) => d.identifier?.[0].value === 'DEC-2')?.identifier?.[1].value).toBe('NAT-2');
    expect(dec1.performer?.map((p) => p.identifier?.value)).toEqual(['750000201', '750000202']);
    expect(dec1.occurrencePeriod).toEqual({ start: '2025-01-01', end: '2028-12-31' });
    const person = await get('mdph75', dec1.subject?.reference as string);
    expect(person.body.name[0]).toMatchObject({ family: 'Martin', given: ['Léo'] });
    const tasks = await get('admin', 'Task?_count=100');
    expect(tasks.body.entry.filter((e: { resource: Task }) => esmsStatusOf(e.resource) === '39')).toHaveLength(4);

    const counts = async (): Promise<string> => JSON.stringify((await t.gateway.db.query(`SELECT resource_type, count(*)::int AS n FROM resource_history GROUP BY 1 ORDER BY 1`)).rows);
    const before = await counts();
    const again = await importFile('mdph75', fixture('valid.csv'));
    expect(again.report.issue?.[0].diagnostics).toContain('5 applied, 0 rejected');
    expect(await counts()).toBe(before);
    // A decision changed in the MDPH's software: re-imported, it is updated (a new version), not duplicated.
    const changed = fixture('valid.csv').toString('utf8').replace('I002;12/08/2002;Bernard;Zoé;F;DEC-2;NAT-2;255;2024-06-01;2027-05-31', 'I002;12/08/2002;Bernard;Zoé;F;DEC-2;NAT-2;255;2024-06-01;2027-12-31');
    expect((await importFile('mdph75', changed)).report.issue?.[0].diagnostics).toContain('5 applied, 0 rejected');
    const dec2 = (await decisionsOf('mdph75')).filter((d) => d.identifier?.[0].value === 'DEC-2');
    expect(dec2).toHaveLength(1);
    expect(dec2[0].meta?.versionId).toBe('2');
    expect(dec2[0].occurrencePeriod?.end).toBe('2027-12-31');
    const copied = await t.gateway.db.query<{ end: string }>(`SELECT validity_end::text AS end FROM task WHERE referral_id = $1`, [dec2[0].id]);
    expect(copied.rows.map((r) => r.end)).toEqual(['2027-12-31']);
    // Another MDPH sees none of it.
    expect(await decisionsOf('mdph13')).toEqual([]);
    expect((await get('mdph13', `ServiceRequest/${dec1.id}`)).status).toBe(404);
  });

  it('reports each bad row (line, column, reason) and keeps the good ones', async () => {
    const { status, report } = await importFile('mdph75', fixture('mixed.csv'));
    expect(status).toBe(200);
    expect(report.issue?.[0].diagnostics).toContain('12 rows read, 2 applied, 10 rejected');
    const errors = (report.issue ?? []).filter((i) => i.severity === 'error').map((i) => `${i.location?.[0]} ${i.expression?.[0] ?? ''}`);
    expect(errors).toEqual([
      'line 3 nom',
      'line 4 date_naissance',
      'line 5 date_naissance',
      'line 6 date_fin_validite',
      'line 7 categorie_esms',
      'line 8 caracterisation_esms',
      'line 9 creton',
      'line 10 finess_esms',
      'line 11 ',
      'line 12 id_decision',
      'line 12 sexe',
    ]);
    const ids = (await decisionsOf('mdph75')).map((d) => d.identifier?.[0].value);
    expect(ids).toContain('MIX-1');
    expect(ids).toContain('MIX-12');
    expect(ids.filter((id) => id?.startsWith('MIX-'))).toHaveLength(2);
  });

  it('reports a NUL byte in a cell or in the header like any bad value, instead of failing on it', async () => {
    const header = fixture('valid.csv').toString('utf8').split('\n')[0];
    const { status, report } = await importFile('mdph75', `${header}\nNUL1;2010-04\u000012;Nul;Léa;F;NUL-1;;183;2025-01-01;2028-12-31;2;;0;750000201\nNUL2;2010-04-12;Nul;Léo;M;NUL-2;;183;2025-01-01;2028-12-31;2;;0;750000201\n`);
    expect(status).toBe(200);
    expect(report.issue?.[0].diagnostics).toContain('2 rows read, 1 applied, 1 rejected');
    expect(report.issue?.filter((i) => i.severity === 'error').map((i) => i.diagnostics)).toEqual(['line 2, date_naissance: expected a date YYYY-MM-DD or DD/MM/YYYY, got "2010-04\\u000012"']);
    expect((await decisionsOf('mdph75')).map((d) => d.identifier?.[0].value)).toContain('NUL-2');
    const badHeader = await importFile('mdph75', `${header};x\u0000y\n`);
    expect(badHeader.status).toBe(422);
    expect(badHeader.report.issue?.find((i) => i.severity === 'error')?.diagnostics).toContain('unknown column(s): x\\u0000y');
  });

  it('reads a Latin-1 file as such and says so; refuses a bad header, a non-CSV type and a foreign department', async () => {
    const latin = await importFile('mdph75', fixture('latin1.csv'));
    expect(latin.status).toBe(200);
    expect(latin.report.issue?.some((i) => i.severity === 'warning' && i.diagnostics?.includes('Latin-1'))).toBe(true);
    const decision = (await decisionsOf('mdph75')).find((d) => d.identifier?.[0].value === 'LAT-1') as ServiceRequest;
    expect((await get('mdph75', decision.subject?.reference as string)).body.name[0]).toMatchObject({ family: 'Hébert', given: ['Anaïs'] });

    const header = await importFile('mdph75', fixture('bad-header.csv'));
    expect(header.status).toBe(422);
    expect(header.report.issue?.find((i) => i.severity === 'error')?.diagnostics).toContain('missing column(s): numero_individu');
    const res = await t.http.post('/fhir/$import-decisions').set(auth('mdph75')).set('Prefer', 'respond-async').set('Content-Type', 'application/xml').send('<x/>');
    expect(res.status).toBe(415);
    expect((await upload('mdph75', fixture('valid.csv'), '?mdph=13')).status).toBe(403);
    expect((await upload('esmsA', fixture('valid.csv'))).status).toBe(403);
    expect((await t.http.post('/fhir/$import-decisions').set(auth('mdph75')).set('Content-Type', 'text/csv').send('x')).status).toBe(400);
  });

  it('imports decisions sent as a FHIR Bundle, reporting bad ones by entry and element', async () => {
    const person = (id: string, individual: string) => ({
      resourceType: 'Patient',
      id,
      identifier: [{ system: 'https://aiguillage.org/fhir/NamingSystem/mdph-individu/75', value: individual }],
      name: [{ family: 'Fhir', given: ['Ada'] }],
      gender: 'female',
      birthDate: '1999-09-09',
    });
    const decision = (idDecision: string, subject: string, end: string, performers: string[], contained?: object) => ({
      resourceType: 'ServiceRequest',
      ...(contained ? { contained: [contained] } : {}),
      identifier: [{ system: 'urn:oid:1.2.250.1.213.7.75', value: idDecision }],
      status: 'active',
      intent: 'order',
      code: { coding: [{ code: '255' }] },
      subject: { reference: subject },
      occurrencePeriod: { start: '2025-01-01', end },
      performer: performers.map((value) => ({ identifier: { system: 'https://finess.esante.gouv.fr', value } })),
      extension: [{ url: 'https://aiguillage.org/fhir/StructureDefinition/creton', valueBoolean: true }],
    });
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'urn:uuid:1', resource: decision('FHIR-1', '#p', '2029-01-01', ['750000201', '750000202'], person('p', 'F001')) },
        { fullUrl: 'urn:uuid:2', resource: person('x', 'F002') },
        { fullUrl: 'urn:uuid:3', resource: decision('FHIR-2', 'urn:uuid:2', '2029-01-01', []) },
        { fullUrl: 'urn:uuid:4', resource: decision('FHIR-3', 'urn:uuid:2', '2020-01-01', ['750000201']) },
      ],
    };
    const send = (body: object) => t.http.post('/fhir/$import-decisions').set(auth('mdph75')).set('Prefer', 'respond-async').set('Content-Type', FHIR_JSON).send(body);
    const accepted = await send(bundle);
    expect(accepted.status).toBe(202);
    const path = new URL(accepted.headers['content-location']).pathname;
    let report = (await t.http.get(path).set(auth('mdph75'))).body as OperationOutcome;
    for (let i = 0; i < 100 && report.issue?.[0].diagnostics?.startsWith('In progress'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      report = (await t.http.get(path).set(auth('mdph75'))).body;
    }
    expect(report.issue?.[0].diagnostics).toContain('4 rows read, 3 applied, 1 rejected');
    expect(report.issue?.filter((i) => i.severity === 'error').map((i) => [i.diagnostics?.split(':')[0], i.expression?.[0]])).toEqual([
      ['entry 3, ServiceRequest.occurrencePeriod.end', 'Bundle.entry[3].resource'],
    ]);
    const stored = (await decisionsOf('mdph75')).filter((d) => d.identifier?.[0].value?.startsWith('FHIR-'));
    expect(stored.map((d) => [d.identifier?.[0].value, d.performer?.length ?? 0])).toEqual([
      ['FHIR-1', 2],
      ['FHIR-2', 0],
    ]);
    expect((await send({ resourceType: 'Patient' })).status).toBe(400);
    expect((await send({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Patient', gender: 'nope' } }] })).status).toBe(400);
    expect((await send({ resourceType: 'Bundle', type: 'collection', entry: [] })).status).toBe(400);
  });

  it('a worker killed mid-import resumes to the same state as an uninterrupted import', async () => {
    const header = fixture('valid.csv').toString('utf8').split('\n')[0];
    const lines = [header];
    for (let i = 0; i < CHUNK_ROWS * 4 + 500; i++) lines.push(`K${i};2000-01-01;Nom${i};Prénom;F;KILL-${Math.floor(i / 2)};;255;2025-01-01;2029-01-01;;;0;75000020${1 + (i % 2)}`);
    const file = `${lines.join('\n')}\n`;
    const snapshot = async (): Promise<string> =>
      JSON.stringify((await t.gateway.db.query(`SELECT id, version FROM referral WHERE id LIKE 'd-13-%' UNION ALL SELECT id, version FROM task WHERE id LIKE 't-13-%' ORDER BY 1`)).rows);
    // The run is stopped right after its first chunk commits, as a SIGKILL would; then it is run again.
    const accepted = await acceptFor('mdph13', file);
    await expect(
      runImport(
        {
          db: t.gateway.db,
          clock: t.gateway.services.clock,
          onChunk: () => {
            throw new Error('killed');
          },
        },
        accepted
      )
    ).rejects.toThrow('killed');
    // One chunk committed, perhaps those running beside it too (three at a time), not all five.
    const partial = (await t.gateway.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM decision_import_chunk WHERE import_id = $1`, [accepted])).rows[0].n;
    expect(partial).toBeGreaterThanOrEqual(1);
    expect(partial).toBeLessThan(5);
    const midway = await snapshot();
    expect(midway).not.toBe('[]');
    const resumed = await runImport({ db: t.gateway.db, clock: t.gateway.services.clock }, accepted);
    expect(resumed).toMatchObject({ state: 'completed', rowsDone: CHUNK_ROWS * 4 + 500, rowsOk: CHUNK_ROWS * 4 + 500, rowsRejected: 0 });
    const afterResume = await snapshot();
    // The same file again, uninterrupted: nothing new (same ids, same versions).
    const whole = await acceptFor('mdph13', file);
    await runImport({ db: t.gateway.db, clock: t.gateway.services.clock }, whole);
    expect(await snapshot()).toBe(afterResume);
    const n = (await t.gateway.db.query<{ d: number; t: number }>(`SELECT (SELECT count(*)::int FROM referral WHERE id LIKE 'd-13-%') AS d, (SELECT count(*)::int FROM task WHERE id LIKE 't-13-%') AS t`)).rows[0];
    expect(n).toEqual({ d: CHUNK_ROWS * 2 + 250, t: CHUNK_ROWS * 4 + 500 });
  });
});

/** Records an import without running it (the test runs it by hand). */
async function acceptFor(who: string, file: string): Promise<string> {
  const { acceptImport } = await import('../src/domain/decision/import-upload.js');
  const principal = await t.gateway.tokens.verify(tokens[who]);
  async function* body(): AsyncGenerator<Uint8Array> {
    yield Buffer.from(file, 'utf8');
  }
  const { id } = await acceptImport(t.gateway.db, principal, '13', body(), 1 << 30);
  // Not the queue's: mark its job done so the worker leaves it to the test.
  await t.gateway.db.query(`UPDATE job_schedule SET state = 'done' WHERE queue = 'mdph-import' AND job_id = $1`, [`import.${id}`]);
  return id;
}

async function taskOf(who: string, idDecision: string): Promise<Task> {
  const decision = (await get('admin', `ServiceRequest?identifier=urn:oid:1.2.250.1.213.7.75|${idDecision}`)).body.entry[0].resource as ServiceRequest;
  const res = await get(who, `Task?focus=ServiceRequest/${decision.id}`);
  return res.body.entry[0].resource as Task;
}

async function setStatus(task: Task, code: EsmsStatus): Promise<Task> {
  const ctx = { db: t.gateway.db, principal: GATEWAY, clock: t.gateway.services.clock };
  const current = (await get('admin', `Task/${task.id}`)).body as Task;
  return (await updateResource(ctx, { ...current, status: ESMS_STATUSES[code].taskStatus, businessStatus: esmsStatusConcept(code) }, task.id as string)).resource as Task;
}

function moved(task: Task, code: EsmsStatus): Task {
  return { ...task, status: ESMS_STATUSES[code].taskStatus, businessStatus: esmsStatusConcept(code), statusReason: { coding: [{ system: 'https://mos.esante.gouv.fr/NOS/JDV_J250-MotifStatutPersonnePriseChargeESMS/', code: '12' }] } };
}

describe('status moves on a decision’s task', () => {
  it('every allowed move succeeds for its side, every other is 409; others get 403 or 404', async () => {
    const task = await taskOf('esmsB', 'DEC-2'); // targets 750000202 = esms-b, MDPH 75
    let checked = 0;
    for (const from of Object.keys(DECISION_MOVES) as EsmsStatus[]) {
      for (const side of ['esms', 'mdph'] as DecisionSide[]) {
        for (const to of (Object.keys(ESMS_STATUSES) as EsmsStatus[]).filter((s) => s !== from)) {
          const start = await setStatus(task, from);
          const res = await put(side === 'esms' ? 'esmsB' : 'mdph75', `Task/${task.id}`, moved(start, to));
          const allowed = decisionMoves(from, side).includes(to);
          expect({ from, side, to, status: res.status }).toEqual({ from, side, to, status: allowed ? 200 : 409 });
          if (allowed) expect(esmsStatusOf(res.body)).toBe(to);
          checked++;
        }
      }
    }
    expect(checked).toBe(16 * 15 * 2);
    const start = await setStatus(task, '39');
    expect((await put('esmsA', `Task/${task.id}`, moved(start, '40'))).status).toBe(404); // not its decision
    expect((await put('mdph13', `Task/${task.id}`, moved(start, '37'))).status).toBe(404);
    expect((await put('prescriber', `Task/${task.id}`, moved(start, '40'))).status).toBe(404);
    const noReason = await put('esmsB', `Task/${task.id}`, { ...moved(start, '45'), statusReason: undefined });
    expect(noReason.status).toBe(422);
  });
});

describe('SDO flows', () => {
  it('an ESMS pulls only its own decisions, with the decision and the person', async () => {
    const since = '2000-01-01T00:00:00Z';
    const a = await get('esmsA', `Task?_lastUpdated=gt${since}&_count=500`);
    const mine = (a.body.entry ?? []).map((e: { resource: Task }) => e.resource as Task);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((task: Task) => task.owner?.identifier?.value === '750000201')).toBe(true);
    expect((await get('esmsC', `Task?_lastUpdated=gt${since}`)).body.entry ?? []).toEqual([]);
    const decision = await get('esmsA', mine[0].focus?.reference as string);
    expect(decision.status).toBe(200);
    expect((await get('esmsA', mine[0].for?.reference as string)).status).toBe(200);
    const dec2 = (await decisionsOf('admin')).find((d) => d.identifier?.[0].value === 'DEC-2') as ServiceRequest;
    expect((await get('esmsA', `ServiceRequest/${dec2.id}`)).status).toBe(404);
    expect((await get('esmsC', dec2.subject?.reference as string)).status).toBe(404);
  });

  it('accepts the national SDO Task example as a status push, and rejects the non-conformant one precisely', async () => {
    const header = fixture('valid.csv').toString('utf8').split('\n')[0];
    const imported = await importFile('mdph75', `${header}\nS001;2000-01-01;Sdo;Ex;F;IdDecision;IdNat_Decision;255;2025-01-01;2029-01-01;;;0;750000201\n`);
    expect(imported.report.issue?.[0].diagnostics, JSON.stringify(imported.report)).toContain('1 applied');
    const example = sdoFixture('sdo-SDOTask.json') as Task;
    const step = (code: string): Task => ({
      ...example,
      id: undefined,
      input: example.input?.map((i) => (i.type?.text === 'statutESMS' ? { ...i, valueCodeableConcept: { coding: [{ system: 'https://mos.esante.gouv.fr/NOS/JDV_J252-StatutPersonnePriseChargeESMS/', code }] } } : i)),
    });
    // Each push is kept as sent (201, a Task of its own) and moves the decision's task for this ESMS.
    const decisionTask = await taskOf('mdph75', 'IdDecision');
    let sdoId = '';
    for (const code of ['41', '42', '71', '47']) {
      const res = await t.http.post('/fhir/Task').set(auth('esmsA')).set('Content-Type', FHIR_JSON).send(step(code));
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.input).toEqual(step(code).input);
      expect(esmsStatusOf((await get('mdph75', `Task/${decisionTask.id}`)).body)).toBe(code);
      sdoId = res.body.id;
    }
    // The ESMS updates its last push (create, then update): kept as sent too, and the decision's task moves on.
    const pushed = await put('esmsA', `Task/${sdoId}`, { ...example, id: sdoId });
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(200);
    expect(pushed.body.input).toEqual(example.input);
    const moved = (await get('mdph75', `Task/${decisionTask.id}`)).body as Task;
    expect(esmsStatusOf(moved)).toBe('48');
    expect(moved.statusReason?.coding?.[0].code).toBe('89');
    // Another ESMS pushing for this decision learns nothing.
    expect((await t.http.post('/fhir/Task').set(auth('esmsC')).set('Content-Type', FHIR_JSON).send(step('41'))).status).toBe(404);

    const bad = sdoFixture('sdo-SDOTask_nonPassant.json') as Task;
    const rejected = await t.http.post('/fhir/Task').set(auth('esmsA')).set('Content-Type', FHIR_JSON).send({ ...bad, id: undefined });
    expect(rejected.status).toBe(422);
    const messages = rejected.body.issue.map((i: { diagnostics: string }) => i.diagnostics).join(' | ');
    for (const expected of ['intent plan', 'status completed', 'input idNat_Struct', 'input statutESMS', 'input idNat_Decision']) expect(messages).toContain(expected);
    expect(rejected.body.issue.find((i: { diagnostics: string }) => i.diagnostics.includes('status completed')).expression).toEqual(['Task.status']);
    const bundle = sdoFixture('sdo-SDOBundleResultatRechercheNotificationESMS.json') as Bundle<Task>;
    for (const entry of bundle.entry ?? []) {
      const ok = await t.http.post('/fhir/Task/$validate').set(auth('esmsA')).set('Content-Type', FHIR_JSON).send(entry.resource);
      expect(ok.body.issue[0].severity, JSON.stringify(ok.body)).toBe('information');
    }
  });
});

describe('claims and expiring decisions', () => {
  const claim = (who: string, individual: string, birthDate: string) =>
    t.http
      .post('/fhir/ServiceRequest/$claim')
      .set(auth(who))
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Parameters', parameter: [{ name: 'individualNumber', valueString: individual }, { name: 'birthDate', valueDate: birthDate }] });

  it('an ESMS that was not targeted claims a decision with the individual number and birth date', async () => {
    expect((await get('esmsC', 'Task')).body.entry ?? []).toEqual([]);
    const wrongDate = await claim('esmsC', 'I002', '2002-08-13');
    const nobody = await claim('esmsC', 'NOBODY', '2002-08-12');
    expect(wrongDate.status).toBe(404);
    expect(nobody.status).toBe(404);
    expect(wrongDate.body.issue[0].diagnostics).toBe(nobody.body.issue[0].diagnostics);
    const ok = await claim('esmsC', 'I002', '2002-08-12');
    expect(ok.status).toBe(200);
    expect(ok.body.entry).toHaveLength(1);
    expect(ok.body.entry[0].resource.meta.tag[0].code).toBe('claimed');
    expect((await claim('esmsC', 'I002', '2002-08-12')).body.entry).toHaveLength(1); // twice: still one task
    const list = (await get('esmsC', 'Task')).body.entry;
    expect(list).toHaveLength(1);
    expect((await get('esmsC', list[0].resource.focus.reference)).status).toBe(200);
    expect((await claim('esmsC', 'I003', '1990-01-30')).status).toBe(404); // expired decision
    expect((await claim('prescriber', 'I002', '2002-08-12')).status).toBe(403);
    expect((await claim('esmsC', 'I002', '2002-02-31')).status).toBe(400); // no such day: refused, not a database error
  });

  it('finds decisions whose validity ends within N days', async () => {
    const soon = await decisionsOf('mdph75', '&expiring-within=90');
    expect(soon.map((d) => d.identifier?.[0].value)).toEqual(['DEC-4']);
    expect((await get('mdph75', 'ServiceRequest?expiring-within=soon')).status).toBe(400);
    const ended = await decisionsOf('mdph75', '&validity-end=lt2022-01-01');
    expect(ended.map((d) => d.identifier?.[0].value)).toEqual(['DEC-3']);
  });

  it('finds decisions by the colour of their end of validity, on decisions and on their tasks', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const all = await decisionsOf('mdph75');
    const colourOf = new Map(all.map((d) => [d.id, validityAlertOf(d.occurrencePeriod?.end as string, today)]));
    const tasksOf75 = ((await get('mdph75', 'Task?_count=500')).body.entry ?? []).map((e: { resource: Task }) => e.resource);
    const colours = new Set<string>();
    for (const code of Object.keys(VALIDITY_ALERTS)) {
      const expected = all.filter((d) => colourOf.get(d.id) === code).map((d) => d.id).sort();
      if (expected.length > 0) colours.add(code);
      expect((await decisionsOf('mdph75', `&validity-alert=${code}`)).map((d) => d.id).sort(), code).toEqual(expected);
      // And on the decisions' tasks (what an ESMS pulls).
      const tasks = ((await get('mdph75', `Task?validity-alert=${code}&_count=500`)).body.entry ?? []).map((e: { resource: Task }) => e.resource.id).sort();
      expect(tasks, `tasks ${code}`).toEqual(tasksOf75.filter((t: Task) => colourOf.get(t.focus?.reference?.split('/')[1]) === code).map((t: Task) => t.id).sort());
    }
    // The fixture spans several colours, so the search is not trivially empty.
    expect(colours.size).toBeGreaterThanOrEqual(2);
    const either = await decisionsOf('mdph75', '&validity-alert=red,orange');
    expect(either.length).toBe(all.filter((d) => ['red', 'orange'].includes(validityAlertOf(d.occurrencePeriod?.end as string, today))).length);
    expect((await get('mdph75', 'ServiceRequest?validity-alert=purple')).status).toBe(400);
  });

  it('decisions are not written through ServiceRequest', async () => {
    const dec = (await decisionsOf('admin')).find((d) => d.identifier?.[0].value === 'DEC-1') as ServiceRequest;
    expect((await put('admin', `ServiceRequest/${dec.id}`, { ...dec, status: 'revoked' })).status).toBe(422);
    expect((await put('mdph75', `ServiceRequest/${dec.id}`, { ...dec, status: 'revoked' })).status).toBe(403);
  });
});

/**
 * Indicators over a small fixture whose figures are worked out by hand below:
 * department 13, categories 255 (MAS) and 183 (IME), two ESMS in the
 * directory with their places, eight decisions moved along known dates.
 */
import type { Parameters, ParametersParameter, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esmsStatusConcept, ESMS_STATUSES, type EsmsStatus } from '../mappings/decision/statuses.js';
import { runImport } from '../src/domain/decision/import-run.js';
import { acceptImport } from '../src/domain/decision/import-upload.js';
import { FHIR_JSON, startTestGateway, type TestGateway } from './helpers.js';

let t: TestGateway;
const clock = { offsetMs: 0, now: () => new Date(Date.now() + clock.offsetMs) };
const DAY = 86_400_000;
const FINESS = 'https://finess.esante.gouv.fr';
const CAPACITY = 'https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity';
const tokens: Record<string, string> = {};

function capacity(count: number, status?: string): object {
  return {
    url: CAPACITY,
    extension: [
      { url: 'capacityType', valueCodeableConcept: { coding: [{ code: '01' }] } },
      ...(status ? [{ url: 'capacityStatus', valueCodeableConcept: { coding: [{ code: status }] } }] : []),
      { url: 'nbCapacity', valueInteger: count },
    ],
  };
}

const isoDay = (offsetDays: number): string => new Date(Date.now() + offsetDays * DAY).toISOString().slice(0, 10);

async function move(who: string, idDecision: string, path: EsmsStatus[]): Promise<void> {
  const { rows } = await t.gateway.db.query<{ id: string }>(
    `SELECT t.id FROM task t JOIN resource_identifier i ON i.resource_type = 'ServiceRequest' AND i.resource_id = t.referral_id WHERE i.value = $1`,
    [idDecision]
  );
  for (const code of path) {
    // The task as stored (ESMS software is shown it in the SDO shape, whose status is fixed): moved by `who`.
    const task = (await t.http.get(`/fhir/Task/${rows[0].id}`).set('Authorization', `Bearer ${tokens.admin}`)).body as Task;
    const res = await t.http
      .put(`/fhir/Task/${task.id}`)
      .set('Authorization', `Bearer ${tokens[who]}`)
      .set('Content-Type', FHIR_JSON)
      .send({ ...task, status: ESMS_STATUSES[code].taskStatus, businessStatus: esmsStatusConcept(code), ...(code === '45' ? { statusReason: { coding: [{ code: '12' }] } } : {}) });
    if (res.status !== 200) throw new Error(`${idDecision} → ${code}: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

beforeAll(async () => {
  t = await startTestGateway({ clock });
  tokens.admin = await t.tokenFor(['admin']);
  const put = async (path: string, body: object): Promise<void> => {
    const res = await t.http.put(`/fhir/${path}`).set('Authorization', `Bearer ${tokens.admin}`).set('Content-Type', FHIR_JSON).send(body);
    if (res.status >= 300) throw new Error(JSON.stringify(res.body));
  };
  // Directory: X (MAS, 255) in Marseille with 40 installed places (and 5 of another status), Y (IME, 183) with 20, Z in Paris.
  const org = (id: string, finess: string, type: string, postalCode: string) => ({ resourceType: 'Organization', id, identifier: [{ system: FINESS, value: finess }], type: [{ coding: [{ code: type }] }], address: [{ postalCode }] });
  await put('Organization/x', org('x', '130000001', '255', '13001'));
  await put('Organization/y', org('y', '130000002', '183', '13090'));
  await put('Organization/z', org('z', '750000009', '255', '75010'));
  await put('Location/lx', { resourceType: 'Location', id: 'lx', managingOrganization: { reference: 'Organization/x' }, extension: [capacity(40, '01'), capacity(5, '03')] });
  await put('Location/ly', { resourceType: 'Location', id: 'ly', managingOrganization: { reference: 'Organization/y' }, extension: [capacity(20)] });
  await put('Location/lz', { resourceType: 'Location', id: 'lz', managingOrganization: { reference: 'Organization/z' }, extension: [capacity(100, '01')] });
  tokens.mdph13 = await t.tokenFor(['mdph'], 'https://aiguillage.org/fhir/NamingSystem/mdph|13');
  tokens.mdph75 = await t.tokenFor(['mdph'], 'https://aiguillage.org/fhir/NamingSystem/mdph|75');
  tokens.x = await t.tokenFor(['esms'], `${FINESS}|130000001`);
  tokens.y = await t.tokenFor(['esms'], `${FINESS}|130000002`);
  tokens.esms = await t.tokenFor(['esms'], `${FINESS}|130000001`);

  const header = 'numero_individu;date_naissance;nom;prenom;sexe;id_decision;id_nat_decision;categorie_esms;date_debut_validite;date_fin_validite;caracterisation_esms;caracterisation_pro;creton;finess_esms';
  const row = (p: string, dec: string, cat: string, from: string, to: string, creton: string, finess: string): string => `${p};2000-01-01;Nom${p};Prénom;F;${dec};;${cat};${from};${to};;;${creton};${finess}`;
  const file = [
    header,
    row('P1', 'DEC-A', '255', '2025-01-01', '2029-12-31', '0', '130000001'),
    row('P2', 'DEC-B', '255', '2025-01-01', '2029-12-31', '0', '130000001'),
    row('P3', 'DEC-C', '255', '2025-01-01', '2029-12-31', '0', '130000001'),
    row('P4', 'DEC-D', '255', '2025-01-01', '2029-12-31', '0', '130000001'),
    row('P5', 'DEC-E', '255', '2025-01-01', '2029-12-31', '1', '130000001'),
    row('P6', 'DEC-F', '183', '2025-01-01', '2029-12-31', '0', '130000002'),
    row('P7', 'DEC-G', '183', '2025-01-01', isoDay(30), '1', ''),
    row('P8', 'DEC-H', '255', '2020-01-01', '2021-12-31', '0', '130000001'),
  ].join('\n');
  const principal = await t.gateway.tokens.verify(tokens.mdph13);
  async function* body(): AsyncGenerator<Uint8Array> {
    yield Buffer.from(`${file}\n`);
  }
  const { id } = await acceptImport(t.gateway.db, principal, '13', body(), 1 << 20);
  expect(await runImport({ db: t.gateway.db, clock }, id)).toMatchObject({ state: 'completed', rowsOk: 8 });

  // Notified at T0; moves on known days.
  await move('x', 'DEC-A', ['42']);
  await move('x', 'DEC-B', ['41', '42']);
  await move('x', 'DEC-H', ['42']); // an expired decision: on no list any more
  await move('x', 'DEC-E', ['45']); // admission impossible, reason 12
  clock.offsetMs = 10 * DAY;
  await move('x', 'DEC-C', ['42', '71']); // admitted after 10 days
  clock.offsetMs = 20 * DAY;
  await move('x', 'DEC-D', ['42', '71', '47']); // admitted after 20 days, then entered
  clock.offsetMs = 40 * DAY;
  await move('y', 'DEC-F', ['41', '72', '71']); // admitted after 40 days
  clock.offsetMs = 0;
});
afterAll(() => t.close());

function groups(p: Parameters): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const g of (p.parameter ?? []).filter((x) => x.name === 'group')) {
    const parts = g.part ?? [];
    const value = (x: ParametersParameter): unknown => x.valueInteger ?? x.valueDecimal ?? x.valueString;
    const flat: Record<string, unknown> = {};
    for (const x of parts) {
      if (x.name === 'admissionImpossible') flat[`impossible:${x.part?.[0].valueString}`] = x.part?.[1].valueInteger;
      else flat[x.name as string] = value(x);
    }
    out[`${flat.department}/${flat.category}`] = flat;
  }
  return out;
}

describe('indicators', () => {
  it('match the figures worked out by hand', async () => {
    const res = await t.http.get('/fhir/$indicators').set('Authorization', `Bearer ${tokens.mdph13}`);
    expect(res.status).toBe(200);
    expect(groups(res.body)).toEqual({
      // 255: waiting P1, P2 (P8's decision has expired); 40 installed places (the 5 of status 03 and Paris's 100 not counted);
      // delays 10 and 20 days → median 15; without solution P1, P2, P5; Creton P5; none expiring; one impossible, reason 12.
      '13/255': {
        department: '13',
        category: '255',
        waitingList: 2,
        installedPlaces: 40,
        waitingListPerPlace: 0.05,
        medianAdmissionDelayDays: 15,
        withoutSolution: 3,
        creton: 1,
        expiringWithin90Days: 0,
        'impossible:12': 1,
      },
      // 183: nobody waiting; 20 places (status absent counts); delay 40 days; without solution P7; Creton P7, expiring within 30 days.
      '13/183': { department: '13', category: '183', waitingList: 0, installedPlaces: 20, waitingListPerPlace: 0, medianAdmissionDelayDays: 40, withoutSolution: 1, creton: 1, expiringWithin90Days: 1 },
    });
    const one = await t.http.get('/fhir/$indicators?category=183').set('Authorization', `Bearer ${tokens.admin}`);
    expect(Object.keys(groups(one.body))).toEqual(['13/183']);
  });

  it('an MDPH sees its own department only; others are refused', async () => {
    expect((await t.http.get('/fhir/$indicators').set('Authorization', `Bearer ${tokens.mdph75}`)).body.parameter.filter((p: { name: string }) => p.name === 'group')).toEqual([]);
    expect((await t.http.get('/fhir/$indicators?department=13').set('Authorization', `Bearer ${tokens.mdph75}`)).status).toBe(403);
    expect((await t.http.get('/fhir/$indicators').set('Authorization', `Bearer ${tokens.esms}`)).status).toBe(403);
    expect((await t.http.get('/fhir/$indicators')).status).toBe(401);
    expect((await t.http.get('/fhir/$indicators?department=xyz').set('Authorization', `Bearer ${tokens.admin}`)).status).toBe(400);
  });
});

/**
 * INS through the API: key and structure checked, carried only on a qualified
 * identity; the national guides' examples as sent (their INS keys are wrong)
 * and with the key made right.
 */
import fs from 'node:fs';
import type { OperationOutcome, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromRoot } from '../src/paths.js';
import { insKey } from '../mappings/ins.js';
import { FHIR_JSON, identityStatusOf, startTestGateway, testNir, testPatient, type TestGateway } from './helpers.js';
import { IDENTITY_STATUS_SYSTEM } from '../mappings/ins.js';

let t: TestGateway;
let token: string;

beforeAll(async () => {
  t = await startTestGateway();
  token = await t.tokenFor(['prescriber'], 'https://finess.esante.gouv.fr|750000001');
});
afterAll(() => t.close());

const post = (body: unknown) => t.http.post('/fhir/Patient').set('Authorization', `Bearer ${token}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));
const put = (id: string, body: unknown) => t.http.put(`/fhir/Patient/${id}`).set('Authorization', `Bearer ${token}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));
const patients = async () => Number((await t.gateway.db.query<{ n: string }>('SELECT count(*) AS n FROM patient')).rows[0].n);

function example(path: string): Patient {
  const patient = JSON.parse(fs.readFileSync(fromRoot(path), 'utf8')) as Patient;
  delete patient.id;
  return patient;
}

/** The same Patient with its INS's key made right. */
function keyMadeRight(patient: Patient): Patient {
  const identifier = (patient.identifier ?? []).map((i) => (i.system === 'urn:oid:1.2.250.1.213.1.4.8' && i.value ? { ...i, value: `${i.value.slice(0, 13)}${String(insKey(i.value.slice(0, 13))).padStart(2, '0')}` } : i));
  return { ...patient, identifier };
}

describe('INS', () => {
  for (const [guide, path, expected] of [
    ['FR Core', 'fixtures/frcore/FRCorePatientINSExample.json', '12'],
    ['TDDUI', 'fixtures/tddui/tddui-Patient-tddui-patient-ins-example.json', '30'],
  ] as const) {
    it(`${guide}'s Patient INS example: refused as published (its key is wrong), nothing stored; accepted once the key is right`, async () => {
      const before = await patients();
      const sent = example(path);
      const refused = await post(sent);
      expect(refused.status).toBe(422);
      const issue = (refused.body as OperationOutcome).issue[0];
      expect(issue.expression).toEqual(['Patient.identifier[0].value']);
      expect(issue.diagnostics).toContain(`give ${expected}`);
      expect(await patients()).toBe(before);
      const accepted = await post(keyMadeRight(sent));
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(201);
      expect((accepted.body as Patient).extension?.[0]).toEqual(sent.extension?.[0]);
    });
  }

  it('an INS on an identity that is not qualified is refused on create and on update; a former INS (use old) stays', async () => {
    const provisional = testPatient({ extension: [identityStatusOf(IDENTITY_STATUS_SYSTEM, 'PROV')] });
    const refused = await post(provisional);
    expect(refused.status).toBe(422);
    expect((refused.body as OperationOutcome).issue[0].diagnostics).toMatch(/only on a qualified identity/);

    const created = await post(testPatient());
    expect(created.status).toBe(201);
    const stored = created.body as Patient;
    const downgraded = await put(stored.id as string, { ...stored, extension: [identityStatusOf(IDENTITY_STATUS_SYSTEM, 'VALI')] });
    expect(downgraded.status).toBe(422);
    const former = await put(stored.id as string, {
      ...stored,
      extension: [identityStatusOf(IDENTITY_STATUS_SYSTEM, 'PROV')],
      identifier: stored.identifier?.map((i) => (i.system === 'urn:oid:1.2.250.1.213.1.4.8' ? { ...i, use: 'old' as const } : i)),
    });
    expect(former.status, JSON.stringify(former.body)).toBe(200);
  });

  it('inside a transaction Bundle: the whole Bundle refused, naming the entry', async () => {
    const before = await patients();
    const nir = testNir();
    const wrong = `${nir.slice(0, 13)}${String((Number(nir.slice(13)) + 1) % 100).padStart(2, '0')}`;
    const res = await t.http
      .post('/fhir')
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', FHIR_JSON)
      .send(
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { resource: testPatient(), request: { method: 'POST', url: 'Patient' } },
            { resource: testPatient({ identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: wrong, use: 'official' }] }), request: { method: 'POST', url: 'Patient' } },
          ],
        })
      );
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body)).toMatch(/the INS key is/);
    expect(await patients()).toBe(before);
  });
});

/** batch and transaction Bundles: urn:uuid resolution, atomic rollback, per-entry outcomes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, BundleEntry, Patient } from '@medplum/fhirtypes';
import { FHIR_JSON, startTestGateway, testPatient, type TestGateway } from './helpers.js';

let t: TestGateway;
let token: string;

beforeAll(async () => {
  t = await startTestGateway();
  token = await t.tokenFor(['prescriber', 'ror'], 'https://finess.esante.gouv.fr|750000001');
});
afterAll(() => t.close());

function postBundle(bundle: Bundle) {
  return t.http.post('/fhir').set('Authorization', `Bearer ${token}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(bundle));
}

async function countRows(): Promise<Record<string, number>> {
  const { rows } = await t.gateway.db.query<{ t: string; n: number }>(
    `SELECT 'patient' AS t, count(*)::int AS n FROM patient UNION ALL SELECT 'organization', count(*)::int FROM organization
     UNION ALL SELECT 'healthcare_service', count(*)::int FROM healthcare_service UNION ALL SELECT 'history', count(*)::int FROM resource_history
     UNION ALL SELECT 'identifier', count(*)::int FROM resource_identifier`
  );
  return Object.fromEntries(rows.map((r) => [r.t, r.n]));
}

describe('transaction', () => {
  it('creates everything atomically and resolves urn:uuid references', async () => {
    const orgUrl = 'urn:uuid:9d7c2a3e-1a8b-4c1e-9a43-0c2f2f5e8a01';
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:4d1d7a52-3e4c-4a8c-8f1d-2b9b7f1c0d02',
          resource: { resourceType: 'HealthcareService', name: 'USP Transaction', providedBy: { reference: orgUrl } },
          request: { method: 'POST', url: 'HealthcareService' },
        },
        { fullUrl: orgUrl, resource: { resourceType: 'Organization', name: 'CH Transaction' }, request: { method: 'POST', url: 'Organization' } },
        { resource: testPatient(), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'HealthcareService?name=USP%20Transaction' } },
      ],
    };
    const res = await postBundle(bundle);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.type).toBe('transaction-response');
    const entries = res.body.entry as BundleEntry[];
    expect(entries.map((e) => e.response?.status)).toEqual(['201', '201', '201', '200']);
    const orgId = entries[1].resource?.id;
    expect(entries[0].resource).toMatchObject({ providedBy: { reference: `Organization/${orgId}` } });
    const search = entries[3].resource as Bundle;
    expect(search.entry?.map((e) => e.resource?.id)).toEqual([entries[0].resource?.id]);
    const unit = await t.http.get(`/fhir/HealthcareService?organization=${orgId}`);
    expect(unit.body.entry).toHaveLength(1);
  });

  it('rolls back every entry when one is bad, and names the entry', async () => {
    const before = await countRows();
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Organization', name: 'Never stored' }, request: { method: 'POST', url: 'Organization' } },
        { resource: testPatient(), request: { method: 'POST', url: 'Patient' } },
        { resource: testPatient({ identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: 'not-an-ins' }] }), request: { method: 'POST', url: 'Patient' } },
      ],
    };
    const res = await postBundle(bundle);
    expect(res.status).toBe(422);
    expect(res.body.issue[0].expression).toContain('Bundle.entry[2].resource.identifier[0].value');
    expect(await countRows()).toEqual(before);
  });

  it('rolls back when a later write fails (stale If-Match)', async () => {
    const patient = (await t.http.post('/fhir/Patient').set('Authorization', `Bearer ${token}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(testPatient()))).body as Patient;
    const before = await countRows();
    const res = await postBundle({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Organization', name: 'Never stored either' }, request: { method: 'POST', url: 'Organization' } },
        { resource: { ...patient, gender: 'male' }, request: { method: 'PUT', url: `Patient/${patient.id}`, ifMatch: 'W/"7"' } },
      ],
    });
    expect(res.status).toBe(412);
    expect(res.body.issue[0].expression).toEqual(['Bundle.entry[1]']);
    expect(await countRows()).toEqual(before);
    expect((await t.http.get(`/fhir/Patient/${patient.id}`).set('Authorization', `Bearer ${token}`)).body.gender).toBe('female');
  });

  it('reuses the match of a conditional create, and references point at it', async () => {
    const patient = testPatient();
    const criteria = `identifier=${patient.identifier?.[0].system}|${patient.identifier?.[0].value}`;
    const existing = (await t.http.post('/fhir/Patient').set('Authorization', `Bearer ${token}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(patient))).body as Patient;
    const res = await postBundle({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:0b5e8f0c-7d43-4c7a-9e55-5a1f3c2d4b01', resource: patient, request: { method: 'POST', url: 'Patient', ifNoneExist: criteria } },
        {
          resource: { resourceType: 'Organization', name: 'Ref check', extension: [{ url: 'https://aiguillage.org/test-ref', valueReference: { reference: 'urn:uuid:0b5e8f0c-7d43-4c7a-9e55-5a1f3c2d4b01' } }] },
          request: { method: 'POST', url: 'Organization' },
        },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toBe('200');
    expect(res.body.entry[0].resource.id).toBe(existing.id);
    expect(res.body.entry[1].resource.extension[0].valueReference.reference).toBe(`Patient/${existing.id}`);
  });

  it('refuses a urn:uuid reference that no entry resolves, storing nothing', async () => {
    const before = await countRows();
    const res = await postBundle({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Organization', name: 'EG orphan', partOf: { reference: 'urn:uuid:0b5e8f0c-7d43-4c7a-9e55-5a1f3c2d4b99' } }, request: { method: 'POST', url: 'Organization' } },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.issue[0].expression).toEqual(['Bundle.entry[0].resource.partOf.reference']);
    expect(await countRows()).toEqual(before);
  });

  it('refuses duplicate fullUrls, unsupported methods and nested nonsense with 400', async () => {
    const dup = await postBundle({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:1', resource: { resourceType: 'Organization', name: 'a' }, request: { method: 'POST', url: 'Organization' } },
        { fullUrl: 'urn:uuid:1', resource: { resourceType: 'Organization', name: 'b' }, request: { method: 'POST', url: 'Organization' } },
      ],
    });
    expect(dup.status).toBe(400);
    const del = await postBundle({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: 'Organization/x' } }] });
    expect(del.status).toBe(400);
    expect(del.body.issue[0].expression[0]).toBe('Bundle.entry[0].request.method');
    const wrongType = await postBundle({ resourceType: 'Bundle', type: 'collection' } as Bundle);
    expect(wrongType.status).toBe(400);
  });
});

describe('batch', () => {
  it('runs each entry on its own and reports each outcome', async () => {
    const before = await countRows();
    const res = await postBundle({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: { resourceType: 'Organization', name: 'Batch one' }, request: { method: 'POST', url: 'Organization' } },
        { resource: { resourceType: 'Patient', birthDate: 'never' } as Patient, request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Organization/does-not-exist' } },
        { resource: testPatient(), request: { method: 'POST', url: 'Patient' } },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    expect(res.body.entry.map((e: BundleEntry) => e.response?.status)).toEqual(['201', '400', '404', '201']);
    expect(res.body.entry[1].response.outcome.issue[0].expression).toContain('Bundle.entry[1].resource.birthDate');
    const after = await countRows();
    expect(after.organization).toBe(before.organization + 1);
    expect(after.patient).toBe(before.patient + 1);
  });

  it('refuses an entry that points at another entry by urn:uuid (entries are independent), and runs the others', async () => {
    const before = await countRows();
    const orgUrl = 'urn:uuid:5b0f3c2e-7d4a-4e8b-9c1a-2f3e4d5c6b7a';
    const res = await postBundle({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { fullUrl: orgUrl, resource: { resourceType: 'Organization', name: 'Batch EJ' }, request: { method: 'POST', url: 'Organization' } },
        // A directory write (bulk path) and a patient write (one by one), each pointing at the first entry.
        { resource: { resourceType: 'HealthcareService', name: 'Batch unit', providedBy: { reference: orgUrl } }, request: { method: 'POST', url: 'HealthcareService' } },
        { resource: testPatient({ managingOrganization: { reference: orgUrl } }), request: { method: 'POST', url: 'Patient' } },
      ],
    });
    expect(res.body.entry.map((e: BundleEntry) => e.response?.status)).toEqual(['201', '400', '400']);
    expect(res.body.entry[1].response.outcome.issue[0].expression).toEqual(['Bundle.entry[1].resource.providedBy.reference']);
    expect(res.body.entry[2].response.outcome.issue[0].diagnostics).toMatch(/independent.*transaction/);
    const after = await countRows();
    expect([after.organization, after.healthcare_service, after.patient]).toEqual([before.organization + 1, before.healthcare_service, before.patient]);
  });
});

/** The REST interactions on real PostgreSQL: create, read, vread, update, history, search, conditional create. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { FHIR_JSON, startTestGateway, testNir, testPatient, type TestGateway } from './helpers.js';

const ORG = 'https://finess.esante.gouv.fr|750000001';
let t: TestGateway;
let token: string;

beforeAll(async () => {
  t = await startTestGateway();
  token = await t.tokenFor(['prescriber'], ORG);
});
afterAll(() => t.close());

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return t.http.post(path).set('Authorization', `Bearer ${token}`).set('Content-Type', FHIR_JSON).set(headers).send(JSON.stringify(body));
}
function put(path: string, body: unknown, headers: Record<string, string> = {}) {
  return t.http.put(path).set('Authorization', `Bearer ${token}`).set('Content-Type', FHIR_JSON).set(headers).send(JSON.stringify(body));
}
function get(path: string) {
  return t.http.get(path).set('Authorization', `Bearer ${token}`);
}

describe('metadata', () => {
  it('is public and lists exactly the supported types, interactions and parameters', async () => {
    const res = await t.http.get('/fhir/metadata');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('application/fhir+json');
    const rest = res.body.rest[0];
    expect(res.body.fhirVersion).toBe('4.0.1');
    expect(rest.resource.map((r: { type: string }) => r.type)).toEqual([
      ...['Patient', 'Organization', 'HealthcareService', 'Location', 'Practitioner', 'PractitionerRole', 'Questionnaire', 'ServiceRequest', 'Task'],
      ...['QuestionnaireResponse', 'Communication', 'DocumentReference', 'Binary', 'Consent', 'Subscription'],
      ...['AuditEvent', 'ImplementationGuide', 'OperationDefinition', 'SearchParameter', 'StructureDefinition', 'CodeSystem', 'ValueSet'],
    ]);
    const task = rest.resource.find((r: { type: string }) => r.type === 'Task');
    expect(task.operation.map((o: { name: string }) => o.name)).toEqual(['validate', 'remind']);
    const patient = rest.resource[0];
    expect(patient.searchParam.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['_id', '_lastUpdated', 'identifier', 'family', 'birthdate']));
    expect(patient.updateCreate).toBe(false);
    expect(rest.resource.find((r: { type: string }) => r.type === 'HealthcareService').searchInclude).toEqual(expect.arrayContaining(['HealthcareService:organization', 'HealthcareService:location', 'Organization:partof']));
    expect(rest.interaction.map((i: { code: string }) => i.code)).toEqual(['batch', 'transaction']);
  });
});

describe('create, read, vread, update', () => {
  it('creates with a server id and version 1, then reads it back as sent plus meta', async () => {
    const patient = testPatient({ id: 'client-chosen' });
    const res = await post('/fhir/Patient', patient);
    expect(res.status).toBe(201);
    expect(res.body.id).not.toBe('client-chosen');
    expect(res.body.meta.versionId).toBe('1');
    expect(res.headers.etag).toBe('W/"1"');
    expect(res.headers.location).toBe(`http://aiguillage.test/fhir/Patient/${res.body.id}/_history/1`);
    const read = await get(`/fhir/Patient/${res.body.id}`);
    expect(read.status).toBe(200);
    const { id: _i, meta: _m, ...sent } = patient;
    const { id: _ri, meta: readMeta, ...got } = read.body as Patient;
    expect(got).toEqual(sent);
    expect(readMeta?.lastUpdated).toBe(res.body.meta.lastUpdated);
  });

  it('updates with If-Match, keeps every version, and refuses a stale If-Match with 412', async () => {
    const created = (await post('/fhir/Patient', testPatient())).body as Patient;
    const v2 = await put(`/fhir/Patient/${created.id}`, { ...created, gender: 'other' }, { 'If-Match': 'W/"1"' });
    expect(v2.status).toBe(200);
    expect(v2.body.meta.versionId).toBe('2');
    const stale = await put(`/fhir/Patient/${created.id}`, { ...created, gender: 'male' }, { 'If-Match': 'W/"1"' });
    expect(stale.status).toBe(412);
    expect(stale.body.resourceType).toBe('OperationOutcome');
    expect((await get(`/fhir/Patient/${created.id}`)).body.gender).toBe('other');
    expect((await get(`/fhir/Patient/${created.id}/_history/1`)).body.gender).toBe('female');
    expect((await get(`/fhir/Patient/${created.id}/_history/2`)).body.gender).toBe('other');
    expect((await get(`/fhir/Patient/${created.id}/_history/3`)).status).toBe(404);
  });

  it('lets exactly one of concurrent updates with the same If-Match win (no lost update)', async () => {
    const created = (await post('/fhir/Patient', testPatient())).body as Patient;
    const genders = ['male', 'other', 'unknown', 'male', 'other', 'unknown'] as const;
    const results = await Promise.all(genders.map((gender) => put(`/fhir/Patient/${created.id}`, { ...created, gender }, { 'If-Match': 'W/"1"' })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 412, 412, 412, 412, 412]);
    const winner = results.find((r) => r.status === 200)?.body as Patient;
    const read = (await get(`/fhir/Patient/${created.id}`)).body as Patient;
    expect(read.meta?.versionId).toBe('2');
    expect(read.gender).toBe(winner.gender);
  });

  it('refuses a body whose id differs from the URL, and a malformed If-Match', async () => {
    const created = (await post('/fhir/Patient', testPatient())).body as Patient;
    expect((await put(`/fhir/Patient/${created.id}`, { ...created, id: 'other' })).status).toBe(400);
    expect((await put(`/fhir/Patient/${created.id}`, created, { 'If-Match': 'yesterday' })).status).toBe(400);
  });

  it('does not create a Patient on PUT of an unknown id (server-assigned ids)', async () => {
    const res = await put('/fhir/Patient/not-there', { ...testPatient(), id: 'not-there' });
    expect(res.status).toBe(404);
  });

  it('lets the directory be written with the sender ids (update as create)', async () => {
    const admin = await t.tokenFor(['ror']);
    const org = { resourceType: 'Organization', id: 'ror-org-1', name: 'Clinique des Lilas', active: true };
    const res = await t.http.put('/fhir/Organization/ror-org-1').set('Authorization', `Bearer ${admin}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(org));
    expect(res.status).toBe(201);
    expect((await t.http.get('/fhir/Organization/ror-org-1')).body.name).toBe('Clinique des Lilas');
  });
});

describe('Prefer: return', () => {
  it('answers return=minimal with no body, Content-Length 0 and no content type, the headers saying where the resource is', async () => {
    const created = await post('/fhir/Patient', testPatient(), { Prefer: 'return=minimal' });
    expect(created.status).toBe(201);
    expect(created.headers['content-length']).toBe('0');
    expect(created.headers['content-type']).toBeUndefined();
    expect(created.headers['transfer-encoding']).toBeUndefined();
    expect(created.text).toBe('');
    const location = created.headers.location as string;
    expect(location).toMatch(/\/fhir\/Patient\/[^/]+\/_history\/1$/);
    const id = location.split('/').at(-3) as string;
    const stored = await get(`/fhir/Patient/${id}`);
    const updated = await put(`/fhir/Patient/${id}`, { ...stored.body, gender: 'other' }, { Prefer: 'return=minimal' });
    expect([updated.status, updated.text, updated.headers.etag]).toEqual([200, '', 'W/"2"']);
  });

  it('answers return=OperationOutcome with an informational outcome naming what was written', async () => {
    const created = await post('/fhir/Patient', testPatient(), { Prefer: 'return=OperationOutcome' });
    expect(created.status).toBe(201);
    expect(created.body.resourceType).toBe('OperationOutcome');
    expect(created.body.issue).toEqual([{ severity: 'information', code: 'informational', diagnostics: expect.stringMatching(/^Created Patient\/[^ ]+ version 1$/) }]);
    const id = (created.headers.location as string).split('/').at(-3) as string;
    const stored = await get(`/fhir/Patient/${id}`);
    const updated = await put(`/fhir/Patient/${id}`, stored.body, { Prefer: 'return=OperationOutcome' });
    expect(updated.body.issue[0].diagnostics).toMatch(/^Updated Patient\/.+ version \d$/);
  });

  it('answers return=representation (and no preference) with the resource, and an error the same way whatever is preferred', async () => {
    const created = await post('/fhir/Patient', testPatient(), { Prefer: 'return=representation' });
    expect(created.body.resourceType).toBe('Patient');
    const refused = await post('/fhir/Patient', { resourceType: 'Patient', gender: 'nonsense' }, { Prefer: 'return=minimal' });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.body.resourceType).toBe('OperationOutcome');
    expect(refused.body.issue[0].details).toBeUndefined();
  });
});

describe('history', () => {
  it('lists an instance newest first and a type with paging links', async () => {
    const created = (await post('/fhir/Patient', testPatient())).body as Patient;
    await put(`/fhir/Patient/${created.id}`, { ...created, gender: 'other' });
    await put(`/fhir/Patient/${created.id}`, { ...created, gender: 'male' });
    const instance = await get(`/fhir/Patient/${created.id}/_history`);
    expect(instance.status).toBe(200);
    expect(instance.body.type).toBe('history');
    expect(instance.body.entry.map((e: { resource: Patient }) => e.resource.meta?.versionId)).toEqual(['3', '2', '1']);

    const seen: string[] = [];
    let url: string | undefined = '/fhir/Patient/_history?_count=2';
    while (url) {
      const page: { body: Bundle } = await get(url);
      seen.push(...(page.body.entry ?? []).map((e) => `${e.resource?.id}/${e.resource?.meta?.versionId}`));
      const next = page.body.link?.find((l) => l.relation === 'next')?.url;
      url = next?.replace('http://aiguillage.test', '');
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining([`${created.id}/1`, `${created.id}/2`, `${created.id}/3`]));
  });
});

describe('search', () => {
  it('finds by identifier (system|value, value only), _id and names, accent- and case-insensitively', async () => {
    const nir = testNir();
    const created = (await post('/fhir/Patient', testPatient({ identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: nir }], name: [{ family: 'Lefèvre', given: ['Élodie'] }] })))
      .body as Patient;
    for (const q of [`identifier=urn:oid:1.2.250.1.213.1.4.8|${nir}`, `identifier=${nir}`, `_id=${created.id}`, `family=lefevre&given=elo`, `name=ELODIE&identifier=${nir}`]) {
      const res = await get(`/fhir/Patient?${q.replace(/\|/g, '%7C')}`);
      expect(res.status, q).toBe(200);
      expect(res.body.entry.map((e: { resource: Patient }) => e.resource.id), q).toEqual([created.id]);
    }
    const none = await get(`/fhir/Patient?identifier=urn:oid:1.2.250.1.213.1.4.9%7C${nir}`);
    expect(none.body.entry).toBeUndefined();
  });

  it('filters on _lastUpdated and birthdate with prefixes', async () => {
    const family = `Date${Date.now()}`;
    const before = new Date().toISOString();
    const a = (await post('/fhir/Patient', testPatient({ name: [{ family }], birthDate: '1950-06-01' }))).body as Patient;
    const b = (await post('/fhir/Patient', testPatient({ name: [{ family }], birthDate: '1980' }))).body as Patient;
    const ids = async (q: string): Promise<string[]> => ((await get(`/fhir/Patient?family=${family}&${q}`)).body.entry ?? []).map((e: { resource: Patient }) => e.resource.id).sort();
    expect(await ids(`_lastUpdated=ge${before}`)).toEqual([a.id, b.id].sort());
    expect(await ids(`_lastUpdated=lt${before}`)).toEqual([]);
    expect(await ids('birthdate=1950')).toEqual([a.id]);
    expect(await ids('birthdate=gt1960-01-01')).toEqual([b.id]);
    expect(await ids('birthdate=le1950-06-01')).toEqual([a.id]);
    expect(await ids('birthdate=1980-05-05')).toEqual([]);
    expect(await ids('birthdate=ap1980-05-05')).toEqual([b.id]);
  });

  it('pages with stable links, bounded _count, and _sort', async () => {
    const family = `Page${Date.now()}`;
    const givens = ['Anna', 'Berthe', 'Chloé', 'Denise', 'Emma'];
    for (const given of [...givens].reverse()) await post('/fhir/Patient', testPatient({ name: [{ use: 'official', family, given: [given] }] }));
    const seen: string[] = [];
    let url: string | undefined = `/fhir/Patient?family=${family}&_sort=name&_count=2&_total=accurate`;
    let pages = 0;
    while (url) {
      const page: { body: Bundle; status: number } = await get(url);
      expect(page.status).toBe(200);
      expect(page.body.total).toBe(5);
      seen.push(...(page.body.entry ?? []).map((e) => (e.resource as Patient).name?.[0].given?.[0] as string));
      url = page.body.link?.find((l) => l.relation === 'next')?.url?.replace('http://aiguillage.test', '');
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(givens);
    const desc = await get(`/fhir/Patient?family=${family}&_sort=-name&_count=1`);
    expect(desc.body.entry[0].resource.name[0].given[0]).toBe('Emma');
    const huge = await get(`/fhir/Patient?family=${family}&_count=100000`);
    expect(huge.body.link[0].url).toContain('_count=500');
    expect((await get(`/fhir/Patient?_count=-1`)).status).toBe(400);
    expect((await get(`/fhir/Patient?_count=abc`)).status).toBe(400);
    expect((await get(`/fhir/Patient?_sort=gender`)).status).toBe(400);
    expect((await get(`/fhir/Patient?_cursor=garbage`)).status).toBe(400);
  });

  it('refuses unknown parameters unless lenient handling is asked for', async () => {
    const strict = await get('/fhir/Patient?colour=blue');
    expect(strict.status).toBe(400);
    expect(strict.body.issue[0].diagnostics).toContain('supported');
    const lenient = await get('/fhir/Patient?colour=blue&_count=1').set('Prefer', 'handling=lenient');
    expect(lenient.status).toBe(200);
    expect(lenient.body.entry.at(-1).search.mode).toBe('outcome');
    expect((await get('/fhir/Patient?family:exact=x')).status).toBe(400);
  });

  it('includes the organization and locations of units', async () => {
    const ror = await t.tokenFor(['ror']);
    const write = (path: string, body: unknown) => t.http.put(path).set('Authorization', `Bearer ${ror}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));
    await write('/fhir/Organization/inc-org', { resourceType: 'Organization', id: 'inc-org', name: 'Centre hospitalier Include' });
    await write('/fhir/Location/inc-loc', { resourceType: 'Location', id: 'inc-loc', name: 'Site Include', managingOrganization: { reference: 'Organization/inc-org' } });
    await write('/fhir/HealthcareService/inc-hs', {
      resourceType: 'HealthcareService',
      id: 'inc-hs',
      name: 'SMR Include',
      providedBy: { reference: 'Organization/inc-org' },
      location: [{ reference: 'Location/inc-loc' }],
    });
    const res = await t.http.get('/fhir/HealthcareService?organization=Organization/inc-org&_include=HealthcareService:organization&_include=HealthcareService:location');
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: { resource: { resourceType: string; id: string }; search: { mode: string } }) => `${e.search.mode}:${e.resource.resourceType}/${e.resource.id}`)).toEqual([
      'match:HealthcareService/inc-hs',
      'include:Organization/inc-org',
      'include:Location/inc-loc',
    ]);
    expect((await t.http.get('/fhir/HealthcareService?_include=HealthcareService:foo')).status).toBe(400);
    expect((await t.http.get('/fhir/Location?organization=inc-org')).body.entry[0].resource.id).toBe('inc-loc');
  });
});

describe('conditional create', () => {
  it('returns the existing resource instead of creating a second one', async () => {
    const patient = testPatient();
    const criteria = `identifier=${patient.identifier?.[0].system}|${patient.identifier?.[0].value}`;
    const first = await post('/fhir/Patient', patient, { 'If-None-Exist': criteria });
    const second = await post('/fhir/Patient', patient, { 'If-None-Exist': criteria });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
  });

  it('gives one resource when two identical conditional creates race', async () => {
    for (let round = 0; round < 5; round++) {
      const patient = testPatient();
      const criteria = `identifier=${patient.identifier?.[0].system}|${patient.identifier?.[0].value}`;
      const results = await Promise.all(Array.from({ length: 6 }, () => post('/fhir/Patient', patient, { 'If-None-Exist': criteria })));
      expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
      expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
      const found = await get(`/fhir/Patient?${criteria.replace('|', '%7C')}&_total=accurate`);
      expect(found.body.total).toBe(1);
    }
  });

  it('answers 412 when the criteria match several', async () => {
    const family = `Twin${Date.now()}`;
    await post('/fhir/Patient', testPatient({ name: [{ family }] }));
    await post('/fhir/Patient', testPatient({ name: [{ family }] }));
    const res = await post('/fhir/Patient', testPatient({ name: [{ family }] }), { 'If-None-Exist': `family=${family}` });
    expect(res.status).toBe(412);
  });
});

describe('$validate', () => {
  it('reports issues with expressions without storing anything', async () => {
    const family = `Validate${Date.now()}`;
    const ok = await post('/fhir/Patient/$validate', testPatient({ name: [{ family }] }));
    expect(ok.status).toBe(200);
    expect(ok.body.issue[0].severity).toBe('information');
    const bad = await post('/fhir/Patient/$validate', { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { resourceType: 'Patient', birthDate: 'soon' } }] });
    expect(bad.status).toBe(200);
    expect(bad.body.issue[0].expression).toEqual(['Patient.birthDate']);
    expect((await get(`/fhir/Patient?family=${family}`)).body.entry).toBeUndefined();
  });
});

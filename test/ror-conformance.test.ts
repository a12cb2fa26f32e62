/**
 * The ROR server's CapabilityStatement, checked against the gateway: every
 * search parameter, `_include`, `_revinclude` and result parameter it
 * declares for a resource type is tried with a value that must match and one
 * that must not, over the guide's examples and our fixtures carrying the ROR
 * extensions (fixtures/ror/, sources in SOURCES.md). A declared parameter
 * with no case fails the test unless it is in NOT_APPLICABLE, with the reason.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { evalFhirPath } from '@medplum/core';
import fc from 'fast-check';
import { SEED } from './hostile-kit.js';
import { trickyString } from './hostile-fhir.js';
import { compileFhirPath } from '../mappings/search-values.js';
import { reindexSearchValues } from '../src/domain/directory/reindex.js';
import { allKinds } from '../src/domain/registry.js';
import { FHIR_JSON, startTestGateway, type TestGateway } from './helpers.js';

const DIR = 'fixtures/ror';
const read = <T>(file: string): T => JSON.parse(fs.readFileSync(`${DIR}/${file}`, 'utf8')) as T;

interface DeclaredResource {
  type: string;
  searchParam?: { name: string; type: string }[];
  searchInclude?: string[];
  searchRevInclude?: string[];
}
const statement = read<{ rest: { resource: DeclaredResource[]; searchParam?: { name: string }[] }[] }>('ror-CapabilityStatement-ror-serveur.json');
const declared = statement.rest[0].resource;
/** `searchInclude` entries are sometimes one comma-separated string in the statement. */
const split = (list: string[] | undefined): string[] => (list ?? []).flatMap((s) => s.split(',').map((x) => x.trim())).filter(Boolean);

/** A query that must find `id` (as a match, or as included when `included`), and one that must not. */
interface Case {
  match: string;
  miss: string;
  id: string;
  included?: boolean;
}
const c = (match: string, miss: string, id: string, included = false): Case => ({ match, miss, id, included });
const enc = encodeURIComponent;
const J = (n: string): string => `https://mos.esante.gouv.fr/NOS/${n}/FHIR/${n.replace('_', '-')}`;

/** Cases by `Type.parameter`, `Type._include=…`, `Type._revinclude=…`. */
const CASES: Record<string, Case> = {
  // Location
  'Location._filter': c(`_filter=${enc('commune-cog eq 75056 and (nb-capacity ge 10 or status eq inactive)')}`, `_filter=${enc('commune-cog eq 75056 and not (nb-capacity ge 10)')}`, 'conf-loc-a'),
  'Location._has': c('_has:HealthcareService:location:psychiatric-sector=75G', '_has:HealthcareService:location:psychiatric-sector=69G', 'conf-loc-a'),
  'Location._id': c('_id=conf-loc-a', '_id=conf-loc-b', 'conf-loc-a'),
  'Location._lastUpdated': c('_id=conf-loc-a&_lastUpdated=ge2000-01-01', '_id=conf-loc-a&_lastUpdated=lt2000-01-01', 'conf-loc-a'),
  'Location._tag': c(`_tag=${enc(`${J('TRE_R30-RegionOM')}|11`)}`, '_tag=06', 'conf-loc-a'),
  'Location.type': c(`type=${enc(`${J('TRE_R343-FonctionLieu')}|002`)}`, 'type=001', 'conf-loc-a'),
  'Location.identifier': c(`identifier=${enc('https://ror.esante.gouv.fr/lieu|11/conf-loc-a')}`, 'identifier=11/conf-loc-b', 'conf-loc-a'),
  'Location.near': c(`near=${enc('48.85|2.35|5|km')}`, `near=${enc('45.76|4.84|5|km')}`, 'conf-loc-a'),
  'Location.status': c('status=active', 'status=inactive', 'conf-loc-a'),
  'Location.operational-status': c('operational-status=U', `operational-status=${enc('http://terminology.hl7.org/CodeSystem/v2-0116|K')}`, 'conf-loc-a'),
  'Location.address-postalcode': c('address-postalcode=750', 'address-postalcode=690', 'conf-loc-a'),
  'Location.address-city': c('address-city=paris', 'address-city=lyon', 'conf-loc-a'),
  'Location.capacity-status': c('capacity-status=01', 'capacity-status=03', 'conf-loc-a'),
  'Location.nb-capacity': c('nb-capacity=ge20', 'nb-capacity=lt20', 'conf-loc-a'),
  'Location.additional-bed-type': c('additional-bed-type=01', 'additional-bed-type=02', 'conf-loc-a'),
  'Location.capacity-closing-type': c(`capacity-closing-type=${enc(`${J('JDV_J191-TypeFermetureCapacite-ROR')}|01`)}`, 'capacity-closing-type=02', 'conf-loc-a'),
  'Location.capacity-type': c('capacity-type=01', 'capacity-type=02', 'conf-loc-a'),
  'Location.capacity-update-date': c('capacity-update-date=ge2025-01-01', 'capacity-update-date=lt2025-01-01', 'conf-loc-a'),
  'Location.crisis-type': c('crisis-type=01', 'crisis-type=02', 'conf-loc-a'),
  'Location.equipment-type': c('equipment-type=EQ-IRM', 'equipment-type=EQ-SCANNER', 'conf-loc-a'),
  'Location.equipment-feature': c('equipment-feature=01', 'equipment-feature=02', 'conf-loc-a'),
  'Location.gender-capacity-available': c('gender-capacity-available=03', 'gender-capacity-available=01', 'conf-loc-a'),
  'Location.limit-value': c(`limit-value=${enc('ge150|http://unitsofmeasure.org|kg')}`, 'limit-value=gt200', 'conf-loc-a'),
  'Location.commune-cog': c('commune-cog=75056', 'commune-cog=69123', 'conf-loc-a'),
  'Location.near-insee-code': c(`near-insee-code=${enc('75056|5|km')}`, `near-insee-code=${enc('69123|5|km')}`, 'conf-loc-a'),
  'Location.residential-number': c('residential-number=12', 'residential-number=ne12', 'conf-loc-a'),
  'Location.residential-type': c('residential-type=01', 'residential-type=02', 'conf-loc-a'),
  'Location.temporality-capacity': c('temporality-capacity=01', 'temporality-capacity=02', 'conf-loc-a'),
  'Location.temporary-assignement': c('temporary-assignement=01', 'temporary-assignement=02', 'conf-loc-a'),
  'Location._revinclude=HealthcareService:location': c('_id=conf-loc-a&_revinclude=HealthcareService:location', '_id=conf-loc-b&_revinclude=HealthcareService:location', 'conf-hs-a', true),
  // HealthcareService (the guide's example 1234564 and ours)
  'HealthcareService._id': c('_id=1234564', '_id=conf-hs-a', '1234564'),
  'HealthcareService._lastUpdated': c('_lastUpdated=ge2025-04-08', '_lastUpdated=lt2025-04-08', '1234564'),
  'HealthcareService._tag': c('_tag=06', '_tag=11', '1234564'),
  'HealthcareService._has': c('_has:PractitionerRole:service:identifier=11/conf-role-a', '_has:PractitionerRole:service:identifier=11/conf-role-b', 'conf-hs-a'),
  'HealthcareService._filter': c(`_filter=${enc('psychiatric-sector sw "75" and age-range-low le 65')}`, `_filter=${enc('psychiatric-sector co "G05"')}`, 'conf-hs-a'),
  'HealthcareService.identifier': c('identifier=06/0099999', 'identifier=11/conf-hs-a', '1234564'),
  'HealthcareService.name': c('name=gynecologique', 'name=psychiatrie', '1234564'),
  'HealthcareService.service-category': c('service-category=157', 'service-category=205', '1234564'),
  'HealthcareService.service-type': c(`service-type=${enc(`${J('TRE_R227-ChampActivite')}|01`)}`, 'service-type=03', '1234564'),
  'HealthcareService.characteristic': c('characteristic=04', 'characteristic=11', '1234564'),
  'HealthcareService.specialty': c('specialty=022', 'specialty=304', '1234564'),
  'HealthcareService.age-range-high': c('age-range-high=ge100', 'age-range-high=lt100', '1234564'),
  'HealthcareService.age-range-low': c('age-range-low=le15', 'age-range-low=lt15', '1234564'),
  'HealthcareService.intervention-zone': c(`intervention-zone=${enc(`${J('TRE_R13-CommuneOM')}|75056`)}`, 'intervention-zone=69123', 'conf-hs-a'),
  'HealthcareService.patient-type': c('patient-type=10', 'patient-type=20', 'conf-hs-a'),
  'HealthcareService.psychiatric-sector': c('psychiatric-sector=75g', 'psychiatric-sector=69g', 'conf-hs-a'),
  'HealthcareService.notavailable-closing-reopeningdate': c('notavailable-closing-reopeningdate=ap2026-02-15', 'notavailable-closing-reopeningdate=ap2025-02-15', 'conf-hs-a'),
  'HealthcareService._include=HealthcareService:organization': c('_id=conf-hs-a&_include=HealthcareService:organization', '_id=conf-hs-b&_include=HealthcareService:organization', 'conf-eg-a', true),
  'HealthcareService._include=HealthcareService:location': c('_id=conf-hs-a&_include=HealthcareService:location', '_id=conf-hs-b&_include=HealthcareService:location', 'conf-loc-a', true),
  'HealthcareService._include=Organization:partof': c(
    '_id=conf-hs-a&_include=HealthcareService:organization&_include:iterate=Organization:partof',
    '_id=conf-hs-a&_include=HealthcareService:location&_include:iterate=Organization:partof',
    'conf-ej-a',
    true
  ),
  'HealthcareService._include=PractitionerRole:practitioner': c(
    '_id=conf-hs-a&_revinclude=PractitionerRole:service&_include:iterate=PractitionerRole:practitioner',
    '_id=conf-hs-b&_revinclude=PractitionerRole:service&_include:iterate=PractitionerRole:practitioner',
    'conf-pr-a',
    true
  ),
  'HealthcareService._revinclude=PractitionerRole:service': c('_id=conf-hs-a&_revinclude=PractitionerRole:service', '_id=conf-hs-b&_revinclude=PractitionerRole:service', 'conf-role-a', true),
  // Organization
  'Organization._id': c('_id=conf-eg-a', '_id=conf-eg-b', 'conf-eg-a'),
  'Organization._lastUpdated': c('_id=conf-eg-a&_lastUpdated=ge2025-01-01', '_id=conf-eg-a&_lastUpdated=lt2025-01-01', 'conf-eg-a'),
  'Organization._tag': c('_tag=11', '_tag=06', 'conf-eg-a'),
  'Organization._filter': c(`_filter=${enc('price-amount-value gt 50 and drop-zone eq true')}`, `_filter=${enc('price-amount-value gt 50 and drop-zone ne true')}`, 'conf-eg-a'),
  'Organization.identifier': c(`identifier=${enc('https://finess.esante.gouv.fr|750000012')}`, 'identifier=690000013', 'conf-eg-a'),
  'Organization.name': c('name=tilleuls', 'name=platanes', 'conf-eg-a'),
  'Organization.type': c(`type=${enc(`${J('TRE_R66-CategorieEtablissement')}|500`)}`, 'type=252', 'conf-eg-a'),
  'Organization.closing-type': c('closing-type=DEF', 'closing-type=PROV', 'conf-eg-a'),
  'Organization.drop-zone': c('drop-zone=true', 'drop-zone=false', 'conf-eg-a'),
  'Organization.period-end': c('period-end=2026-12-31', 'period-end=lt2026', 'conf-eg-a'),
  'Organization.price-amount-value': c('price-amount-value=72.5', 'price-amount-value=lt20', 'conf-eg-a'),
  'Organization.price-dependency-level': c('price-dependency-level=01', 'price-dependency-level=02', 'conf-eg-a'),
  'Organization.price-residential-type': c('price-residential-type=01', 'price-residential-type=02', 'conf-eg-a'),
  'Organization.price-type': c(`price-type=${enc(`${J('JDV_J36-TypeTarif-ROR')}|01`)}`, 'price-type=02', 'conf-eg-a'),
  'Organization.price-unit': c('price-unit=01', 'price-unit=02', 'conf-eg-a'),
  'Organization.price-validity-start-date': c('price-validity-start-date=ge2025-01-01', 'price-validity-start-date=lt2025-01-01', 'conf-eg-a'),
  'Organization.price-welcome-type': c('price-welcome-type=01', 'price-welcome-type=02', 'conf-eg-a'),
  'Organization.special-price': c('special-price=01', 'special-price=02', 'conf-eg-a'),
  // Practitioner, PractitionerRole
  'Practitioner.identifier': c(`identifier=${enc('urn:oid:1.2.250.1.71.4.2.1|810000000011')}`, 'identifier=810000000022', 'conf-pr-a'),
  'Practitioner._filter': c(`_filter=${enc('identifier eq 810000000011 or name co "Martin"')}`, `_filter=${enc('name co "Durand"')}`, 'conf-pr-a'),
  'PractitionerRole.identifier': c('identifier=11/conf-role-a', 'identifier=11/conf-role-b', 'conf-role-a'),
  // Questionnaire (ROR instruction sheets)
  'Questionnaire._id': c('_id=conf-ms-141', '_id=conf-ms-200', 'conf-ms-141'),
  'Questionnaire._lastUpdated': c('_id=conf-ms-141&_lastUpdated=ge2000', '_id=conf-ms-141&_lastUpdated=lt2000', 'conf-ms-141'),
  'Questionnaire.identifier': c('identifier=conf-ms-141', 'identifier=conf-ms-200', 'conf-ms-141'),
  'Questionnaire.status': c('status=active', 'status=retired', 'conf-ms-141'),
  'Questionnaire.context': c(`context=${enc(`${J('TRE_R244-CategorieOrganisation')}|157`)}`, 'context=205', 'conf-ms-141'),
  'Questionnaire.name': c('name=RORQuestionnaireGyn', 'name=RORQuestionnairePsy', 'conf-ms-141'),
  'Questionnaire.title': c('title:contains=gynecologie', 'title:contains=psychiatrie', 'conf-ms-141'),
  'Questionnaire.description': c('description:contains=unite hospitaliere', 'description:exact=autre', 'conf-ms-141'),
  'Questionnaire.version': c('version=1', 'version=2', 'conf-ms-141'),
  'Questionnaire.date': c('date=2025-03', 'date=lt2025', 'conf-ms-141'),
  'PractitionerRole._filter': c(`_filter=${enc('service eq HealthcareService/conf-hs-a')}`, `_filter=${enc('service ne HealthcareService/conf-hs-a')}`, 'conf-role-a'),
};

/**
 * Declared by the ROR server but not applicable to the gateway's directory,
 * with the reason. Anything declared and neither in CASES nor here fails.
 */
const NOT_APPLICABLE: Record<string, string> = {
  // The ROR's Tasks are data-quality requests on an offer (focus = HealthcareService); the gateway's Tasks are the units'
  // parts of admission requests, whose focus is the ServiceRequest: no Task of the gateway ever focuses on a unit.
  'HealthcareService._revinclude=Task:focus': 'The gateway’s Tasks focus on admission requests (ServiceRequest), never on a HealthcareService',
};

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway();
  const ror = await t.tokenFor(['ror']);
  const resources = [read<Resource>('ror-HealthcareService-1234564.json'), read<Resource>('ror-Location-ror-location-exemple.json'), ...read<Resource[]>('conformance-directory.json')];
  for (const resource of resources) {
    const res = await t.http.put(`/fhir/${resource.resourceType}/${resource.id}`).set('Authorization', `Bearer ${ror}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(resource));
    expect(res.status, `${resource.resourceType}/${resource.id}: ${JSON.stringify(res.body)}`).toBe(201);
  }
}, 60_000);
afterAll(() => t.close());

async function search(type: string, query: string): Promise<Bundle> {
  const res = await t.http.get(`/fhir/${type}?${query}`);
  expect(res.status, `${type}?${query}: ${JSON.stringify(res.body)}`).toBe(200);
  return res.body as Bundle;
}

const ids = (bundle: Bundle, mode: 'match' | 'include'): string[] => (bundle.entry ?? []).filter((e: BundleEntry) => e.search?.mode === mode).map((e) => e.resource?.id as string);

async function check(key: string, type: string, kase: Case): Promise<void> {
  const mode = kase.included ? 'include' : 'match';
  expect(ids(await search(type, kase.match), mode), `${key}: ${kase.match} finds ${kase.id}`).toContain(kase.id);
  expect(ids(await search(type, kase.miss), mode), `${key}: ${kase.miss} does not find ${kase.id}`).not.toContain(kase.id);
}

describe('the ROR server’s CapabilityStatement on the gateway', () => {
  for (const resource of declared) {
    const keys = [
      ...(resource.searchParam ?? []).map((p) => `${resource.type}.${p.name}`),
      ...split(resource.searchInclude).map((i) => `${resource.type}._include=${i}`),
      ...split(resource.searchRevInclude).map((i) => `${resource.type}._revinclude=${i}`),
    ];
    describe(resource.type, () => {
      for (const key of keys) {
        if (NOT_APPLICABLE[key]) {
          // Not applicable: refused as unsupported (400 naming it), never answered as if it were followed.
          it(`${key}: refused as not applicable (${NOT_APPLICABLE[key]})`, async () => {
            const [param, value] = key.slice(resource.type.length + 1).split('=');
            const res = await t.http.get(`/fhir/${resource.type}?${param}=${encodeURIComponent(value)}`);
            expect(res.status).toBe(400);
            expect(JSON.stringify(res.body.issue)).toContain(param);
          });
          continue;
        }
        it(key, async () => {
          const kase = CASES[key];
          expect(kase, `${key} is declared by the ROR server: give it a case, or a reason in NOT_APPLICABLE`).toBeDefined();
          await check(key, resource.type, kase);
        });
      }
    });
  }

  it('declares every parameter and include it supports in its own CapabilityStatement', async () => {
    const ours = (await t.http.get('/fhir/metadata')).body.rest[0].resource as DeclaredResource[];
    for (const resource of declared) {
      const mine = ours.find((r) => r.type === resource.type);
      const wanted = (resource.searchParam ?? []).map((p) => p.name).filter((n) => !NOT_APPLICABLE[`${resource.type}.${n}`]);
      expect(mine?.searchParam?.map((p) => p.name), resource.type).toEqual(expect.arrayContaining(wanted));
      const supported = (list: string[] | undefined, kind: string): string[] => split(list).filter((i) => !NOT_APPLICABLE[`${resource.type}.${kind}=${i}`]);
      expect(mine?.searchInclude ?? [], `${resource.type} searchInclude`).toEqual(expect.arrayContaining(supported(resource.searchInclude, '_include')));
      expect(mine?.searchRevInclude ?? [], `${resource.type} searchRevInclude`).toEqual(expect.arrayContaining(supported(resource.searchRevInclude, '_revinclude')));
    }
  });
});

describe('result parameters declared at system level', () => {
  const declaredSystem = (statement.rest[0].searchParam ?? []).map((p) => p.name);

  it('declares _count, _sort, _elements, _include and _revinclude, all covered here', () => {
    expect(declaredSystem.sort()).toEqual(['_count', '_elements', '_include', '_revinclude', '_sort']);
  });

  it('_count limits the page', async () => {
    expect(ids(await search('Location', '_count=1'), 'match')).toHaveLength(1);
    expect((await search('Location', '_count=0&_total=accurate')).entry).toBeUndefined();
  });

  it('_sort orders the matches', async () => {
    const asc = ids(await search('Organization', '_sort=_id&_id=conf-eg-a,conf-eg-b,conf-ej-a'), 'match');
    const desc = ids(await search('Organization', '_sort=-_id&_id=conf-eg-a,conf-eg-b,conf-ej-a'), 'match');
    expect(asc).toEqual(['conf-eg-a', 'conf-eg-b', 'conf-ej-a']);
    expect(desc).toEqual([...asc].reverse());
  });

  it('_elements returns the elements asked for, id and meta, tagged SUBSETTED; included resources whole', async () => {
    const bundle = await search('HealthcareService', '_id=conf-hs-a&_elements=name,providedBy&_include=HealthcareService:organization');
    const match = bundle.entry?.find((e) => e.search?.mode === 'match')?.resource as Resource & Record<string, unknown>;
    expect(Object.keys(match).sort()).toEqual(['id', 'meta', 'name', 'providedBy', 'resourceType']);
    expect(match.meta?.tag).toContainEqual(expect.objectContaining({ code: 'SUBSETTED' }));
    const included = bundle.entry?.find((e) => e.search?.mode === 'include')?.resource as Resource & Record<string, unknown>;
    expect(included.extension).toBeDefined();
  });

  it('_summary: true keeps the summary elements, count only the total, data drops the narrative, text the narrative and ids', async () => {
    const summary = (await search('HealthcareService', '_id=1234564&_summary=true')).entry?.[0].resource as Resource & Record<string, unknown>;
    expect(summary.name).toBeDefined();
    expect(summary.extension).toBeUndefined();
    expect(summary.availableTime).toBeUndefined();
    expect(summary.meta?.tag).toContainEqual(expect.objectContaining({ code: 'SUBSETTED' }));
    const count = await search('HealthcareService', '_id=1234564,conf-hs-a&_summary=count');
    expect(count.total).toBe(2);
    expect(count.entry).toBeUndefined();
    const data = (await search('HealthcareService', '_id=conf-hs-a&_summary=data')).entry?.[0].resource as Resource & Record<string, unknown>;
    expect(data.extension).toBeDefined();
    expect(data.text).toBeUndefined();
    const text = (await search('Location', '_id=conf-loc-a&_summary=text')).entry?.[0].resource as Resource & Record<string, unknown>;
    expect(Object.keys(text).sort()).toEqual(['id', 'meta', 'resourceType']);
    const full = (await search('HealthcareService', '_id=conf-hs-a&_summary=false')).entry?.[0].resource as Resource;
    expect(full.meta?.tag?.some((t) => t.code === 'SUBSETTED')).toBe(false);
  });
});

describe('wrong values and modifiers: a 400 naming the parameter, never a 500', () => {
  const bad: [string, string, string][] = [
    ['Location', 'nb-capacity=many', 'nb-capacity'],
    ['Location', 'nb-capacity:exact=3', 'nb-capacity:exact'],
    ['Location', 'capacity-update-date=yesterday', 'capacity-update-date'],
    ['Location', 'limit-value=heavy', 'limit-value'],
    ['Location', 'near-insee-code=Paris', 'near-insee-code'],
    ['Location', 'near-insee-code=75056|far', 'near-insee-code'],
    ['Location', 'capacity-status:below=1', 'capacity-status:below'],
    ['Location', '_has:HealthcareService:organization:name=x', '_has:HealthcareService:organization:name'],
    ['Location', '_has:Nope:location:name=x', '_has:Nope:location:name'],
    ['Location', '_has:HealthcareService:location:nope=x', 'nope'],
    ['Location', '_has:HealthcareService:location:_has:PractitionerRole:service:identifier=x', '_has:HealthcareService:location:_has:PractitionerRole:service:identifier'],
    ['Location', '_revinclude=PractitionerRole:service', '_revinclude'],
    ['HealthcareService', '_include=Organization:partof', '_include'],
    ['HealthcareService', '_include:iterate=Nope:partof', '_include:iterate'],
    ['HealthcareService', '_elements=name,%20bad-name', '_elements'],
    ['HealthcareService', '_summary=maybe', '_summary'],
    ['HealthcareService', `_filter=${enc('name eq')}`, '_filter'],
    ['HealthcareService', `_filter=${enc('name pr true')}`, '_filter'],
    ['HealthcareService', `_filter=${enc('location.name eq x')}`, '_filter'],
    ['HealthcareService', `_filter=${enc('(name eq x')}`, '_filter'],
    ['HealthcareService', `_filter=${enc('nope eq x')}`, 'nope'],
    ['HealthcareService', `_filter=${enc('age-range-low sw 3')}`, '_filter'],
    ['HealthcareService', 'notavailable-closing-reopeningdate=2026-13-01', 'notavailable-closing-reopeningdate'],
    ['Organization', 'price-amount-value=ge', 'price-amount-value'],
    ['Organization', 'period-end=soon', 'period-end'],
  ];
  for (const [type, query, expression] of bad) {
    it(`${type}?${query}`, async () => {
      const res = await t.http.get(`/fhir/${type}?${query}`);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(JSON.stringify(res.body.issue[0].expression ?? []), JSON.stringify(res.body)).toContain(expression);
    });
  }
});

function encodable(value: string): boolean {
  try {
    encodeURIComponent(value);
    return true;
  } catch {
    return false;
  }
}

describe('hostile values on the ROR parameters and result parameters', () => {
  it('never answer 5xx: a 200 Bundle or a 400 OperationOutcome', async () => {
    const rorParams = declared.flatMap((r) => (r.searchParam ?? []).map((p) => [r.type, p.name] as const));
    const keys = fc.oneof(
      fc.constantFrom(...rorParams).map(([type, name]) => [type, name] as const),
      fc.constantFrom(...rorParams).chain(([type, name]) => fc.constantFrom('not', 'missing', 'exact', 'contains', 'above', 'iterate', '').map((m) => [type, `${name}:${m}`] as const)),
      fc.constantFrom('Location', 'HealthcareService', 'Organization').chain((type) => fc.constantFrom('_filter', '_elements', '_summary', '_include', '_include:iterate', '_revinclude', '_revinclude:iterate', '_sort', '_count').map((k) => [type, k] as const)),
      fc.constantFrom(...rorParams).map(([, name]) => ['Location', `_has:HealthcareService:location:${name}`] as const)
    );
    const values = fc.oneof(
      trickyString,
      fc.constantFrom('ge', 'ap2026', 'gt1e400', '1e400', '-0', '75056|1e999|km', '75056||', 'HealthcareService:location:Location', 'Organization:partof', '*', 'name eq "x', 'not(name eq x)', '(((((', 'a or b and', 'true', 'count'),
      fc.tuple(fc.constantFrom('eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap', 'sw', 'co', 'pr', 'in'), trickyString).map(([op, v]) => `nb-capacity ${op} ${v}`)
    );
    await fc.assert(
      // Lone surrogates have no URL encoding (the hostile suites send them raw): left out here.
      fc.asyncProperty(keys, values.filter(encodable), async ([type, key], value) => {
        const res = await t.http.get(`/fhir/${type}?${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
        expect(res.status, `${type}?${key}=${value} → ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`).toBeLessThan(500);
        expect([200, 400, 401, 403], `${type}?${key}=${value}`).toContain(res.status);
        expect(res.body.resourceType).toBe(res.status === 200 ? 'Bundle' : 'OperationOutcome');
      }),
      { seed: SEED, numRuns: 400 }
    );
  }, 120_000);
});

describe('lenient handling (Prefer: handling=lenient)', () => {
  it('ignores an undeclared _revinclude and a _has it cannot follow, and says so', async () => {
    for (const query of ['_id=conf-loc-a&_revinclude=PractitionerRole:service', '_id=conf-loc-a&_has:Nope:location:name=x']) {
      const res = await t.http.get(`/fhir/Location?${query}`).set('Prefer', 'handling=lenient');
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(ids(res.body as Bundle, 'match')).toEqual(['conf-loc-a']);
      expect(JSON.stringify(res.body.entry.find((e: BundleEntry) => e.search?.mode === 'outcome'))).toContain('Ignored unsupported parameter');
    }
  });
});

describe('rows stored before migration 017', () => {
  it('get their values from the re-index run at start, and are found again', async () => {
    // As a row written before the column existed: no values yet (NULL).
    await t.gateway.db.query("UPDATE location SET search_values = NULL WHERE id = 'conf-loc-a'");
    expect(ids(await search('Location', 'capacity-status=01'), 'match')).not.toContain('conf-loc-a');
    expect(await reindexSearchValues(t.gateway.db)).toBe(1);
    expect(ids(await search('Location', 'capacity-status=01'), 'match')).toContain('conf-loc-a');
    expect(await reindexSearchValues(t.gateway.db)).toBe(0);
  });
});

describe('the FHIRPath subset read natively', () => {
  it('reads every declared expression, on every fixture, as Medplum’s FHIRPath engine does', () => {
    const resources = [read<Resource>('ror-HealthcareService-1234564.json'), read<Resource>('ror-Location-ror-location-exemple.json'), ...read<Resource[]>('conformance-directory.json')];
    let compared = 0;
    for (const kind of allKinds()) {
      for (const param of kind.searchParams) {
        if (param.kind !== 'expression') continue;
        const native = compileFhirPath(param.expression);
        expect(native, `${kind.type}.${param.code} is in the subset read natively`).toBeDefined();
        for (const resource of resources.filter((r) => r.resourceType === kind.type)) {
          expect(native?.(resource), `${kind.type}.${param.code} on ${resource.id}`).toEqual(evalFhirPath(param.expression, resource));
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(60);
  });
});

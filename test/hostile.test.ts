/**
 * Hostile input, part 1: bodies (malformed, mistyped, oversized, deeply
 * nested, huge), content types, and invalid FHIR of every type. Every answer
 * must be a 4xx OperationOutcome (never a 5xx), and every table must be as it
 * was (see hostile-kit.ts). Paths, headers, Bundles, operations and the
 * dashboard are in hostile-requests.test.ts, search in
 * hostile-search.test.ts, tokens in hostile-tokens.test.ts.
 */
import fc from 'fast-check';
import type { CapabilityStatement } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, expectBatchRefusals, FHIR_JSON, invalidResource, nest } from './hostile-fhir.js';
import { describeRequest, expectOutcome, hostileWorld, inParallel, SEED, type Answer, type HostileWorld, type RawRequest } from './hostile-kit.js';

const MAX_BODY = 640 * 1024;
const MAX_ENTRIES = 20;


let h: HostileWorld;
let types: string[];

beforeAll(async () => {
  h = await hostileWorld({ maxBodyBytes: MAX_BODY, maxBundleEntries: MAX_ENTRIES });
  const metadata = (await h.t.http.get('/fhir/metadata')).body as CapabilityStatement;
  // The stored types (those written through the API); the audit trail and the conformance resources are read-only.
  types = (metadata.rest?.[0]?.resource ?? []).filter((r) => r.interaction?.some((i) => i.code === 'create')).map((r) => r.type);
}, 120_000);

afterAll(async () => {
  console.log(`hostile.test.ts: ${h?.client.sent ?? 0} hostile requests sent`);
  await h?.close();
});

/** Runs `fn`, then checks that no table changed (the audit trail aside: refusals only). */
function unchanged(fn: () => Promise<void>): Promise<void> {
  return h.unchanged(fn);
}

function send(request: RawRequest): Promise<Answer> {
  return h.client.send(request);
}

/** An endpoint that takes a JSON body. */
interface Target {
  method: 'POST' | 'PUT';
  path: string;
  token: string;
  /** A body it accepts (for the content-type cases). */
  good?: () => unknown;
  /** `$validate` answers 200 with the issues found: an OperationOutcome all the same. */
  validates?: boolean;
  /** Search by POST: only unparsable bodies are refused (the body is not read otherwise). */
  parseOnly?: boolean;
}

function targets(): Target[] {
  const { tokens, ids, valid } = h;
  const instance: Record<string, string> = {
    Patient: ids.patient,
    Organization: 'chu',
    HealthcareService: 'smr',
    Location: ids.location,
    Practitioner: ids.practitioner,
    PractitionerRole: ids.practitionerRole,
    Questionnaire: ids.questionnaire,
    ServiceRequest: ids.request,
    Task: ids.task,
    QuestionnaireResponse: ids.volet,
    Communication: ids.message,
    DocumentReference: ids.documentReference,
    Consent: ids.consent,
    Subscription: ids.subscription,
  };
  const list: Target[] = [];
  for (const type of types) {
    list.push({ method: 'POST', path: `/fhir/${type}`, token: tokens.admin, good: () => valid[type] });
    if (instance[type]) list.push({ method: 'PUT', path: `/fhir/${type}/${instance[type]}`, token: tokens.admin });
  }
  list.push(
    { method: 'POST', path: '/fhir', token: tokens.admin, good: () => ({ resourceType: 'Bundle', type: 'transaction', entry: [{ fullUrl: 'urn:uuid:p', resource: valid.Patient, request: { method: 'POST', url: 'Patient' } }] }) },
    { method: 'POST', path: '/fhir/Patient/$validate', token: tokens.admin, validates: true },
    { method: 'POST', path: '/fhir/ServiceRequest/$claim', token: tokens.esms },
    { method: 'POST', path: `/fhir/Task/${ids.task}/$remind`, token: tokens.prescriber },
    { method: 'POST', path: `/fhir/ServiceRequest/${ids.request}/$reactivate`, token: tokens.prescriber },
    { method: 'POST', path: `/fhir/ServiceRequest/${ids.request}/$copy`, token: tokens.prescriber },
    { method: 'POST', path: '/fhir/Patient/_search', token: tokens.admin, parseOnly: true }
  );
  return list;
}

/** Whether a text is JSON after all: junk put inside a string value ("undefinedClinique") can leave it so, and then the body is not malformed. */
function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Whether the gateway can parse these bytes as JSON (decoded as it does, with `Response.text()`: BOMs dropped, bad bytes replaced). */
async function parses(bytes: Uint8Array): Promise<boolean> {
  const text = await new Response(bytes).text();
  if (text.trim() === '') return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Sends `body` to `target` and checks the refusal: 400 when it does not parse, a 4xx OperationOutcome anyway. */
async function refuseBody(target: Target, body: Uint8Array | string, label: string, contentType = FHIR_JSON): Promise<Answer> {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const request: RawRequest = { method: target.method, path: target.path, headers: { ...bearer(target.token), 'Content-Type': contentType }, body: bytes };
  const res = await send(request);
  const what = `${label}: ${describeRequest(request)}`;
  if (!(await parses(bytes))) expectOutcome(res, what, [400]);
  else if (target.validates && res.status === 200) expect(res.body?.resourceType, what).toBe('OperationOutcome');
  else expectOutcome(res, what);
  return res;
}

const BOM = '\uFEFF';

/** Bodies that are not a JSON resource. */
function malformedBodies(samples: string[]): fc.Arbitrary<{ label: string; body: Uint8Array | string }> {
  const sample = fc.constantFrom(...samples);
  return fc.oneof(
    fc.uint8Array({ maxLength: 400 }).map((body) => ({ label: 'random bytes', body })),
    sample.chain((text) => fc.nat({ max: text.length - 1 }).map((n) => ({ label: 'truncated JSON', body: text.slice(0, n) }))),
    sample.chain((text) => fc.nat({ max: text.length - 1 }).map((n) => ({ label: 'BOM, truncated JSON', body: BOM + text.slice(0, n) }))),
    sample
      .chain((text) => fc.tuple(fc.nat({ max: text.length }), fc.constantFrom('\u0000', '\u0001', '"', '{', ']', ',', ':', '\\', '\uFEFF', "'", '/*', '\n}', 'NaN', 'undefined')).map(([n, junk]) => ({ label: 'JSON with junk inside', body: text.slice(0, n) + junk + text.slice(n) })))
      // Junk that lands inside a string value (`{` in a reference) leaves valid JSON and a valid resource: not junk.
      .filter(({ body }) => !isJson(body)),
    fc.jsonValue({ maxDepth: 3 }).filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)).map((v) => ({ label: 'JSON that is not an object', body: JSON.stringify(v) })),
    fc.constantFrom(
      { label: 'empty body', body: '' },
      { label: 'blank body', body: ' \r\n\t ' },
      { label: 'BOM only', body: BOM },
      { label: 'BOM, then a bad resource', body: `${BOM}{"resourceType":"Patient","gender":7}` },
      { label: 'two BOMs', body: `${BOM}${BOM}{"resourceType":"Patient","gender":7}` },
      { label: 'UTF-16 BOM', body: Buffer.from(`\uFEFF{"resourceType":"Patient"}`, 'utf16le') },
      { label: 'UTF-16 body', body: Buffer.from('{"resourceType":"Patient"}', 'utf16le') },
      { label: 'UTF-32 body', body: Buffer.from([0, 0, 0, 0x7b, 0, 0, 0, 0x7d]) },
      { label: 'duplicate keys', body: '{"resourceType":"Patient","resourceType":"Spaceship"}' },
      { label: 'duplicate keys', body: '{"resourceType":"Patient","gender":"male","gender":7}' },
      { label: 'single quotes', body: "{'resourceType':'Patient'}" },
      { label: 'trailing comma', body: '{"resourceType":"Patient",}' },
      { label: 'comment', body: '{"resourceType":"Patient" /* hi */}' },
      { label: 'two documents', body: '{"resourceType":"Patient"}{"resourceType":"Patient"}' },
      { label: 'NaN', body: '{"resourceType":"Patient","multipleBirthInteger":NaN}' },
      { label: 'huge number', body: '{"resourceType":"Patient","multipleBirthInteger":1e999999}' },
      { label: 'unterminated string', body: '{"resourceType":"Patient' },
      { label: 'raw control character', body: '{"resourceType":"Pat\u0001ient"}' },
      { label: 'overlong UTF-8 slash', body: Buffer.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d]) },
      { label: 'null', body: 'null' },
      { label: 'array of resources', body: '[{"resourceType":"Patient"}]' },
      { label: 'string', body: '"{\\"resourceType\\":\\"Patient\\"}"' },
      { label: 'prototype pollution', body: '{"resourceType":"Patient","__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}' }
    )
  );
}

describe('malformed bodies', () => {
  it('refuses random, truncated, mistyped, BOM-prefixed and duplicate-key bodies on every write and operation: 400', async () => {
    await unchanged(async () => {
      const all = targets();
      const samples = Object.values(h.valid).map((r) => JSON.stringify(r));
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...all), malformedBodies(samples), async (target, { label, body }) => {
          if (target.parseOnly && (await parses(typeof body === 'string' ? Buffer.from(body) : body))) return;
          await refuseBody(target, body, label);
        }),
        { seed: SEED, numRuns: 500 }
      );
    });
  });

  it('refuses a wrong or missing Content-Type with 415, whatever the body', async () => {
    await unchanged(async () => {
      const types = [
        undefined,
        '',
        'text/plain',
        'text/plain; charset=utf-8',
        'application/xml',
        'application/fhir+xml',
        'text/html',
        'multipart/form-data; boundary=xyz',
        'application/x-www-form-urlencoded',
        'application/octet-stream',
        'application/jsonx',
        'application/json-patch+json',
        'application/fhir+jsonx',
        'json',
        'application/',
        '*/*',
        'application/fhir+json\u00e9',
      ];
      const requests: RawRequest[] = [];
      for (const target of targets().filter((t) => t.good)) {
        for (const type of types) {
          // A Binary is also sent as itself, in its own type: JSON text sent as text/plain is a plain-text document.
          if (target.path === '/fhir/Binary' && type?.startsWith('text/plain')) continue;
          requests.push({ method: target.method, path: target.path, headers: { ...bearer(target.token), 'Content-Type': type }, body: JSON.stringify(target.good?.()) });
        }
      }
      await inParallel(requests, 4, async (request) => expectOutcome(await send(request), describeRequest(request) + ` (Content-Type ${JSON.stringify(request.headers?.['Content-Type'])})`, [415]));
    });
  });
});

describe('size limits', () => {
  it('refuses bodies over the limit with 413, with or without Content-Length', async () => {
    await unchanged(async () => {
      const big = JSON.stringify({ ...h.valid.Patient, text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(MAX_BODY)}</div>` } });
      const garbage = 'x'.repeat(MAX_BODY + 1);
      const requests: RawRequest[] = [];
      for (const target of targets()) {
        for (const chunked of [false, true]) {
          requests.push({ method: target.method, path: target.path, headers: { ...bearer(target.token), 'Content-Type': FHIR_JSON }, body: big, chunked, fresh: true });
          requests.push({ method: target.method, path: target.path, headers: { ...bearer(target.token), 'Content-Type': FHIR_JSON }, body: garbage, chunked, fresh: true });
        }
      }
      requests.push({ method: 'POST', path: '/fhir/Patient/_search', headers: { ...bearer(h.tokens.admin), 'Content-Type': 'application/x-www-form-urlencoded' }, body: `family=${'a'.repeat(MAX_BODY)}`, fresh: true });
      await inParallel(requests, 2, async (request) => expectOutcome(await send(request), `${describeRequest(request)}${request.chunked ? ' (chunked)' : ''}`, [413]));
    });
  });

  it('refuses Bundles of more entries than allowed with 413, async ones too', async () => {
    await unchanged(async () => {
      for (const type of ['batch', 'transaction']) {
        for (const prefer of [undefined, 'respond-async']) {
          const entry = Array.from({ length: MAX_ENTRIES + 1 }, (_, i) => ({ fullUrl: `urn:uuid:${i}`, resource: h.valid.Patient, request: { method: 'POST', url: 'Patient' } }));
          const request: RawRequest = { method: 'POST', path: '/fhir', headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON, Prefer: prefer }, body: JSON.stringify({ resourceType: 'Bundle', type, entry }) };
          expectOutcome(await send(request), `${type} of ${MAX_ENTRIES + 1} entries (${prefer ?? 'sync'})`, [413]);
        }
      }
    });
  });
});

describe('deep nesting and huge arrays', () => {
  it('refuses 10,000 (and 40,000) levels of nesting, in any element, with a 4xx', async () => {
    await unchanged(async () => {
      const cases: [string, string, string][] = [];
      for (const depth of [10_000, 40_000]) {
        cases.push(
          ['/fhir/Patient', `{"resourceType":"Patient","extension":${nest('[', '1', ']', depth)}}`, `${depth} nested arrays in an element`],
          ['/fhir/Patient', nest('[', '{"resourceType":"Patient"}', ']', depth), `${depth} nested arrays around a resource`]
        );
      }
      for (const depth of [1_000, 10_000]) {
        // Nesting the FHIR schema allows (recursive elements): extensions, parts, items, contained.
        const extension = nest('{"url":"http://example.org/x","extension":[', '{"url":"http://example.org/x","valueString":"x"}', ']}', depth);
        cases.push(
          ['/fhir/Patient', `{"resourceType":"Patient","name":[{"family":"Deep"}],"extension":[${extension}]}`, `${depth} nested extensions`],
          ['/fhir/Patient', `{"resourceType":"Patient","name":[{"family":${nest('{"x":', '1', '}', depth)}}]}`, `${depth} nested objects`],
          ['/fhir/ServiceRequest/$claim', `{"resourceType":"Parameters","parameter":[${nest('{"name":"p","part":[', '{"name":"p","valueString":"x"}', ']}', depth)}]}`, `${depth} nested parameter parts`],
          ['/fhir/QuestionnaireResponse', `{"resourceType":"QuestionnaireResponse","status":"in-progress","item":[${nest('{"linkId":"1","item":[', '{"linkId":"1"}', ']}', depth)}]}`, `${depth} nested items`],
          ['/fhir/Patient', nest('{"resourceType":"Patient","contained":[', '{"resourceType":"Patient"}', ']}', depth), `${depth} nested contained resources`],
          ['/fhir', `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","extension":[${extension}]},"request":{"method":"POST","url":"Patient"}}]}`, `${depth} nested extensions in a transaction`]
        );
      }
      for (const [path, body, label] of cases) {
        const token = path.includes('$claim') ? h.tokens.esms : h.tokens.admin;
        for (const prefer of path === '/fhir' ? [undefined, 'respond-async'] : [undefined]) {
          const request: RawRequest = { method: 'POST', path, headers: { ...bearer(token), 'Content-Type': FHIR_JSON, Prefer: prefer }, body };
          expect(Buffer.byteLength(body), label).toBeLessThanOrEqual(MAX_BODY);
          expectOutcome(await send(request), `${label}${prefer ? ' (async)' : ''}`);
        }
      }
    });
  });

  it('refuses huge arrays and objects of the wrong shape with 400', async () => {
    await unchanged(async () => {
      const cases: [string, string, string][] = [
        ['/fhir/Patient', JSON.stringify({ ...h.valid.Patient, identifier: Array(8_000).fill(1) }), '8,000 numbers as identifiers'],
        ['/fhir/Organization', JSON.stringify({ ...h.valid.Organization, identifier: [null], address: [7] }), 'null and a number for complex elements'],
        ['/fhir/Patient', JSON.stringify({ ...h.valid.Patient, name: Array(8_000).fill({ family: 7 }) }), '8,000 mistyped names'],
        ['/fhir/Patient', JSON.stringify(Array(40_000).fill(null)), '40,000 nulls'],
        ['/fhir/Patient', JSON.stringify({ resourceType: 'Patient', name: [{ family: 'X', given: Array(20_000).fill('') }] }), '20,000 empty given names'],
        ['/fhir/Patient', JSON.stringify({ ...h.valid.Patient, ...Object.fromEntries(Array.from({ length: 6_000 }, (_, i) => [`zz${i}`, i])) }), '6,000 unknown elements'],
        ['/fhir', JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: Array(MAX_ENTRIES).fill(Array(1_000).fill(0)) }), 'batch entries that are arrays'],
        ['/fhir/ServiceRequest/$claim', JSON.stringify({ resourceType: 'Parameters', parameter: Array(5_000).fill({ name: 'individualNumber', valueInteger: 1 }) }), '5,000 mistyped parameters'],
      ];
      for (const [path, body, label] of cases) {
        const token = path.includes('$claim') ? h.tokens.esms : h.tokens.admin;
        const res = await send({ method: 'POST', path, headers: { ...bearer(token), 'Content-Type': FHIR_JSON }, body });
        if (path === '/fhir' && res.status === 200) expectBatchRefusals(res, label);
        else expectOutcome(res, label, [400]);
      }
    });
  });
});

describe('leap seconds', () => {
  it('answers instants with a leap second (FHIR allows :60) without failing', async () => {
    const cases: [string, Record<string, unknown>][] = [
      ['Organization', { ...(h.valid.Organization as unknown as Record<string, unknown>), identifier: [{ system: 'https://finess.esante.gouv.fr', value: '750008888' }], meta: { lastUpdated: '2016-12-31T23:59:60Z' } }],
      ['Communication', { ...(h.valid.Communication as unknown as Record<string, unknown>), sent: '2016-12-31T23:59:60+01:00' }],
      ['Patient', { ...(h.valid.Patient as unknown as Record<string, unknown>), identifier: undefined, deceasedDateTime: '2016-12-31T23:59:60Z' }],
    ];
    for (const [type, resource] of cases) {
      const request: RawRequest = { method: 'POST', path: `/fhir/${type}`, headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON }, body: JSON.stringify(resource) };
      const res = await send(request);
      if (res.status >= 400) expectOutcome(res, describeRequest(request));
      else expect(res.status, `${describeRequest(request)} → ${res.status} ${res.text.slice(0, 300)}`).toBe(201);
    }
  });
});

describe('invalid FHIR', () => {
  it('refuses resources of every type broken by the base rules with 400: create, update, and in Bundles', async () => {
    const existing: Record<string, string> = {
      Patient: h.ids.patient,
      Organization: 'chu',
      HealthcareService: 'smr',
      Location: h.ids.location,
      Practitioner: h.ids.practitioner,
      PractitionerRole: h.ids.practitionerRole,
      Questionnaire: h.ids.questionnaire,
      ServiceRequest: h.ids.request,
      Task: h.ids.task,
      QuestionnaireResponse: h.ids.volet,
      Communication: h.ids.message,
      DocumentReference: h.ids.documentReference,
      Consent: h.ids.consent,
      Subscription: h.ids.subscription,
      Binary: h.ids.binary,
    };
    expect(Object.keys(existing).sort()).toEqual([...types].sort());
    await unchanged(async () => {
      const arbitrary = fc.constantFrom(...types).chain((type) => fc.tuple(fc.constant(type), invalidResource(h.valid, types, type), fc.constantFrom('create', 'update', 'transaction', 'batch')));
      await fc.assert(
        fc.asyncProperty(arbitrary, async ([type, { label, resource }, asked]) => {
          // A Binary is never updated (PUT is 405): it is created, alone or in a transaction.
          const how = type === 'Binary' ? ({ update: 'create', batch: 'transaction' } as const)[asked as 'update' | 'batch'] ?? asked : asked;
          const headers = { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON };
          const what = `${type}, ${label}, ${how}`;
          if (how === 'create' || how === 'update') {
            const request: RawRequest = how === 'create' ? { method: 'POST', path: `/fhir/${type}`, headers, body: JSON.stringify(resource) } : { method: 'PUT', path: `/fhir/${type}/${existing[type]}`, headers, body: JSON.stringify({ ...resource, ...(label.startsWith('id ') ? {} : { id: existing[type] }) }) };
            expectOutcome(await send(request), `${what}: ${describeRequest(request)}`, [400]);
            return;
          }
          const entry = how === 'transaction' ? { fullUrl: 'urn:uuid:0d9e4d41-3c5e-4f5a-9a57-000000000001', resource, request: { method: 'POST', url: type } } : { resource, request: { method: 'PUT', url: `${type}/${existing[type]}` } };
          const res = await send({ method: 'POST', path: '/fhir', headers, body: JSON.stringify({ resourceType: 'Bundle', type: how, entry: [entry] }) });
          if (how === 'transaction') expectOutcome(res, what, [400]);
          else expectBatchRefusals(res, what, [400]);
        }),
        { seed: SEED, numRuns: 400 }
      );
    });
  });

  it('refuses an id in the body that differs from the URL on PUT: 400', async () => {
    await unchanged(async () => {
      for (const [type, id] of [['Patient', h.ids.patient], ['Organization', 'chu'], ['Task', h.ids.task], ['Communication', h.ids.message]] as const) {
        const current = (await h.t.http.get(`/fhir/${type}/${id}`).set(bearer(h.tokens.admin))).body as Record<string, unknown>;
        for (const other of ['other', `${id}x`, id.toUpperCase() === id ? id.toLowerCase() : id.toUpperCase(), h.ids.otherTask]) {
          if (other === id) continue;
          const request: RawRequest = { method: 'PUT', path: `/fhir/${type}/${id}`, headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON, 'If-Match': `W/"${(current.meta as { versionId: string }).versionId}"` }, body: JSON.stringify({ ...current, id: other }) };
          expectOutcome(await send(request), describeRequest(request), [400]);
        }
      }
    });
  });

  it('refuses days that do not exist in dates that look right, and never fails on them', async () => {
    await unchanged(async () => {
      const patient = h.valid.Patient as unknown as Record<string, unknown>;
      const cases: [string, Record<string, unknown>][] = [];
      for (const day of ['2021-02-29', '2019-04-31', '1940-13-01', '1940-00-10', '1940-01-00', '0000-01-01']) {
        cases.push(['Patient', { ...patient, birthDate: day }]);
        cases.push(['Patient', { ...patient, deceasedDateTime: `${day}T10:00:00Z` }]);
        cases.push(['Organization', { ...(h.valid.Organization as unknown as Record<string, unknown>), meta: { lastUpdated: `${day}T10:00:00Z` } }]);
        cases.push(['Communication', { ...(h.valid.Communication as unknown as Record<string, unknown>), sent: `${day}T10:00:00+01:00` }]);
        cases.push(['Subscription', { ...(h.valid.Subscription as unknown as Record<string, unknown>), end: `${day}T10:00:00Z` }]);
        cases.push(['QuestionnaireResponse', { ...(h.valid.QuestionnaireResponse as unknown as Record<string, unknown>), authored: `${day}T10:00:00Z` }]);
      }
      for (const time of ['24:00:00Z', '23:60:00Z', '10:00:00+14:01', '10:00:00+15:00', '10:00:00-14:30', '10:00:00', '10:00Z', '10:00:00.Z', '10:00:00,5Z']) {
        cases.push(['Communication', { ...(h.valid.Communication as unknown as Record<string, unknown>), sent: `2024-05-01T${time}` }]);
        cases.push(['Organization', { ...(h.valid.Organization as unknown as Record<string, unknown>), meta: { lastUpdated: `2024-05-01T${time}` } }]);
      }
      for (const [type, resource] of cases) {
        const request: RawRequest = { method: 'POST', path: `/fhir/${type}`, headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON }, body: JSON.stringify(resource) };
        expectOutcome(await send(request), describeRequest(request), [400]);
      }
    });
  });
});

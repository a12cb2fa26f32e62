/**
 * Hostile input, part 2: requests. Weird ids, versions and types in every
 * position of the path, malformed percent-encoding, bad If-Match and
 * If-None-Exist, bad batch and transaction Bundles (synchronous and
 * asynchronous), bad calls of the operations ($claim, $remind, $reactivate,
 * $copy, $validate, $indicators, $import-decisions), bad dashboard queries.
 * Every answer must be a 4xx OperationOutcome (never a 5xx), and every table
 * must be as it was (see hostile-kit.ts).
 */
import net from 'node:net';
import fc from 'fast-check';
import type { CapabilityStatement, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asHeader, bearer, expectBatchRefusals, FHIR_JSON, invalidResource, nest, trickyString } from './hostile-fhir.js';
import { describeRequest, encodeAll, expectOutcome, hostileWorld, inParallel, SEED, type Answer, type HostileWorld, type RawRequest } from './hostile-kit.js';

const MAX_IMPORT = 32 * 1024;

let h: HostileWorld;
let types: string[];

beforeAll(async () => {
  h = await hostileWorld({ maxImportBytes: MAX_IMPORT });
  const metadata = (await h.t.http.get('/fhir/metadata')).body as CapabilityStatement;
  // The stored types (those written through the API); the audit trail and the conformance resources are read-only.
  types = (metadata.rest?.[0]?.resource ?? []).filter((r) => r.interaction?.some((i) => i.code === 'create')).map((r) => r.type);
}, 120_000);

afterAll(async () => {
  console.log(`hostile-requests.test.ts: ${h?.client.sent ?? 0} hostile requests sent`);
  await h?.close();
});

/** Runs `fn`, then checks that no table changed (the audit trail aside: refusals only). */
function unchanged(fn: () => Promise<void>): Promise<void> {
  return h.unchanged(fn);
}

function send(request: RawRequest): Promise<Answer> {
  return h.client.send(request);
}

/** A path segment that is no stored id, with all its bytes percent-encoded. */
function weirdSegment(value: string): string | undefined {
  const stored = new Set(['chu', 'smr', 'had', 'usp', 'org-smr', 'org-had', 'org-usp', ...Object.values(h.ids)]);
  return stored.has(value) ? undefined : encodeAll(value);
}

/** Writes raw bytes on a fresh connection and reads the answer until the server closes it. */
function sendRaw(bytes: string): Promise<{ status: number; headers: string; body: unknown }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(h.client.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      const body = text.slice(end + 4);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0), headers: text.slice(0, end), body: body ? JSON.parse(body) : undefined });
    });
    socket.end(bytes);
  });
}

describe('requests the HTTP parser refuses', () => {
  it('answer with an OperationOutcome and the status Node would give', async () => {
    await unchanged(async () => {
      const refusals: [string, number][] = [
        ['GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n', 400],
        ['HELLO\r\n\r\n', 400],
        ['GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400],
        [`GET /fhir/Patient HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
      ];
      for (const [bytes, status] of refusals) {
        const res = await sendRaw(bytes);
        expect(res.status, bytes.slice(0, 60)).toBe(status);
        expect(res.headers).toMatch(/^Content-Type: application\/fhir\+json/im);
        expect((res.body as OperationOutcome).resourceType).toBe('OperationOutcome');
        expect((res.body as OperationOutcome).issue[0].severity).toBe('error');
      }
    });
  });
});

describe('ids and paths', () => {
  it('refuses weird ids, versions and types in every position of the path with a 4xx', async () => {
    await unchanged(async () => {
      const methods = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'];
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...types), trickyString, fc.constantFrom(...methods), fc.nat({ max: 6 }), async (type, value, method, shape) => {
          const weird = weirdSegment(value);
          if (weird === undefined) return;
          // A version of digits only is a real version: vread answers it.
          if (shape === 1 && /^\/*\d+(\/|$)/.test(value)) return;
          // A valid id is no weird id: a PUT to a directory type (client-chosen ids) creates it, as it should.
          if (method === 'PUT' && /^[A-Za-z0-9\-.]{1,64}$/.test(value)) return;
          const paths = [
            `/fhir/${type}/${weird}`,
            `/fhir/${type}/${h.ids.patient}/_history/${weird}`,
            `/fhir/${type}/${weird}/_history`,
            `/fhir/${type}/${weird}/$remind`,
            `/fhir/_async/${weird}`,
            `/fhir/_import/${weird}`,
            `/fhir/${weird}`,
          ];
          const path = paths[shape];
          // The base and the known top-level paths are not weird.
          if (shape === 6 && (types.includes(value) || ['', 'metadata', '$indicators', '$import-decisions', '/'].includes(value.replace(/^\/+|\/+$/g, '')))) return;
          const request: RawRequest = { method, path, headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON }, body: method === 'PUT' || method === 'POST' || method === 'PATCH' ? JSON.stringify(h.valid[type]) : undefined };
          expectOutcome(await send(request), describeRequest(request));
        }),
        { seed: SEED, numRuns: 500 }
      );
    });
  });

  it('refuses unknown and unsupported resource types with 404 (or another 4xx)', async () => {
    await unchanged(async () => {
      const unknown = ['Observation', 'Spaceship', 'patient', 'PATIENT', 'Patient_', 'Patients', 'Bundle', 'OperationOutcome', 'Parameters', 'CapabilityStatement', 'Resource', 'DomainResource', 'Zz'];
      expect(unknown.filter((type) => types.includes(type))).toEqual([]);
      const requests: RawRequest[] = [];
      for (const type of unknown) {
        const body = JSON.stringify({ resourceType: type });
        requests.push(
          { method: 'GET', path: `/fhir/${type}`, headers: bearer(h.tokens.admin) },
          { method: 'GET', path: `/fhir/${type}/x`, headers: bearer(h.tokens.admin) },
          { method: 'GET', path: `/fhir/${type}/_history`, headers: bearer(h.tokens.admin) },
          { method: 'POST', path: `/fhir/${type}`, headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON }, body },
          { method: 'PUT', path: `/fhir/${type}/x`, headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON }, body: JSON.stringify({ resourceType: type, id: 'x' }) },
          { method: 'POST', path: `/fhir/${type}/$validate`, headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON }, body }
        );
      }
      await inParallel(requests, 4, async (request) => expectOutcome(await send(request), describeRequest(request), /^[A-Z][A-Za-z]+$/.test(request.path.split('/')[2]) ? [404] : undefined));
    });
  });

  it('refuses malformed percent-encoding, dot segments and encoded separators with a 4xx', async () => {
    await unchanged(async () => {
      const paths = [
        '/fhir/Patient/%',
        '/fhir/Patient/%E0%A4%A',
        '/fhir/Patient/%ZZ',
        '/fhir/%',
        '/fhir/%25',
        '/fhir/Patient/%C0%AF',
        '/fhir/Patient/%ED%A0%80',
        '/fhir/Patient/%FF%FE',
        '/fhir/Patient/%00',
        '/fhir/Patient/%2F',
        '/fhir/Patient/%2F%2F',
        `/fhir/Patient%2F${h.ids.patient}%2F_history%2F%',`,
        '/fhir/Patient/a%2Fb',
        '/fhir/Patient/..',
        '/fhir/Patient/%2e%2e',
        '/fhir/Patient/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
        '/fhir/..%2F..%2Fetc%2Fpasswd',
        '/fhir//Patient//x//',
        `/fhir/Patient/${h.ids.patient}/_history/%`,
        `/fhir/Patient/${h.ids.patient}/_history/1/extra`,
        `/fhir/Patient/${h.ids.patient}/_history/99999999999`,
        `/fhir/Patient/${h.ids.patient}/_history/-1`,
        `/fhir/Patient/${h.ids.patient}/_history/0`,
        `/fhir/Patient/${h.ids.patient}/$`,
        `/fhir/Patient/${h.ids.patient}/$%`,
        '/fhir/Patient/$%',
        '/fhir/$',
        '/fhir/$everything',
        '/fhir/_history',
        '/fhir/Patient/_history/1',
        '/fhir/metadata/x',
        `/fhir/Patient/${'x'.repeat(6_000)}`,
        '/dashboard/%',
        '/dashboard/tasks/%',
        '/oauth2/%',
        '/%',
      ];
      const requests: RawRequest[] = [];
      for (const path of paths) for (const method of ['GET', 'POST', 'PUT']) requests.push({ method, path, headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON }, body: method === 'GET' ? undefined : JSON.stringify(h.valid.Patient) });
      await inParallel(requests, 4, async (request) => {
        const res = await send(request);
        // The token endpoint answers as OAuth2 does; everything else with an OperationOutcome.
        if (request.path.startsWith('/oauth2/') && request.method === 'POST') expect(res.status, describeRequest(request)).toBeLessThan(500);
        else expectOutcome(res, describeRequest(request));
      });
    });
  });
});

describe('conditional headers', () => {
  it('refuses a bad or stale If-Match with 400 or 412, and changes nothing', async () => {
    const current = (await h.t.http.get(`/fhir/Patient/${h.ids.patient}`).set(bearer(h.tokens.admin))).body as { meta: { versionId: string } };
    const version = Number(current.meta.versionId);
    const changed = JSON.stringify({ ...current, gender: 'other' });
    // What the gateway reads as the current version (W/"n", "n" or n) would let the update through.
    const isCurrent = (tag: string): boolean => {
      const m = /^(?:W\/)?"?(\d{1,9})"?$/.exec(tag.trim());
      return !!m && Number(m[1]) === version;
    };
    await unchanged(async () => {
      const fixed = ['W/"abc"', '"', 'W/', '*', 'W/"*"', '1,2', `W/"${version}", W/"${version + 1}"`, '99999999999', `W/"${version + 1}"`, 'W/"0"', '-1', 'W/"-1"', `"${version}`, `W/"${version}"garbage`, 'é', 'x'.repeat(4_000), `W/"${version}"; DROP TABLE patient`, '0x1', '1e2', ' ', '', 'W/"٣"', 'W/"１"'];
      const headerSafe = fc.string({ unit: fc.oneof(fc.constantFrom('W', '/', '"', ' ', '\t', ',', '*', 'é'), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }), fc.integer({ min: 0, max: 9 }).map(String)), maxLength: 20 });
      const tags = [...fixed, ...fc.sample(headerSafe, { seed: SEED, numRuns: 120 })].filter((tag) => !isCurrent(tag));
      await inParallel(tags, 4, async (tag) => {
        const request: RawRequest = { method: 'PUT', path: `/fhir/Patient/${h.ids.patient}`, headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON, 'If-Match': asHeader(tag) }, body: changed };
        expectOutcome(await send(request), `If-Match ${JSON.stringify(tag)}`, [400, 412]);
      });
    });
  });

  it('refuses bad If-None-Exist criteria (400), or several matches (412), and stores nothing', async () => {
    await unchanged(async () => {
      const fixed: [string, number][] = [
        ['', 400],
        ['?', 400],
        ['Patient?', 400],
        ['&&&', 400],
        ['foo=bar', 400],
        ['identifier', 400],
        ['_count=abc', 400],
        ['_count=5', 400],
        ['_sort=colour', 400],
        ['_cursor=garbage', 400],
        ['_include=Patient:nothing', 400],
        ['birthdate=2020-13-45', 400],
        ['birthdate=ge99999-99-99', 400],
        ['_lastUpdated=2020-01-01T10:00:00+99:00', 400],
        ['Organization?name=x', 400],
        ['name:exact=Dupont', 400],
        ['identifier=%00', 400],
        ['identifier:below=x', 400],
        ['active=maybe', 400],
        [`_id=${Array(101).fill('x').join(',')}`, 400],
        ['birthdate=ge1900', 412],
        ['gender=female,male', 412],
      ];
      const fuzzed = fc.sample(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 }), { seed: SEED, numRuns: 80 }).map((name): [string, number] => [`zz${name.replace(/[=&#]/g, '')}=1`, 400]);
      await inParallel([...fixed, ...fuzzed], 4, async ([criteria, status]) => {
        const request: RawRequest = { method: 'POST', path: '/fhir/Patient', headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON, 'If-None-Exist': criteria }, body: JSON.stringify(h.valid.Patient) };
        expectOutcome(await send(request), `If-None-Exist ${JSON.stringify(criteria)}`, [status]);
      });
    });
  });
});

const UUID = (n: number): string => `urn:uuid:00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** Bad Bundles whose entries are each valid on their own: only a transaction refuses them (as a whole). */
const TRANSACTION_ONLY = new Set(['a reference to an urn no entry has', 'a cycle of references and one bad entry', 'a resource referring to itself, and a bad entry', 'duplicate fullUrls']);

describe('Bundles', () => {
  /** Entries every one of which must be refused. */
  function badEntries(): [string, unknown[]][] {
    const patient = h.valid.Patient;
    const linked = (self: number, other: number): object => ({ ...patient, link: [{ other: { reference: UUID(other) }, type: 'seealso' }], id: undefined, identifier: undefined, name: [{ family: `Cycle${self}` }] });
    return [
      ['an entry without request', [{ resource: patient }]],
      ['null entries', [null]],
      ['entries that are not objects', [1, 'x', [], true]],
      ['an empty entry', [{}]],
      ['DELETE', [{ request: { method: 'DELETE', url: `Patient/${h.ids.patient}` } }]],
      ['PATCH', [{ resource: patient, request: { method: 'PATCH', url: `Patient/${h.ids.patient}` } }]],
      ['HEAD', [{ request: { method: 'HEAD', url: 'Patient' } }]],
      ['a lower-case method', [{ resource: patient, request: { method: 'post', url: 'Patient' } }]],
      ['an empty url', [{ resource: patient, request: { method: 'POST', url: '' } }]],
      ['an unknown type', [{ resource: { resourceType: 'Spaceship' }, request: { method: 'POST', url: 'Spaceship' } }]],
      ['a POST to an instance', [{ resource: patient, request: { method: 'POST', url: `Patient/${h.ids.patient}` } }]],
      ['a POST with a query', [{ resource: patient, request: { method: 'POST', url: "Patient?_id=x'--" } }]],
      ['a PUT to the type', [{ resource: patient, request: { method: 'PUT', url: 'Patient' } }]],
      ['a PUT with dot segments', [{ resource: patient, request: { method: 'PUT', url: 'Patient/../Organization/chu' } }]],
      ['an absolute url elsewhere', [{ resource: patient, request: { method: 'POST', url: 'http://evil.example/fhir/Patient' } }]],
      ['a resource of another type than the url', [{ resource: h.valid.Organization, request: { method: 'POST', url: 'Patient' } }]],
      ['a POST without resource', [{ request: { method: 'POST', url: 'Patient' } }]],
      ['a nested Bundle', [{ resource: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patient, request: { method: 'POST', url: 'Patient' } }] }, request: { method: 'POST', url: 'Bundle' } }]],
      ['a GET of a weird path', [{ request: { method: 'GET', url: "Patient/x'--" } }, { request: { method: 'GET', url: 'Patient?colour=blue' } }, { request: { method: 'GET', url: '$everything' } }]],
      ['bad If-Match', [{ resource: { ...patient, id: h.ids.patient }, request: { method: 'PUT', url: `Patient/${h.ids.patient}`, ifMatch: 'W/"abc"' } }]],
      ['bad If-None-Exist', [{ resource: patient, request: { method: 'POST', url: 'Patient', ifNoneExist: 'colour=blue' } }]],
      ['a reference to an urn no entry has', [{ fullUrl: UUID(1), resource: { ...patient, link: [{ other: { reference: UUID(99) }, type: 'seealso' }] }, request: { method: 'POST', url: 'Patient' } }]],
      [
        'a cycle of references and one bad entry',
        [
          { fullUrl: UUID(1), resource: linked(1, 2), request: { method: 'POST', url: 'Patient' } },
          { fullUrl: UUID(2), resource: linked(2, 1), request: { method: 'POST', url: 'Patient' } },
          { fullUrl: UUID(3), resource: { ...patient, gender: 'robot' }, request: { method: 'POST', url: 'Patient' } },
        ],
      ],
      [
        'a resource referring to itself, and a bad entry',
        [
          { fullUrl: UUID(1), resource: linked(1, 1), request: { method: 'POST', url: 'Patient' } },
          { fullUrl: UUID(2), resource: { resourceType: 'Patient', birthDate: '2021-02-29' }, request: { method: 'POST', url: 'Patient' } },
        ],
      ],
      [
        'duplicate fullUrls',
        [
          { fullUrl: UUID(1), resource: patient, request: { method: 'POST', url: 'Patient' } },
          { fullUrl: UUID(1), resource: patient, request: { method: 'POST', url: 'Patient' } },
        ],
      ],
      ['a weird fullUrl', [{ fullUrl: "urn:uuid:'; DROP TABLE patient; --", resource: { ...patient, gender: 7 }, request: { method: 'POST', url: 'Patient' } }]],
      ['a NUL in a resource', [{ resource: { ...patient, name: [{ family: 'Nul\u0000' }] }, request: { method: 'POST', url: 'Patient' } }]],
      ['a lone surrogate in a resource', [{ resource: { ...patient, name: [{ family: 'Half\ud800' }] }, request: { method: 'POST', url: 'Patient' } }]],
      ['a lone surrogate in a url', [{ resource: patient, request: { method: 'PUT', url: 'Patient/\udc00' } }]],
    ];
  }

  it('refuses bad transactions with a 4xx and stores none of their entries', async () => {
    await unchanged(async () => {
      for (const [label, entry] of badEntries()) {
        const request: RawRequest = { method: 'POST', path: '/fhir', headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON }, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }) };
        expectOutcome(await send(request), `transaction with ${label}`);
      }
    });
  });

  it('answers a bad batch with a 4xx for each entry (or for the whole), storing none', async () => {
    await unchanged(async () => {
      for (const [label, entry] of badEntries()) {
        // Entries valid on their own: a batch does not resolve urn: references between entries, and runs each.
        if (TRANSACTION_ONLY.has(label)) continue;
        const request: RawRequest = { method: 'POST', path: '/fhir', headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON }, body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry }) };
        const res = await send(request);
        if (res.status === 200) expectBatchRefusals(res, `batch with ${label}`);
        else expectOutcome(res, `batch with ${label}`);
      }
    });
  });

  it('refuses what is not a batch or transaction Bundle, synchronous or asynchronous, with a 4xx', async () => {
    await unchanged(async () => {
      const bodies: [string, unknown][] = [
        ['a Patient', h.valid.Patient],
        ['a searchset', { resourceType: 'Bundle', type: 'searchset', entry: [] }],
        ['a collection', { resourceType: 'Bundle', type: 'collection', entry: [{ resource: h.valid.Patient }] }],
        ['a document', { resourceType: 'Bundle', type: 'document' }],
        ['a Bundle without type', { resourceType: 'Bundle', entry: [] }],
        ['a Bundle of type ""', { resourceType: 'Bundle', type: '' }],
        ['a Bundle of type 7', { resourceType: 'Bundle', type: 7 }],
        ['entry as an object', { resourceType: 'Bundle', type: 'batch', entry: { 0: { request: { method: 'GET', url: 'Patient' } } } }],
        ['entry as a string', { resourceType: 'Bundle', type: 'transaction', entry: 'all of them' }],
        ['a NUL deep inside', { resourceType: 'Bundle', type: 'batch', entry: [{ resource: { ...h.valid.Patient, name: [{ family: 'x\u0000' }] }, request: { method: 'POST', url: 'Patient' } }] }],
        ['a lone surrogate deep inside', { resourceType: 'Bundle', type: 'batch', entry: [{ resource: { ...h.valid.Patient, name: [{ family: 'x\ud800' }] }, request: { method: 'POST', url: 'Patient' } }] }],
        ['a lone surrogate in a key', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: h.valid.Patient, request: { method: 'POST', url: 'Patient' }, '\udfff': 1 }] }],
      ];
      for (const [label, body] of bodies) {
        for (const prefer of [undefined, 'respond-async']) {
          const request: RawRequest = { method: 'POST', path: '/fhir', headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON, Prefer: prefer }, body: JSON.stringify(body) };
          const res = await send(request);
          const what = `${label}${prefer ? ' (async)' : ''}`;
          if (res.status === 200 && !prefer) expectBatchRefusals(res, what);
          else expectOutcome(res, what);
        }
      }
      const anonymous: RawRequest = { method: 'POST', path: '/fhir', headers: { 'Content-Type': FHIR_JSON, Prefer: 'respond-async' }, body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [] }) };
      expectOutcome(await send(anonymous), 'an anonymous async Bundle', [401]);
    });
  });

  it('refuses random Bundles of bad entries: transactions with a 4xx, batches entry by entry', async () => {
    await unchanged(async () => {
      const junkResource = fc.oneof(
        fc.constantFrom(...types).chain((type) => invalidResource(h.valid, types, type).map((r) => r.resource as unknown)),
        fc.jsonValue({ maxDepth: 3 })
      );
      const entry = fc.record(
        {
          fullUrl: fc.oneof(fc.constantFrom(UUID(1), UUID(2), 'urn:uuid:x', ''), trickyString),
          resource: junkResource,
          request: fc.record({ method: fc.constantFrom('POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', '', 'post', 'OPTIONS', 7), url: fc.oneof(fc.constantFrom(...types), trickyString), ifMatch: trickyString, ifNoneExist: trickyString }, { requiredKeys: ['method', 'url'] }),
        },
        { requiredKeys: [] }
      );
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('batch', 'transaction'), fc.array(entry, { minLength: 1, maxLength: 4 }), async (type, entries) => {
          const request: RawRequest = { method: 'POST', path: '/fhir', headers: { ...bearer(h.tokens.admin), 'Content-Type': FHIR_JSON }, body: JSON.stringify({ resourceType: 'Bundle', type, entry: entries }) };
          const res = await send(request);
          if (type === 'batch' && res.status === 200) expectBatchRefusals(res, describeRequest(request));
          else expectOutcome(res, describeRequest(request));
        }),
        { seed: SEED, numRuns: 250 }
      );
    });
  });
});

/** A Parameters resource. */
function parameters(...parameter: unknown[]): object {
  return { resourceType: 'Parameters', parameter };
}

describe('operations', () => {
  it('refuses bad calls of $claim, $remind, $reactivate, $copy, $validate and unknown operations with a 4xx', async () => {
    await unchanged(async () => {
      const { tokens, ids } = h;
      const claim = (body: unknown, token = tokens.esms, method = 'POST'): RawRequest => ({ method, path: '/fhir/ServiceRequest/$claim', headers: { ...bearer(token), 'Content-Type': FHIR_JSON }, body: method === 'GET' ? undefined : JSON.stringify(body) });
      const op = (path: string, body: unknown, token: string, method = 'POST'): RawRequest => ({ method, path, headers: { ...bearer(token), 'Content-Type': FHIR_JSON }, body: method === 'GET' ? undefined : JSON.stringify(body) });
      const person = (birthDate: unknown, individual: unknown = 'I001'): object => parameters({ name: 'individualNumber', valueString: individual }, { name: 'birthDate', valueDate: birthDate });
      const cases: [string, RawRequest, number[]?][] = [
        ['$claim without body', { method: 'POST', path: '/fhir/ServiceRequest/$claim', headers: bearer(tokens.esms) }, [400, 415]],
        ['$claim with GET', claim(undefined, tokens.esms, 'GET'), [405]],
        ['$claim with a Patient', claim(h.valid.Patient), [400]],
        ['$claim with parameter not a list', claim({ resourceType: 'Parameters', parameter: { name: 'x' } }), [400]],
        ['$claim with unnamed parameters', claim(parameters({ valueString: 'x' }, 7)), [400]],
        ['$claim without birthDate', claim(parameters({ name: 'individualNumber', valueString: 'I001' })), [400]],
        ['$claim with an integer individual', claim(person('2010-04-12', 42)), [400]],
        ['$claim with an empty individual', claim(person('2010-04-12', '')), [400]],
        ['$claim with a NUL individual', claim(person('2010-04-12', 'I0\u000001')), [400]],
        ['$claim with a lone surrogate', claim(person('2010-04-12', 'I\ud800')), [400]],
        ['$claim with SQL in the individual', claim(person('2010-04-12', "I001' OR '1'='1")), [404]],
        ['$claim with SQL in the department', claim(parameters({ name: 'individualNumber', valueString: 'I001' }, { name: 'birthDate', valueDate: '2010-04-12' }, { name: 'department', valueString: "75' OR '1'='1" })), [404]],
        ['$claim with a wrong pair', claim(person('2010-04-13')), [404]],
        ...['2020-02-30', '2021-02-29', '99999-99-99', '2020-13-45', '', 'T', '2010', '2010-04', '12/04/2010', '2010-04-12T00:00:00Z', 20100412, null].map((d): [string, RawRequest, number[]] => [`$claim with birthDate ${JSON.stringify(d)}`, claim(person(d)), [400]]),
        ['$claim by a prescriber', claim(person('2010-04-12'), tokens.prescriber), [403]],
        ['$claim without token', { ...claim(person('2010-04-12')), headers: { 'Content-Type': FHIR_JSON } }, [401]],
        ['$remind with GET', op(`/fhir/Task/${ids.task}/$remind`, undefined, tokens.prescriber, 'GET'), [405]],
        ['$remind too early', op(`/fhir/Task/${ids.task}/$remind`, parameters(), tokens.prescriber), [409]],
        ['$remind with an empty message', op(`/fhir/Task/${ids.task}/$remind`, parameters({ name: 'message', valueString: ' ' }), tokens.prescriber), [400]],
        ['$remind with an integer message', op(`/fhir/Task/${ids.task}/$remind`, parameters({ name: 'message', valueInteger: 1 }), tokens.prescriber), [400]],
        ['$remind with a NUL message', op(`/fhir/Task/${ids.task}/$remind`, parameters({ name: 'message', valueString: 'a\u0000' }), tokens.prescriber), [400]],
        ['$remind with a Patient body', op(`/fhir/Task/${ids.task}/$remind`, h.valid.Patient, tokens.prescriber), [400]],
        ['$remind of an unknown task', op('/fhir/Task/nope/$remind', parameters(), tokens.prescriber), [404]],
        ['$remind of a weird task', op(`/fhir/Task/${encodeAll("x';--")}/$remind`, parameters(), tokens.prescriber), [400]],
        ['$remind by a stranger', op(`/fhir/Task/${ids.task}/$remind`, parameters(), tokens.esms), [403, 404]],
        ['$remind on a ServiceRequest', op(`/fhir/ServiceRequest/${ids.request}/$remind`, parameters(), tokens.prescriber), [404]],
        ['$reactivate of a request that is not cancelled', op(`/fhir/ServiceRequest/${ids.request}/$reactivate`, parameters(), tokens.prescriber), [409]],
        ['$reactivate with a string body', op(`/fhir/ServiceRequest/${ids.request}/$reactivate`, 'please', tokens.prescriber), [400]],
        ['$reactivate of a decision', op(`/fhir/ServiceRequest/${ids.decision}/$reactivate`, parameters(), tokens.prescriber), [403, 404, 409]],
        ['$reactivate on a Task', op(`/fhir/Task/${ids.task}/$reactivate`, parameters(), tokens.prescriber), [404]],
        ['$copy without performer', op(`/fhir/ServiceRequest/${ids.request}/$copy`, parameters(), tokens.prescriber), [400, 422]],
        ['$copy with a string performer', op(`/fhir/ServiceRequest/${ids.request}/$copy`, parameters({ name: 'performer', valueString: 'HealthcareService/smr' }), tokens.prescriber), [400]],
        ['$copy with a reference to nothing', op(`/fhir/ServiceRequest/${ids.request}/$copy`, parameters({ name: 'performer', valueReference: { reference: 'HealthcareService/nope' } }), tokens.prescriber), [400, 404, 422]],
        ['$copy with a weird reference', op(`/fhir/ServiceRequest/${ids.request}/$copy`, parameters({ name: 'performer', valueReference: { reference: "HealthcareService/x';--" } }), tokens.prescriber), [400, 404, 422]],
        ['$copy with a reference to a patient', op(`/fhir/ServiceRequest/${ids.request}/$copy`, parameters({ name: 'performer', valueReference: { reference: `Patient/${ids.patient}` } }), tokens.prescriber), [400, 422]],
        ['$copy of a request of another organization', op(`/fhir/ServiceRequest/${ids.request}/$copy`, parameters({ name: 'performer', valueReference: { reference: 'HealthcareService/usp' } }), tokens.unit), [403, 404]],
        ['$copy of nothing', op('/fhir/ServiceRequest/nope/$copy', parameters({ name: 'performer', valueReference: { reference: 'HealthcareService/usp' } }), tokens.prescriber), [404]],
        ['$copy without token', { ...op(`/fhir/ServiceRequest/${ids.request}/$copy`, parameters(), tokens.prescriber), headers: { 'Content-Type': FHIR_JSON } }, [401]],
        ['$validate of a Parameters without resource', op('/fhir/Patient/$validate', parameters({ name: 'x', valueString: 'y' }), tokens.admin), [400]],
        ['$validate of an unknown type', op('/fhir/Spaceship/$validate', h.valid.Patient, tokens.admin), [404]],
        ['$everything', op(`/fhir/Patient/${ids.patient}/$everything`, parameters(), tokens.admin), [404]],
        ['$meta', op('/fhir/Patient/$meta', parameters(), tokens.admin), [404]],
        ['$', op('/fhir/Patient/$', parameters(), tokens.admin), [404]],
      ];
      await inParallel(cases, 3, async ([label, request, statuses]) => expectOutcome(await send(request), `${label}: ${describeRequest(request)}`, statuses));
    });
  });

  it('refuses bad $indicators queries with a 4xx', async () => {
    await unchanged(async () => {
      const get = (query: string, token: string | null = h.tokens.mdph, method = 'GET'): RawRequest => ({ method, path: `/fhir/$indicators${query}`, headers: token ? bearer(token) : {} });
      const cases: [RawRequest, number[]][] = [
        [get('?department=x'), [400]],
        [get(`?department=${encodeAll("75' OR '1'='1")}`), [400]],
        [get('?department=7500'), [400]],
        [get('?category=abc'), [400]],
        [get('?category=12345'), [400]],
        [get('?colour=blue'), [400]],
        [get('?department=13'), [403]],
        [get('', h.tokens.prescriber), [403]],
        [get('', null), [401]],
        [{ ...get(''), method: 'POST', headers: { ...bearer(h.tokens.mdph), 'Content-Type': FHIR_JSON }, body: '{}' }, [405]],
        [get('?_format=xml'), [400, 406]],
        [get('?department=%00'), [400]],
      ];
      for (const value of fc.sample(trickyString, { seed: SEED, numRuns: 40 })) cases.push([get(`?department=${encodeAll(value)}`, h.tokens.admin), [400]], [get(`?category=${encodeAll(value)}`, h.tokens.admin), [400]]);
      await inParallel(cases, 3, async ([request, statuses]) => expectOutcome(await send(request), describeRequest(request), statuses));
    });
  });

  it('refuses bad $import-decisions calls with a 4xx, storing no import', async () => {
    await unchanged(async () => {
      const csv = 'numero_individu;date_naissance;nom\nI009;2001-01-01;Nom\n';
      const upload = (headers: Record<string, string | undefined>, body: string | Uint8Array | undefined, query = '', chunked = false): RawRequest => ({ method: 'POST', path: `/fhir/$import-decisions${query}`, headers, body, chunked, fresh: true });
      const mdph = { ...bearer(h.tokens.mdph), Prefer: 'respond-async' };
      const cases: [string, RawRequest, number[]][] = [
        ['no Prefer', upload({ ...bearer(h.tokens.mdph), 'Content-Type': 'text/csv' }, csv), [400]],
        ['a wrong content type', upload({ ...mdph, 'Content-Type': 'application/xml' }, csv), [415]],
        ['no content type', upload(mdph, Buffer.from(csv)), [415]],
        ['no token', upload({ 'Content-Type': 'text/csv', Prefer: 'respond-async' }, csv), [401]],
        ['a prescriber', upload({ ...bearer(h.tokens.prescriber), 'Content-Type': 'text/csv', Prefer: 'respond-async' }, csv), [403]],
        ['another department', upload({ ...mdph, 'Content-Type': 'text/csv' }, csv, '?mdph=13'), [403]],
        ['a weird department', upload({ ...mdph, 'Content-Type': 'text/csv' }, csv, `?mdph=${encodeAll("75';--")}`), [400]],
        ['an admin without department', upload({ ...bearer(h.tokens.admin), Prefer: 'respond-async', 'Content-Type': 'text/csv' }, csv), [400]],
        ['an empty file', upload({ ...mdph, 'Content-Type': 'text/csv' }, ''), [400]],
        ['a file over the limit', upload({ ...mdph, 'Content-Type': 'text/csv' }, 'x;'.repeat(MAX_IMPORT)), [413]],
        ['a chunked file over the limit', upload({ ...mdph, 'Content-Type': 'text/csv' }, 'x;'.repeat(MAX_IMPORT), '', true), [413]],
        ['malformed JSON', upload({ ...mdph, 'Content-Type': FHIR_JSON }, '{"resourceType":"Bundle",'), [400]],
        ['JSON that is not a Bundle', upload({ ...mdph, 'Content-Type': FHIR_JSON }, JSON.stringify(h.valid.Patient)), [400]],
        ['a Bundle without decisions', upload({ ...mdph, 'Content-Type': FHIR_JSON }, JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: h.valid.Patient }] })), [400]],
        ['an invalid Bundle', upload({ ...mdph, 'Content-Type': FHIR_JSON }, JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'ServiceRequest', status: 7 } }] })), [400]],
        ['a Bundle with a NUL', upload({ ...mdph, 'Content-Type': FHIR_JSON }, JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: 'Patient/x\u0000' } } }] })), [400]],
        ['a deeply nested Bundle', upload({ ...mdph, 'Content-Type': FHIR_JSON }, `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","extension":[${nest('{"url":"http://x.org/x","extension":[', '{"url":"http://x.org/x","valueString":"x"}', ']}', 500)}]}}]}`), [400]],
        ['a Bundle over the limit', upload({ ...mdph, 'Content-Type': FHIR_JSON }, JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { ...h.valid.Patient, text: { status: 'generated', div: `<div>${'x'.repeat(MAX_IMPORT)}</div>` } } }] })), [413]],
      ];
      for (const [label, request, statuses] of cases) expectOutcome(await send(request), `$import-decisions, ${label}`, statuses);
    });
  });
});

describe('dashboard', () => {
  it('refuses bad dashboard queries (400, 401, 403, 406) and treats search text as data', async () => {
    await unchanged(async () => {
      const get = (query: string, token: string | null = h.tokens.unit, accept?: string): RawRequest => ({ method: 'GET', path: `/dashboard/tasks${query}`, headers: { ...(token ? bearer(token) : {}), Accept: accept } });
      const cases: [RawRequest, number[]][] = [
        [get('?view=everything'), [400]],
        [get('?view='), [400]],
        [get(`?view=${encodeAll("unit' OR '1'='1")}`), [400]],
        [get('?section=all'), [400]],
        [get('?section=%00'), [400]],
        [get('?format=pdf'), [406]],
        [get('?format=csv%00'), [406]],
        [get('?_count=-1'), [400]],
        [get('?_count=1e3'), [400]],
        [get('?_count=9999999999'), [400]],
        [get('?_count='), [400]],
        [get('?colour=blue'), [400]],
        [get('?view=prescriber'), [403]],
        [get('', h.tokens.ror), [403]],
        [get('', h.tokens.esms), [403]],
        [get('', null), [401]],
        [get('?format=docx', h.tokens.unit, 'text/csv'), [406]],
      ];
      for (const value of fc.sample(trickyString, { seed: SEED, numRuns: 60 })) {
        cases.push([get(`?view=${encodeAll(`x${value}`)}`), [400]], [get(`?section=${encodeAll(`x${value}`)}`), [400]], [get(`?format=${encodeAll(`x${value}`)}`), [406]]);
      }
      await inParallel(cases, 4, async ([request, statuses]) => expectOutcome(await send(request), describeRequest(request), statuses));

      // Search text is data: a unit with tasks finds none under a name or request number made of SQL or LIKE syntax.
      const all = await send(get(''));
      expect(all.status).toBe(200);
      expect(all.body.count, 'the unit has tasks to leak').toBeGreaterThan(0);
      // (A name made only of spaces and hyphens has no word to look for: it filters nothing.)
      const texts = ["' OR '1'='1", "%' OR 1=1 --", '%', '_', '\\', '%%', '__%', '\\%', "x'); DROP TABLE task; --", '"', '*', '.*', '$1', ...fc.sample(fc.string({ unit: fc.constantFrom("'", '%', '_', '\\', '"', ';', '-', '|'), minLength: 1, maxLength: 8 }), { seed: SEED, numRuns: 40 })].filter((text) => !/^[\s-]*$/.test(text));
      await inParallel(texts, 4, async (text) => {
        for (const param of ['name', 'request']) {
          for (const format of ['json', 'csv']) {
            const res = await send(get(`?${param}=${encodeAll(text)}&format=${format}`));
            expect(res.status, `${param}=${text} (${format}) → ${res.status} ${res.text.slice(0, 200)}`).toBe(200);
            if (format === 'json') expect(res.body.count, `${param}=${text}`).toBe(0);
            else expect(res.text.trim().split('\r\n'), `${param}=${text}`).toHaveLength(1);
          }
        }
      });
    });
  });
});

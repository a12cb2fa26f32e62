/**
 * Hostile input, part 2: search. Every search parameter of every type, as the
 * CapabilityStatement lists them (so a new parameter is covered the day it is
 * declared), with SQL metacharacters, LIKE wildcards, escapes, NUL, lone
 * surrogates, bidi overrides, combining marks and very long values; modifiers
 * that exist and that do not; unknown parameters (strict and lenient
 * handling); absurd `_count`, `_sort`, `_include`, `_total`, `_cursor`, dates,
 * `_lastUpdated` and `_since`. A search answers a searchset Bundle or a 4xx
 * OperationOutcome, never a 5xx; a value that is only syntax (quotes,
 * wildcards) matches nothing; and nothing is stored.
 */
import fc from 'fast-check';
import type { CapabilityStatement } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRequest, encodeAll, expectOutcome, hostileWorld, inParallel, searchMatches, SEED, type Answer, type HostileWorld, type RawRequest } from './hostile-kit.js';

let h: HostileWorld;
/** Per type, its search parameters (name and FHIR type), from the CapabilityStatement. */
let params: { type: string; name: string; kind: string }[];

beforeAll(async () => {
  h = await hostileWorld();
  const metadata = (await h.t.http.get('/fhir/metadata')).body as CapabilityStatement;
  params = (metadata.rest?.[0]?.resource ?? []).flatMap((r) => (r.searchParam ?? []).map((p) => ({ type: r.type, name: p.name, kind: p.type })));
}, 120_000);

afterAll(async () => {
  console.log(`hostile-search.test.ts: ${h?.client.sent ?? 0} hostile requests sent`);
  await h?.close();
});

function search(type: string, query: string, headers: Record<string, string> = {}): RawRequest {
  return { method: 'GET', path: `/fhir/${type}?${query}`, headers: { Authorization: `Bearer ${h.tokens.admin}`, ...headers } };
}

function searchByPost(type: string, form: string): RawRequest {
  return { method: 'POST', path: `/fhir/${type}/_search`, headers: { Authorization: `Bearer ${h.tokens.admin}`, 'Content-Type': 'application/x-www-form-urlencoded' }, body: form };
}

/** A search answer: a searchset Bundle (with no match when `empty`), or a 4xx OperationOutcome. */
function expectSearchOrOutcome(res: Answer, what: string, empty: boolean): void {
  if (res.status === 200) {
    const matches = searchMatches(res, what);
    if (empty) expect(matches, `${what}: syntax matched data`).toEqual([]);
  } else {
    expectOutcome(res, what);
  }
}

/**
 * Values that are nothing but syntax: quotes, SQL, LIKE wildcards and
 * escapes, NUL, lone surrogates, bidi overrides, combining marks, long
 * strings. None is (the start of) any stored value, so as data they match
 * nothing; as code they would match everything.
 */
const SYNTAX = [
  "'",
  "''",
  "' OR '1'='1",
  "' OR 1=1 --",
  '1; DROP TABLE patient; --',
  '%',
  '_',
  '__%',
  '\\',
  '\\%',
  '%\\',
  '"',
  '$1',
  '(*/',
  'x\u0000y',
  '\ud800',
  '\u202e%\u202d',
  '%\u0301\u0301\u0301',
  '\ufeff%',
  '%😀%',
  `${'%'.repeat(3_000)}`,
  `z${'_'.repeat(2_000)}`,
];

describe('search values', () => {
  it('takes SQL and wildcards in every parameter of every type as data: no match, or a 4xx', async () => {
    expect(params.length).toBeGreaterThan(40);
    await h.unchanged(async () => {
      const requests: [RawRequest, string][] = [];
      for (const p of params) {
        for (const value of SYNTAX) requests.push([search(p.type, `${p.name}=${encodeAll(value)}`), `${p.type}.${p.name}=${JSON.stringify(value)}`]);
        // The same through POST _search, and as the second alternative of a list.
        requests.push([searchByPost(p.type, `${p.name}=${encodeAll("' OR '1'='1")}`), `POST ${p.type}.${p.name}`]);
        requests.push([search(p.type, `${p.name}=${encodeAll('%')},${encodeAll("x'--")}`), `${p.type}.${p.name}=%,x'--`]);
      }
      await inParallel(requests, 4, async ([request, what]) => expectSearchOrOutcome(await h.client.send(request), what, true));
    });
  });

  it('answers modifiers, real or not, on every parameter with a Bundle or a 4xx', async () => {
    await h.unchanged(async () => {
      const modifiers = ['missing', 'not', 'exact', 'contains', 'above', 'text', 'of-type', '', 'Patient', "x'--", 'exact:exact'];
      const requests: [RawRequest, string, boolean][] = [];
      for (const p of params) {
        for (const modifier of modifiers) {
          for (const value of modifier === 'missing' || modifier === 'not' ? ["x'%", 'true'] : ["x'%"]) {
            // :not keeps what does not match (everything), :missing=true what has no value: those may match.
            const empty = value !== 'true' && modifier !== 'not';
            requests.push([search(p.type, `${p.name}:${encodeAll(modifier)}=${encodeAll(value)}`), `${p.type}.${p.name}:${modifier}=${value}`, empty]);
          }
        }
      }
      await inParallel(requests, 4, async ([request, what, empty]) => expectSearchOrOutcome(await h.client.send(request), what, empty));
    });
  });

  it('never fails on random values, modifiers and prefixes in any parameter (GET and POST _search)', async () => {
    await h.unchanged(async () => {
      const value = fc.oneof(
        fc.string({ unit: 'binary', maxLength: 30 }),
        fc.string({ unit: fc.constantFrom("'", '"', '%', '_', '\\', ';', '-', '|', ',', '$', ':', '.', '/', '\u0000', '\ud800', '\u202e', '\u0301', 'é', 'x', '1', 'T', 'Z', '+'), maxLength: 20 }),
        fc.tuple(fc.constantFrom('eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap', 'xx', ''), fc.string({ unit: fc.constantFrom('0', '1', '9', '-', ':', 'T', 'Z', '+', '.', '|', 'e'), maxLength: 25 })).map(([a, b]) => a + b)
      );
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...params), fc.constantFrom('', ':missing', ':not', ':exact', ':contains', ':zz'), value, fc.boolean(), async (p, modifier, v, post) => {
          const query = `${p.name}${modifier}=${encodeAll(v)}`;
          const request = post ? searchByPost(p.type, query) : search(p.type, query);
          expectSearchOrOutcome(await h.client.send(request), describeRequest(request), false);
        }),
        { seed: SEED, numRuns: 450 }
      );
    });
  });

  it('refuses too many alternatives and answers very long values', async () => {
    await h.unchanged(async () => {
      for (const p of params) {
        expectOutcome(await h.client.send(search(p.type, `${p.name}=${Array(101).fill('x').join(',')}`)), `${p.type}.${p.name} with 101 values`, [400]);
        expectSearchOrOutcome(await h.client.send(search(p.type, `${p.name}=${'%'.repeat(2_500)}`)), `${p.type}.${p.name} with 2,500 %`, true);
      }
    });
  });
});

describe('unknown search parameters', () => {
  it('refuses them with 400 (strict by default and with Prefer: handling=strict), and reports them when lenient', async () => {
    const known = new Set(params.map((p) => p.name));
    const types = [...new Set(params.map((p) => p.type))];
    await h.unchanged(async () => {
      const names = fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 15 }), fc.string({ unit: fc.constantFrom("'", '%', '_', ':', '.', '-', 'x', '$', ' '), minLength: 1, maxLength: 10 }), fc.constantFrom('colour', '_elements', '_summary', '_has:Task:focus:status', '_revinclude', '_contained', '_query', '_filter', '_list', '_text', '_content', 'identifier:below:x'));
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...types), names, fc.constantFrom('default', 'strict', 'lenient'), async (type, name, handling) => {
          const code = name.split(':')[0];
          if (known.has(code) || ['_count', '_sort', '_include', '_total', '_cursor', '_format'].includes(code) || name.trim() === '') return;
          const request = search(type, `${encodeAll(name)}=1`, handling === 'default' ? {} : { Prefer: `handling=${handling}` });
          const res = await h.client.send(request);
          if (handling !== 'lenient') {
            expectOutcome(res, describeRequest(request), [400]);
            return;
          }
          // Lenient: the search runs without it, and an OperationOutcome entry says it was ignored.
          if (res.status !== 200) {
            expectOutcome(res, describeRequest(request), [400]); // e.g. control characters are refused in any case
            return;
          }
          searchMatches(res, describeRequest(request));
          const notes = (res.body.entry ?? []).filter((e: { search?: { mode?: string } }) => e.search?.mode === 'outcome');
          expect(notes.length, `${describeRequest(request)}: no outcome entry for the ignored parameter`).toBe(1);
          expect(notes[0].resource.resourceType).toBe('OperationOutcome');
        }),
        { seed: SEED, numRuns: 250 }
      );
    });
  });
});

describe('result parameters', () => {
  it('refuses absurd _count values with 400, and caps huge ones', async () => {
    await h.unchanged(async () => {
      for (const type of ['Patient', 'Organization', 'Task']) {
        for (const count of ['-1', '-0', '1e3', '0x10', '1.5', ' 1', '+1', 'NaN', 'Infinity', '', '٣', '１', '9999999999', '99999999999999999999', 'ten', '1,2', "1'--", '%00']) {
          expectOutcome(await h.client.send(search(type, `_count=${encodeAll(count)}`)), `${type}?_count=${JSON.stringify(count)}`, [400]);
          expectOutcome(await h.client.send({ method: 'GET', path: `/fhir/${type}/_history?_count=${encodeAll(count)}`, headers: { Authorization: `Bearer ${h.tokens.admin}` } }), `${type}/_history?_count=${JSON.stringify(count)}`, [400]);
        }
        const huge = await h.client.send(search(type, '_count=999999999'));
        searchMatches(huge, `${type}?_count=999999999`);
        expect(new URL(huge.body.link[0].url).searchParams.get('_count'), 'a huge _count is capped').toBe('500');
        expect(searchMatches(await h.client.send(search(type, '_count=0')), `${type}?_count=0`)).toEqual([]);
      }
    });
  });

  it('refuses bad _sort, _include, _total and _format with a 4xx', async () => {
    await h.unchanged(async () => {
      const cases = [
        ...['colour', '-', '--_id', ',', '_id,', '_id;DROP TABLE patient', "_id'", '-_lastUpdated,zz', 'name:exact', '%', ' _id', '_id desc', '\u0000'].map((v) => `_sort=${encodeAll(v)}`),
        ...['Patient:nothing', 'Task:focus:Patient', 'Task:*', '*', 'Task', ':', "Task:focus'--", 'Organization:partof', 'Task:focus:ServiceRequest:x'].map((v) => `_include=${encodeAll(v)}`),
        ...['maybe', '', 'ACCURATE', "accurate'--"].map((v) => `_total=${encodeAll(v)}`),
        ...['xml', 'application/fhir+xml', 'text/html', 'ttl'].map((v) => `_format=${encodeAll(v)}`),
      ];
      await inParallel(cases, 4, async (query) => expectOutcome(await h.client.send(search('Task', query)), `Task?${query}`, [400, 406]));
    });
  });

  it('refuses forged or damaged _cursor values with 400, on searches and histories', async () => {
    await h.unchanged(async () => {
      const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64url');
      const forged = [
        'garbage!!',
        '',
        '%00',
        'x'.repeat(3_000),
        b64('not json'),
        b64({}),
        b64([]),
        b64(['x']),
        b64([1, 2]),
        b64([true, 'x']),
        b64(['2024-01-01 00:00:00+00', 'x\u0000']),
        b64(['2024-01-01 00:00:00+00', 'x', 'extra']),
      ];
      // Well-formed positions the server never wrote: a page after them (200), or a 400; never a failure.
      const wellFormed = [b64(['2024-01-01 00:00:00+00', "x' OR '1'='1"]), b64([null, null]), b64(['2024-01-01 00:00:00+00', '%'])];
      // Positions that are no value of the first sort key (an instant or a date): refused too.
      const mistyped = [b64(['not a date', 'x']), b64(['99999-99-99 99:99:99+99', 'x']), b64(['2020-02-30 10:00:00+00', 'x']), b64(['0000-01-01 00:00:00+00', 'x']), b64(['2024-01-01 25:00:00+00', 'x']), b64(['\ud800', 'x'])];
      const searches = ['Patient', 'Task', 'Organization?_sort=name', 'Patient?_sort=birthdate', 'ServiceRequest?_sort=-validity-end', 'Communication?_sort=-_lastUpdated'];
      const history = [
        b64(['1', 'x', 1]),
        b64(['2024-01-01T00:00:00.000Z', 'x', 1e20]),
        b64(['2024-01-01T00:00:00.000Z', 'x', -1]),
        b64(['2024-01-01T00:00:00.000Z', 'x', 1.5]),
        b64(['0000-01-01T00:00:00.000Z', 'x', 1]),
        b64(['+275760-09-13T00:00:00.000Z', 'x', 1]),
        b64(['2024-01-01T00:00:00.000Z', 'x\u0000', 1]),
        b64(['2024-01-01T00:00:00.000Z', 7, 1]),
        b64(['Mon, 01 Jan 2024 00:00:00 GMT', 'x', 1]),
        ...forged,
      ];
      const requests: RawRequest[] = [];
      for (const base of searches) {
        const [type, query] = base.split('?');
        for (const cursor of [...forged, ...(query === '_sort=name' ? [] : mistyped)]) requests.push(search(type, `${query ? `${query}&` : ''}_cursor=${encodeAll(cursor)}`));
      }
      for (const path of ['/fhir/Patient/_history', `/fhir/Patient/${h.ids.patient}/_history`, '/fhir/Task/_history']) {
        for (const cursor of history) requests.push({ method: 'GET', path: `${path}?_cursor=${encodeAll(cursor)}`, headers: { Authorization: `Bearer ${h.tokens.admin}` } });
      }
      await inParallel(requests, 4, async (request) => expectOutcome(await h.client.send(request), describeRequest(request), [400]));
      for (const cursor of wellFormed) {
        const request = search('Patient', `_cursor=${encodeAll(cursor)}`);
        const res = await h.client.send(request);
        if (res.status === 200) searchMatches(res, describeRequest(request));
        else expectOutcome(res, describeRequest(request), [400]);
      }
    });
  });
});

/** Dates that are no dates: 400 wherever a date is expected. */
const ABSURD_DATES = [
  'ge99999-99-99',
  '2020-13-45',
  '2020-02-30',
  '2021-02-29',
  '2020-00-10',
  '2020-01-00',
  '0000-00-00',
  '9999-99',
  '20200101',
  '2020/01/01',
  '01/02/2020',
  'yesterday',
  'ge',
  'gt',
  'lt-1',
  'eq2020-01-01Tjunk',
  '2020-01-01T25:00Z',
  '2020-01-01T10:60Z',
  '2020-01-01T10:00:61Z',
  '2020-01-01T10:00+25:00',
  '2020-01-01T10:00:00+14:99',
  '2020-01-01T10:00:00+99:00',
  '2020-01-01T10:00:00-24:00',
  '2020-01-01T10:00:00+15:00',
  '2020-01-01T10:00:00.1234567890123Z',
  'ge2020-01-01T10:00:00 Z',
  '1e10',
  'NaN',
  'Infinity',
  '-1',
  'ge+275760-09-13',
  '2020-01-01T10:00:00Z,xx',
  "2020' OR '1'='1",
  '2020-01-01%00',
];

/** Dates at the edges of the calendar: a valid search (or a 400), never a failure. */
const EDGE_DATES = ['gt9999', 'ge9999-12-31', 'gt9999-12-31T23:59:59Z', 'le9999-12-31T23:59:59-12:00', 'lt0001', 'le0001-01-01', 'ge0001-01-01T00:00:00+14:00', 'lt0001-01-01T00:00:00+14:00', '0000', 'eq0000-01-01', 'sa0050', 'eb0099-12-31', 'ap1900', 'ne1970-01-01T00:00:00Z'];

describe('dates', () => {
  it('refuses absurd dates in every date parameter, _lastUpdated and _since with 400', async () => {
    const dateParams = params.filter((p) => p.kind === 'date');
    expect(dateParams.map((p) => p.name)).toContain('_lastUpdated');
    await h.unchanged(async () => {
      const requests: RawRequest[] = [];
      for (const p of dateParams) for (const date of ABSURD_DATES) requests.push(search(p.type, `${p.name}=${encodeAll(date)}`));
      for (const date of ABSURD_DATES) requests.push({ method: 'GET', path: `/fhir/Patient/_history?_since=${encodeAll(date)}`, headers: { Authorization: `Bearer ${h.tokens.admin}` } });
      await inParallel(requests, 4, async (request) => {
        const res = await h.client.send(request);
        // received:missing aside, every date parameter parses its value as a date.
        expectOutcome(res, describeRequest(request), [400]);
      });
    });
  });

  it('answers dates at the edges of the calendar without failing', async () => {
    const dateParams = params.filter((p) => p.kind === 'date');
    await h.unchanged(async () => {
      const requests: RawRequest[] = [];
      for (const p of dateParams) for (const date of EDGE_DATES) requests.push(search(p.type, `${p.name}=${encodeAll(date)}`));
      for (const since of ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00+14:00', '9999-12-31T23:59:59-12:00', '9999-12-31T23:59:59Z']) {
        // A valid instant: a history page, whose own link reads back.
        const res = await h.client.send({ method: 'GET', path: `/fhir/Patient/_history?_since=${encodeAll(since)}`, headers: { Authorization: `Bearer ${h.tokens.admin}` } });
        expect(res.status, `_since=${since} → ${res.text.slice(0, 200)}`).toBe(200);
        const self = new URL(res.body.link[0].url);
        const again = await h.client.send({ method: 'GET', path: `/fhir/Patient/_history${self.search}`, headers: { Authorization: `Bearer ${h.tokens.admin}` } });
        expect(again.status, `the self link of _since=${since}: ${self.search} → ${again.text.slice(0, 200)}`).toBe(200);
      }
      await inParallel(requests, 4, async (request) => {
        const res = await h.client.send(request);
        if (res.status === 200) expect(res.body?.resourceType, describeRequest(request)).toBe('Bundle');
        else expectOutcome(res, describeRequest(request), [400]);
      });
    });
  });
});

/**
 * The access matrix (issue 6, "Trust"): every caller (eight roles and no
 * token) × every interaction × its own organization's resource and
 * another's, over every patient-data type and a sample of the directory,
 * against the answers written in access-matrix.data.ts. Besides each cell's
 * status it checks that no answer (search, _include, history, Bundle entry,
 * export, indicator, notification) shows another organization's data, and
 * that a denied read of an existing resource is answered exactly as a read of
 * a random id. Reads run first, concurrently; then writes, one at a time per
 * resource (each on the state the previous ones left); notifications last.
 * The number of cells checked is printed at the end.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import type { Bundle, BundleEntry, Parameters, QuestionnaireResponse, Resource, Task } from '@medplum/fhirtypes';
import ExcelJS from 'exceljs';
import type { Response } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decisionMoves, esmsStatusConcept, esmsStatusOf, ESMS_STATUSES, type EsmsStatus } from '../mappings/decision/statuses.js';
import { kindOf } from '../src/domain/registry.js';
import { freePort, startTestGateway, waitFor, type TestGateway } from './helpers.js';
import { moved, SMR_CATEGORY, volet } from './referral-world.js';
import {
  AUDIT_EVENT,
  CALLERS,
  DASHBOARD,
  DASHBOARD_WRONG_VIEW,
  NOTIFIED,
  READ,
  RELATIONS,
  SAME_ORGANIZATION_OTHER_CLIENT,
  UNIT_AS_PRESCRIBER,
  UNSUPPORTED_SEARCH_STATUS,
  VARIANTS,
  WRITE,
  type Caller,
  type Relation,
  type WriteCell,
} from './access-matrix.data.js';
import { buildWorld, call, DECISION_HEADER, freshPatient, NIR_SYSTEM, PERSONS, SIDES, type Instance, type World } from './access-matrix.world.js';

const clock = { offsetMs: 0, now: () => new Date(Date.now() + clock.offsetMs) };
let t: TestGateway;
let w: World;
let hooks: Server;
const deliveries = new Map<string, Bundle[]>();
let totalCells = 0;

beforeAll(async () => {
  const port = await freePort();
  hooks = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      const name = (req.url ?? '').replace(/^\/hook\//, '');
      deliveries.set(name, [...(deliveries.get(name) ?? []), JSON.parse(text || '{}') as Bundle]);
      // `redirect-…` endpoints send the notification elsewhere (a redirect the gateway must not follow).
      if (name.startsWith('redirect-')) res.writeHead(307, { Location: `/hook/redirected-${name}` }).end();
      else res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => hooks.listen(port, '127.0.0.1', resolve));
  t = await startTestGateway({ workers: true, clock, config: { notify: { attempts: 3, backoffMs: 200, timeoutMs: 2_000, allowPrivateEndpoints: true } } });
  w = await buildWorld(t, clock, (name) => `http://127.0.0.1:${port}/hook/${name}`);
}, 60_000);

afterAll(async () => {
  console.log(`access matrix: ${totalCells} cells checked`);
  await t?.close();
  hooks?.close();
});

// ---------------------------------------------------------------- checking

/** Cells checked by one test, and the ones that failed (all reported at once). */
class Cells {
  readonly failures: string[] = [];
  count = 0;
  check(label: string, expected: unknown, actual: unknown): void {
    this.count++;
    totalCells++;
    if (!isDeepStrictEqual(expected, actual)) this.failures.push(`${label}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
  fail(label: string, detail: string): void {
    this.failures.push(`${label}: ${detail}`);
  }
  done(): void {
    expect(this.failures, `${this.failures.length} of ${this.count} cells failed`).toEqual([]);
  }
}

const relationOf = (i: Instance): Relation => (i.side === 1 ? 'own' : 'other');
const readOf = (caller: Caller, i: Instance): number => READ[i.variant][caller][relationOf(i)];
/** A search answers 200 where the read answers 200 or 404, else as the read. */
const searchStatusOf = (readStatus: number): number => (readStatus === 200 || readStatus === 404 ? 200 : readStatus);
const label = (caller: Caller, i: Instance | undefined, what: string): string => `${caller} ${i ? `${relationOf(i)} ${i.key}` : ''} ${what}`;

function instance(key: string): Instance {
  const found = w.byKey.get(key);
  if (!found) throw new Error(`no instance ${key}`);
  return found;
}

/** The answer with ids masked, for comparing a denied answer with a random id's. */
function shape(res: { status: number; body: unknown; headers?: Record<string, string> }, ids: string[]): string {
  let text = JSON.stringify({ status: res.status, body: res.body, etag: Boolean(res.headers?.etag), location: Boolean(res.headers?.location) });
  for (const id of ids) if (id) text = text.split(id).join('{id}');
  return text;
}

/** Runs jobs `size` at a time. */
async function pool<T>(jobs: (() => Promise<T>)[], size = 8): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(size, jobs.length) }, async () => {
      while (next < jobs.length) {
        const i = next++;
        results[i] = await jobs[i]();
      }
    })
  );
  return results;
}

let refs: Map<string, Instance> | undefined;
const byRef = (): Map<string, Instance> => (refs ??= new Map(w.instances.map((i) => [`${i.type}/${i.id}`, i])));

/**
 * Every resource of an answer the caller gets (matches, includes, entries of
 * a Bundle) must be one it may read; and, before any write ran, one of the
 * world's.
 */
function scan(cells: Cells, caller: Caller, what: string, bundle: Bundle | undefined): void {
  const known = byRef();
  const leaks: string[] = [];
  for (const entry of bundle?.entry ?? []) {
    const r = entry.resource;
    if (!r || r.resourceType === 'OperationOutcome') continue;
    if (r.resourceType === 'Bundle') {
      scan(cells, caller, `${what} (entry)`, r as Bundle);
      continue;
    }
    const found = known.get(`${r.resourceType}/${r.id}`);
    if (!found) leaks.push(`unknown ${r.resourceType}/${r.id}`);
    else if (readOf(caller, found) !== 200) leaks.push(`LEAK of ${found.key} (${r.resourceType}/${r.id})`);
  }
  cells.check(`${caller} ${what}: shows nothing it may not read`, [], leaks);
}

/** A random id's answer to the same interaction, once per caller, type and interaction. */
const randomAnswers = new Map<string, Promise<{ shape: string }>>();
function randomAnswer(key: string, ask: (id: string) => Promise<{ status: number; body: unknown; headers?: Record<string, string> }>, extraIds: string[] = []): Promise<{ shape: string }> {
  let answer = randomAnswers.get(key);
  if (!answer) {
    const id = randomUUID();
    answer = ask(id).then((res) => ({ shape: shape(res, [id, ...extraIds]) }));
    randomAnswers.set(key, answer);
  }
  return answer;
}

const sample = (): Instance[] => w.instances.filter((i) => i.sample);
const types = (): string[] => [...new Set(Object.values(VARIANTS))];

// ---------------------------------------------------------------- reads

describe('reads', () => {
  it('read, vread and instance history answer as written; where the resource is hidden, exactly as a random id', async () => {
    const cells = new Cells();
    const jobs: (() => Promise<void>)[] = [];
    for (const caller of CALLERS) {
      const as = call(t, w.tokens[caller]);
      for (const i of sample()) {
        const expected = readOf(caller, i);
        const interactions: [string, (id: string) => string][] = [
          ['read', (id) => `/fhir/${i.type}/${id}`],
          ['vread', (id) => `/fhir/${i.type}/${id}/_history/1`],
          ['history', (id) => `/fhir/${i.type}/${id}/_history`],
        ];
        // A Binary is read as FHIR here (as itself otherwise, the same access).
        const accept: Record<string, string> = i.type === 'Binary' ? { Accept: 'application/fhir+json' } : {};
        for (const [what, path] of interactions) {
          jobs.push(async () => {
            const res = await as.get(path(i.id), accept);
            cells.check(label(caller, i, what), expected, res.status);
            if (res.status === 200 && what !== 'history') cells.check(label(caller, i, `${what} id`), i.id, res.body.id);
            if (res.status === 200 && what === 'history') cells.check(label(caller, i, 'history ids'), [i.id], [...new Set((res.body.entry ?? []).map((e: BundleEntry) => e.resource?.id))]);
            if (expected !== 200) {
              const random = await randomAnswer(`${caller}|${i.type}|${what}`, (id) => as.get(path(id), accept));
              cells.check(label(caller, i, `${what} indistinguishable from a random id`), random.shape, shape(res, [i.id]));
            }
          });
        }
      }
    }
    await pool(jobs);
    cells.done();
  });

  it('searches that single a resource out (by id, identifier, reference, with _include, by POST) show it exactly when its read answers 200', async () => {
    const cells = new Cells();
    const jobs: (() => Promise<void>)[] = [];
    for (const caller of CALLERS) {
      const as = call(t, w.tokens[caller]);
      for (const i of sample()) {
        const expected = readOf(caller, i);
        for (const query of i.searches) {
          jobs.push(async () => {
            const res = await as.get(`/fhir/${i.type}?${query}&_count=500`);
            cells.check(label(caller, i, `search ${query}`), searchStatusOf(expected), res.status);
            if (res.status !== 200) return;
            const ids = (res.body.entry ?? []).filter((e: BundleEntry) => e.search?.mode === 'match').map((e: BundleEntry) => e.resource?.id);
            cells.check(label(caller, i, `search ${query} shows it`), expected === 200, ids.includes(i.id));
            scan(cells, caller, `search ${i.type}?${query}`, res.body);
          });
        }
        jobs.push(async () => {
          const token = w.tokens[caller];
          const form = t.http.post(`/fhir/${i.type}/_search`).set('Content-Type', 'application/x-www-form-urlencoded');
          const res = await (token ? form.set('Authorization', `Bearer ${token}`) : form).send(`_id=${i.id}`);
          cells.check(label(caller, i, 'POST _search'), searchStatusOf(expected), res.status);
          if (res.status === 200) cells.check(label(caller, i, 'POST _search shows it'), expected === 200 ? [i.id] : [], (res.body.entry ?? []).map((e: BundleEntry) => e.resource?.id));
        });
        const include = i.include;
        if (include) {
          jobs.push(async () => {
            const res = await as.get(`/fhir/${i.type}?${include.query}`);
            cells.check(label(caller, i, `_include ${include.query}`), searchStatusOf(expected), res.status);
            if (res.status !== 200) return;
            const entries: BundleEntry[] = res.body.entry ?? [];
            cells.check(label(caller, i, '_include match'), expected === 200 ? [i.id] : [], entries.filter((e) => e.search?.mode === 'match').map((e) => e.resource?.id));
            const included = new Set(entries.filter((e) => e.search?.mode === 'include').map((e) => `${e.resource?.resourceType}/${e.resource?.id}`));
            for (const key of include.keys) {
              const target = instance(key);
              // Included only with a match, and only when the caller may read it.
              cells.check(label(caller, i, `_include shows ${key}`), expected === 200 && readOf(caller, target) === 200, included.has(`${target.type}/${target.id}`));
            }
            scan(cells, caller, `_include ${i.type}?${include.query}`, res.body);
          });
        }
      }
    }
    await pool(jobs);
    cells.done();
  });

  it('type-wide searches (with every _include) and type histories show exactly the resources the caller may read', async () => {
    const cells = new Cells();
    const jobs: (() => Promise<void>)[] = [];
    for (const caller of CALLERS) {
      const as = call(t, w.tokens[caller]);
      for (const type of types()) {
        const ofType = w.instances.filter((i) => i.type === type);
        // The type's read status is the same for all its variants' 401/403; take the strictest answer.
        const statuses = [...new Set(ofType.map((i) => searchStatusOf(readOf(caller, i))))];
        const expectedStatus = statuses.length === 1 ? statuses[0] : 200;
        const visible = ofType.filter((i) => readOf(caller, i) === 200).map((i) => i.id).sort();
        const includes = (kindOf(type)?.includes ?? []).map((inc) => `_include=${type}:${inc.param}`).join('&');
        for (const [what, path] of [
          ['search', `/fhir/${type}?_count=500&_total=accurate${includes ? `&${includes}` : ''}`],
          ['history', `/fhir/${type}/_history?_count=500`],
        ] as const) {
          jobs.push(async () => {
            const res = await as.get(path);
            cells.check(`${caller} ${type} type-wide ${what}`, expectedStatus, res.status);
            if (res.status !== 200) return;
            const shown = [...new Set((res.body.entry ?? []).filter((e: BundleEntry) => e.search?.mode !== 'include').map((e: BundleEntry) => e.resource?.id as string))].sort();
            cells.check(`${caller} ${type} type-wide ${what}: exactly what it may read`, visible, shown);
            if (what === 'search') cells.check(`${caller} ${type} type-wide search: _total counts only that`, visible.length, res.body.total);
            scan(cells, caller, `${type} type-wide ${what}`, res.body);
          });
        }
      }
    }
    await pool(jobs);
    cells.done();
  });

  it('unsupported searches (_revinclude, chained parameters) are refused after the caller is known; leniently ignored, they show no more', async () => {
    const cells = new Cells();
    const jobs: (() => Promise<void>)[] = [];
    const probes = (i: Instance): string[] => {
      switch (i.variant) {
        case 'patient':
        case 'person':
          return [`_id=${i.id}&_revinclude=Task:patient`, `_id=${i.id}&general-practitioner.name=x`];
        case 'request':
        case 'decision':
          return [`_id=${i.id}&_revinclude=Task:focus`, `_id=${i.id}&subject.identifier=${NIR_SYSTEM}|${w.nir[i.side]}`];
        case 'task':
        case 'decision-task':
          return [`_id=${i.id}&patient.identifier=${NIR_SYSTEM}|${w.nir[i.side]}`, `_id=${i.id}&focus:ServiceRequest.requester=Organization/${SIDES[i.side].hospital}`];
        case 'message':
          return [`_id=${i.id}&part-of.owner=HealthcareService/${SIDES[i.side].unit}`, `_id=${i.id}&_revinclude=Communication:part-of`];
        default:
          return [];
      }
    };
    for (const caller of CALLERS) {
      const as = call(t, w.tokens[caller]);
      for (const i of sample()) {
        for (const query of probes(i)) {
          const expected = readOf(caller, i);
          jobs.push(async () => {
            const res = await as.get(`/fhir/${i.type}?${query}`);
            cells.check(label(caller, i, `unsupported ${query}`), expected === 200 || expected === 404 ? UNSUPPORTED_SEARCH_STATUS : expected, res.status);
            const lenient = await as.get(`/fhir/${i.type}?${query}`, { Prefer: 'handling=lenient' });
            cells.check(label(caller, i, `lenient ${query}`), searchStatusOf(expected), lenient.status);
            if (lenient.status !== 200) return;
            const entries: BundleEntry[] = lenient.body.entry ?? [];
            cells.check(label(caller, i, `lenient ${query} shows only it`), expected === 200 ? [i.id] : [], entries.filter((e) => e.resource?.resourceType === i.type).map((e) => e.resource?.id));
            scan(cells, caller, `lenient ${i.type}?${query}`, lenient.body);
          });
        }
      }
    }
    await pool(jobs);
    cells.done();
  });

  it('Bundle GET entries (batch and transaction) answer as the read, and a hidden resource as a random id', async () => {
    const cells = new Cells();
    const jobs: (() => Promise<void>)[] = [];
    for (const caller of CALLERS) {
      const as = call(t, w.tokens[caller]);
      jobs.push(async () => {
        const randoms = new Map(types().map((type) => [type, randomUUID()]));
        const reads = sample();
        const searches = types().map((type) => `${type}?_count=500${(kindOf(type)?.includes ?? []).map((inc) => `&_include=${type}:${inc.param}`).join('')}`);
        const entry = (url: string) => ({ request: { method: 'GET', url } });
        const res = await as.post('/fhir', {
          resourceType: 'Bundle',
          type: 'batch',
          entry: [...reads.map((i) => entry(`${i.type}/${i.id}`)), ...[...randoms].map(([type, id]) => entry(`${type}/${id}`)), ...searches.map(entry)],
        });
        cells.check(`${caller} batch`, 200, res.status);
        if (res.status !== 200) return;
        const answers: BundleEntry[] = res.body.entry;
        reads.forEach((i, n) => {
          const expected = readOf(caller, i);
          const got = answers[n];
          cells.check(label(caller, i, 'batch GET'), expected, Number(got.response?.status));
          if (expected === 200) cells.check(label(caller, i, 'batch GET id'), i.id, got.resource?.id);
          else {
            const random = answers[reads.length + [...randoms.keys()].indexOf(i.type)];
            const mask = (e: BundleEntry, id: string) => shape({ status: Number(e.response?.status), body: { resource: e.resource, outcome: e.response?.outcome } }, [id, `entry[${answers.indexOf(e)}]`]);
            cells.check(label(caller, i, 'batch GET indistinguishable from a random id'), mask(random, randoms.get(i.type) as string), mask(got, i.id));
          }
        });
        searches.forEach((search, n) => {
          const got = answers[reads.length + randoms.size + n];
          const type = search.split('?')[0];
          const statuses = [...new Set(w.instances.filter((i) => i.type === type).map((i) => searchStatusOf(readOf(caller, i))))];
          cells.check(`${caller} batch search ${type}`, statuses.length === 1 ? statuses[0] : 200, Number(got.response?.status));
          scan(cells, caller, `batch search ${search}`, got.resource as Bundle | undefined);
        });
      });
      for (const i of sample()) {
        jobs.push(async () => {
          const expected = readOf(caller, i);
          const transaction = (id: string) => as.post('/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'GET', url: `${i.type}/${id}` } }] });
          const res = await transaction(i.id);
          const status = res.status === 200 ? Number(res.body.entry?.[0]?.response?.status) : res.status;
          cells.check(label(caller, i, 'transaction GET'), expected, status);
          if (expected === 200) cells.check(label(caller, i, 'transaction GET id'), i.id, res.body.entry?.[0]?.resource?.id);
          else cells.check(label(caller, i, 'transaction GET indistinguishable from a random id'), (await randomAnswer(`${caller}|${i.type}|transaction`, transaction)).shape, shape(res, [i.id]));
        });
      }
    }
    await pool(jobs);
    cells.done();
  });

  it('dashboard exports (json, csv, xlsx) list the caller’s own side only', async () => {
    const cells = new Cells();
    const jobs: (() => Promise<void>)[] = [];
    const own = SIDES[1].family;
    const others = [SIDES[2].family, PERSONS[1].family, PERSONS[2].family, PERSONS.claimable.family];
    // (directory ids are public, and too short to look for in a file)
    const otherIds = w.instances.filter((i) => i.side === 2 && !['organization', 'service', 'location'].includes(i.variant)).map((i) => i.id);
    const rowsOf = async (res: Response, format: string): Promise<{ text: string; rows: number }> => {
      if (format === 'json') return { text: JSON.stringify(res.body), rows: res.body.rows.length };
      if (format === 'csv') return { text: res.text, rows: res.text.replace(/^\uFEFF/, '').trim().split('\r\n').length - 1 };
      const workbook = new ExcelJS.Workbook();
      await workbook.xlsx.load(new Uint8Array(res.body as Buffer).buffer as ArrayBuffer);
      const lines: string[] = [];
      workbook.getWorksheet('Tableau de bord')?.eachRow((row) => lines.push(JSON.stringify(row.values)));
      return { text: lines.join('\n'), rows: lines.length - 1 };
    };
    const binary = (r: ReturnType<ReturnType<typeof call>['get']>) =>
      r.buffer(true).parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      });
    for (const caller of CALLERS) {
      const as = call(t, w.tokens[caller]);
      const view = caller === 'receiver' ? 'unit' : 'prescriber';
      for (const format of ['json', 'csv', 'xlsx']) {
        const get = (query: string) => (format === 'xlsx' ? binary(as.get(`/dashboard/tasks?${query}&format=xlsx`)) : as.get(`/dashboard/tasks?${query}&format=${format}`));
        const visibleTasks = w.instances.filter((i) => i.type === 'Task' && readOf(caller, i) === 200).map((i) => i.id);
        jobs.push(async () => {
          const res = await get(`view=${view}`);
          cells.check(`${caller} own dashboard ${format}`, DASHBOARD[caller].own, res.status);
          if (res.status !== 200) return;
          const { text } = await rowsOf(res, format);
          cells.check(`${caller} own dashboard ${format}: lists its patient`, true, text.includes(own));
          cells.check(`${caller} own dashboard ${format}: nothing of another organization`, [], [...others, ...otherIds].filter((x) => text.includes(x)));
          if (format === 'json') cells.check(`${caller} own dashboard json: only tasks it may read`, [], res.body.rows.map((r: { task: string }) => r.task).filter((id: string) => !visibleTasks.includes(id)));
        });
        for (const query of [`request=${instance('request:2:request').id}`, `name=${SIDES[2].family}`]) {
          jobs.push(async () => {
            const res = await get(`view=${view}&${query}`);
            cells.check(`${caller} other dashboard ${format} ${query}`, DASHBOARD[caller].other, res.status);
            if (res.status !== 200) return;
            const { text, rows } = await rowsOf(res, format);
            cells.check(`${caller} other dashboard ${format} ${query}: nothing`, [0, []], [rows, [...others, ...otherIds].filter((x) => text.includes(x))]);
          });
        }
        jobs.push(async () => {
          const res = await get(`view=${view === 'unit' ? 'prescriber' : 'unit'}`);
          cells.check(`${caller} the other side’s dashboard ${format}`, DASHBOARD_WRONG_VIEW[caller].own, res.status);
        });
      }
    }
    await pool(jobs);
    cells.done();
  });

  it('indicators: an MDPH gets its own department only', async () => {
    const cells = new Cells();
    const res = await call(t, w.tokens.mdph).get('/fhir/$indicators');
    cells.check('mdph indicators without a department', 200, res.status);
    const departments = ((res.body as Parameters).parameter ?? []).filter((p) => p.name === 'group').map((g) => g.part?.find((p) => p.name === 'department')?.valueString);
    cells.check('mdph indicators without a department: its own', [SIDES[1].dept], [...new Set(departments)]);
    cells.done();
  });

  it('AuditEvent: only admin reads or searches the audit trail', async () => {
    const cells = new Cells();
    const eventAbout = async (key: string): Promise<string> => {
      const res = await admin().get(`/fhir/AuditEvent?entity=Patient/${instance(key).id}&_count=1`);
      const id = res.body.entry?.[0]?.resource?.id as string | undefined;
      if (!id) throw new Error(`no audit event about ${key}: ${res.status} ${JSON.stringify(res.body)}`);
      return id;
    };
    const events = { own: await eventAbout('patient:1:patient'), other: await eventAbout('patient:2:patient') };
    const jobs: (() => Promise<void>)[] = [];
    for (const caller of CALLERS) {
      for (const relation of RELATIONS) {
        const patient = instance(`patient:${side(relation)}:patient`).id;
        jobs.push(async () => {
          const search = await as(caller).get(`/fhir/AuditEvent?entity=Patient/${patient}`);
          cells.check(`${caller} ${relation} AuditEvent search`, AUDIT_EVENT.search[caller][relation], search.status);
          if (search.status === 200) cells.check(`${caller} ${relation} AuditEvent search finds the events`, true, (search.body.entry ?? []).length > 0);
          const read = await as(caller).get(`/fhir/AuditEvent/${events[relation]}`);
          cells.check(`${caller} ${relation} AuditEvent read`, AUDIT_EVENT.read[caller][relation], read.status);
          const batch = await as(caller).post('/fhir', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `AuditEvent?entity=Patient/${patient}` } }] });
          cells.check(`${caller} ${relation} AuditEvent batch search`, AUDIT_EVENT['batch search'][caller][relation], Number(batch.body.entry?.[0]?.response?.status));
        });
      }
    }
    await pool(jobs);
    cells.done();
  });
});

// ---------------------------------------------------------------- writes

type Answer = { status: number; body: unknown; headers?: Record<string, string> };
interface Sent {
  res: Answer;
  /** Ids to mask when comparing with the random answer. */
  mask: string[];
}
interface WriteSpec {
  /** The instance the request touches, on each side (whose readability decides whether its existence may show). */
  target?: (relation: Relation) => Instance;
  /** Sends the request; `random` names a missing resource instead of the target. */
  send: (caller: Caller, relation: Relation, random: boolean) => Promise<Sent>;
  /** Further checks of a successful answer. */
  check?: (res: Answer, relation: Relation) => string | undefined;
  /** When to compare a refusal with the random request's: when the target is hidden from the caller (default), always, never. */
  compare?: 'hidden' | 'always' | 'never';
}

const side = (relation: Relation): 1 | 2 => (relation === 'own' ? 1 : 2);
const as = (caller: Caller) => call(t, w.tokens[caller]);
const admin = () => call(t, w.tokens.admin);

async function stored(i: Instance): Promise<Resource> {
  return (await admin().get(`/fhir/${i.type}/${i.id}`)).body as Resource;
}

/** The status a Bundle answers an entry with (a failed transaction: its own status). */
function entryStatus(res: Answer): Answer {
  const body = res.body as Bundle;
  if (res.status !== 200 || !body.entry) return res;
  const entry = body.entry[0];
  return { status: Number(String(entry.response?.status).slice(0, 3)), body: entry.resource ?? entry.response?.outcome, headers: {} };
}

/** A PUT of the target as stored (changed by `change`), with If-Match of its version when `ifMatch`. */
function put(key: (r: Relation) => string, change: (r: Resource) => Resource = (r) => r, ifMatch = false): WriteSpec {
  return {
    target: (relation) => instance(key(relation)),
    async send(caller, relation, random) {
      const i = instance(key(relation));
      const current = change(await stored(i));
      const id = random ? randomUUID() : i.id;
      const headers: Record<string, string> = ifMatch ? { 'If-Match': `W/"${random ? 1 : current.meta?.versionId}"` } : {};
      const res = await as(caller).put(`/fhir/${i.type}/${id}`, { ...current, id }, headers);
      return { res, mask: [id] };
    },
  };
}

function create(type: string, body: (relation: Relation, random: boolean) => { body: object; mask: string[]; headers?: Record<string, string> }, target?: (r: Relation) => string): WriteSpec {
  return {
    target: target ? (relation) => instance(target(relation)) : undefined,
    async send(caller, relation, random) {
      const made = body(relation, random);
      return { res: await as(caller).post(`/fhir/${type}`, made.body, made.headers ?? {}), mask: made.mask };
    },
  };
}

/** A request body pointing at the target's id, or at a random one. */
function pointing(key: (r: Relation) => string, make: (id: string, i: Instance) => object) {
  return (relation: Relation, random: boolean) => {
    const i = instance(key(relation));
    const id = random ? randomUUID() : i.id;
    return { body: make(id, i), mask: [id] };
  };
}

function sdoTask(national: string, status: EsmsStatus): Task {
  const input = (text: string, value: object) => ({ type: { coding: [{ display: text }], text }, ...value });
  return {
    resourceType: 'Task',
    meta: { profile: ['https://interop.esante.gouv.fr/ig/fhir/sdo/StructureDefinition/sdo-task'] },
    status: 'completed',
    intent: 'plan',
    input: [
      input('idNat_Struct', { valueString: 'idNat' }),
      input('nomESMS', { valueString: 'ESMS' }),
      input('statutESMS', { valueCodeableConcept: { coding: [{ system: 'https://mos.esante.gouv.fr/NOS/JDV_J252-StatutPersonnePriseChargeESMS/', code: status }] } }),
      input('dateStatutESMS', { valueDate: new Date().toISOString().slice(0, 10) }),
      input('idDecision', { valueString: national }),
      input('idNat_Decision', { valueString: national }),
    ],
  } as Task;
}

const claim = (caller: Caller, individual: string, birthDate: string) =>
  as(caller).post('/fhir/ServiceRequest/$claim', { resourceType: 'Parameters', parameter: [{ name: 'individualNumber', valueString: individual }, { name: 'birthDate', valueDate: birthDate }] });

const transaction = (caller: Caller, entries: object[]) => as(caller).post('/fhir', { resourceType: 'Bundle', type: 'transaction', entry: entries });

const WRITES: Record<WriteCell, WriteSpec> = {
  'patient update': put((r) => `patient:${side(r)}:patient`, (p) => ({ ...p, active: true } as Resource)),
  'person update': put((r) => `person:${side(r)}:person`, (p) => ({ ...p, active: true } as Resource)),
  'patient conditional-create': {
    target: (r) => instance(`patient:${side(r)}:patient`),
    async send(caller, relation) {
      const res = await as(caller).post('/fhir/Patient', freshPatient(), { 'If-None-Exist': `identifier=${NIR_SYSTEM}|${w.nir[side(relation)]}` });
      return { res, mask: [] };
    },
    check: (res, relation) => {
      const matched = (res.body as Resource).id === instance(`patient:${side(relation)}:patient`).id;
      return res.status === 200 && !matched ? 'matched another patient' : res.status === 201 && matched ? 'created over the match' : undefined;
    },
  },
  'patient create-request': create(
    'ServiceRequest',
    pointing(
      (r) => `patient:${side(r)}:patient`,
      (id) => ({ resourceType: 'ServiceRequest', status: 'draft', intent: 'order', subject: { reference: `Patient/${id}` }, performer: [{ reference: `HealthcareService/${SIDES[1].unit}` }] })
    ),
    (r) => `patient:${side(r)}:patient`
  ),
  'patient create-volet': create('QuestionnaireResponse', pointing((r) => `patient:${side(r)}:patient`, (id) => volet('administrative', `Patient/${id}`)), (r) => `patient:${side(r)}:patient`),
  'patient create-medical-volet': create('QuestionnaireResponse', pointing((r) => `patient:${side(r)}:patient`, (id) => volet('medical', `Patient/${id}`, 'completed')), (r) => `patient:${side(r)}:patient`),
  'volet cite': create(
    'ServiceRequest',
    pointing(
      (r) => `volet:${side(r)}:medical`,
      (id, i) => ({ resourceType: 'ServiceRequest', status: 'draft', intent: 'order', subject: { reference: `Patient/${instance(`patient:${i.side}:patient`).id}` }, supportingInfo: [{ reference: `QuestionnaireResponse/${id}` }] })
    ),
    (r) => `volet:${side(r)}:medical`
  ),
  'request identifier-requester': {
    target: (r) => instance(`request:${side(r)}:request`),
    compare: 'never',
    async send(caller, relation) {
      const patient = instance('patient:1:patient').id;
      const requester = { type: 'Organization', identifier: { system: 'https://finess.esante.gouv.fr', value: SIDES[side(relation)].hospitalFiness } };
      const res = await as(caller).post('/fhir/ServiceRequest', { resourceType: 'ServiceRequest', status: 'draft', intent: 'order', subject: { reference: `Patient/${patient}` }, requester });
      return { res, mask: [] };
    },
  },
  'request update': put((r) => `request:${side(r)}:request`, (sr) => ({ ...sr, note: [{ text: 'Précision' }] } as Resource)),
  'decision update': put((r) => `decision:${side(r)}:decision`, (sr) => ({ ...sr, note: [{ text: 'Précision' }] } as Resource)),
  'task update': put((r) => `task:${side(r)}:task`, undefined, true),
  'task-sibling update': put((r) => `task-sibling:${side(r)}:task`, undefined, true),
  'decision-task update': put((r) => `decision-task:${side(r)}:task`, undefined, true),
  'decision-task-sibling update': put((r) => `decision-task-sibling:${side(r)}:task`, undefined, true),
  'request create-task': create(
    'Task',
    pointing(
      (r) => `request:${side(r)}:request`,
      (id, i) =>
        moved(
          {
            resourceType: 'Task',
            status: 'requested',
            intent: 'order',
            focus: { reference: `ServiceRequest/${id}` },
            for: { reference: `Patient/${instance(`patient:${i.side}:patient`).id}` },
            owner: { reference: `HealthcareService/${SIDES[i.side].unit}` },
          },
          'sent'
        )
    ),
    (r) => `request:${side(r)}:request`
  ),
  'decision sdo-push': {
    target: (r) => instance(`decision:${side(r)}:decision`),
    async send(caller, relation, random) {
      const national = random ? `NAT-${randomUUID()}` : PERSONS[side(relation)].national;
      return { res: await as(caller).post('/fhir/Task', sdoTask(national, '41')), mask: [national] };
    },
  },
  'volet update': put((r) => `volet:${side(r)}:administrative`),
  'volet update-medical': put((r) => `volet:${side(r)}:medical`),
  'task create-message': create(
    'Communication',
    pointing((r) => `task:${side(r)}:task`, (id) => ({ resourceType: 'Communication', status: 'completed', partOf: [{ reference: `Task/${id}` }], payload: [{ contentString: 'Bonjour' }] })),
    (r) => `task:${side(r)}:task`
  ),
  'message update': put((r) => `message:${side(r)}:message`, (m) => ({ ...m, received: new Date().toISOString() } as Resource)),
  'subscription create-task': create('Subscription', (relation) => ({
    body: { resourceType: 'Subscription', status: 'requested', reason: 'x', criteria: relation === 'own' ? 'Task' : `Task?owner=HealthcareService/${SIDES[2].unit}`, channel: { type: 'rest-hook', endpoint: w.hook('sink') } },
    mask: [],
  })),
  'subscription create-message': create('Subscription', (relation) => ({
    body: {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'x',
      criteria: relation === 'own' ? 'Communication' : `Communication?recipient=Organization/org-${SIDES[2].unit}`,
      channel: { type: 'rest-hook', endpoint: w.hook('sink') },
    },
    mask: [],
  })),
  'subscription update': put((r) => `subscription:${side(r)}:subscription`),
  'organization update': put((r) => `organization:${side(r)}:${SIDES[side(r)].hospital}`),
  'organization create': create('Organization', () => ({
    body: { resourceType: 'Organization', name: 'Nouvelle structure', identifier: [{ system: 'https://finess.esante.gouv.fr', value: String(100000000 + Math.floor(Math.random() * 800000000)) }] },
    mask: [],
  })),
  'service update': put((r) => `service:${side(r)}:${SIDES[side(r)].unit}`),
  'location update': put((r) => `location:${side(r)}:l${side(r)}`),

  'task $remind': operation((r) => `task:${side(r)}:task`, '$remind', () => ({ resourceType: 'Parameters' })),
  'task-sibling $remind': operation((r) => `task-sibling:${side(r)}:task`, '$remind', () => ({ resourceType: 'Parameters' })),
  'decision-task $remind': operation((r) => `decision-task:${side(r)}:task`, '$remind', () => ({ resourceType: 'Parameters' })),
  'request-cancelled $reactivate': operation((r) => `request-cancelled:${side(r)}:request`, '$reactivate', () => ({ resourceType: 'Parameters' })),
  'request $copy': operation((r) => `request:${side(r)}:request`, '$copy', () => ({
    resourceType: 'Parameters',
    parameter: [{ name: 'performer', valueReference: { reference: `HealthcareService/${SIDES[1].unit}` } }],
  })),
  'person $claim': {
    async send(caller, relation) {
      const p = relation === 'own' ? PERSONS[1] : PERSONS.claimable;
      return { res: await claim(caller, p.individual, p.birthDate), mask: [] };
    },
    check: (res, relation) => {
      const expected = relation === 'own' ? `t-13-${PERSONS[1].decision}-${SIDES[1].esmsFiness}` : `t-75-${PERSONS.claimable.decision}-${SIDES[1].esmsFiness}`;
      const ids = ((res.body as Bundle).entry ?? []).map((e) => e.resource?.id);
      return isDeepStrictEqual(ids, [expected]) ? undefined : `claimed ${JSON.stringify(ids)}`;
    },
  },
  'person $claim-wrong-pair': {
    compare: 'always',
    async send(caller, relation, random) {
      const individual = random ? `NOBODY-${randomUUID().slice(0, 8)}` : relation === 'own' ? PERSONS[1].individual : PERSONS.claimable.individual;
      return { res: await claim(caller, individual, '1999-09-09'), mask: [] };
    },
  },
  'decision $indicators': {
    async send(caller, relation) {
      return { res: await as(caller).get(`/fhir/$indicators?department=${SIDES[side(relation)].dept}`), mask: [] };
    },
    check: (res, relation) => {
      const departments = [...new Set(((res.body as Parameters).parameter ?? []).filter((p) => p.name === 'group').map((g) => g.part?.find((p) => p.name === 'department')?.valueString))];
      return isDeepStrictEqual(departments, [SIDES[side(relation)].dept]) ? undefined : `groups of ${JSON.stringify(departments)}`;
    },
  },
  'decision $import-decisions': {
    async send(caller, relation) {
      const query = relation === 'other' ? `?mdph=${SIDES[2].dept}` : caller === 'admin' ? `?mdph=${SIDES[1].dept}` : '';
      const row = `N${randomUUID().slice(0, 8)};2000-01-01;Nouveau;Camille;F;NEW-${randomUUID().slice(0, 8)};;255;2025-01-01;2029-12-31;;;0;`;
      const res = await as(caller).raw('post', `/fhir/$import-decisions${query}`, 'text/csv', `${DECISION_HEADER}\n${row}\n`, { Prefer: 'respond-async' });
      return { res, mask: [] };
    },
  },
  'decision import-report': {
    compare: 'always',
    async send(caller, relation, random) {
      const id = random ? randomUUID() : w.imports[side(relation)];
      return { res: await as(caller).get(`/fhir/_import/${id}`), mask: [id] };
    },
  },

  'bundle async-status': {
    compare: 'always',
    async send(caller, relation, random) {
      const id = random ? randomUUID() : w.asyncs[side(relation)];
      return { res: await as(caller).get(`/fhir/_async/${id}`), mask: [id] };
    },
  },

  'patient batch-update': {
    target: (r) => instance(`patient:${side(r)}:patient`),
    async send(caller, relation, random) {
      const i = instance(`patient:${side(relation)}:patient`);
      const id = random ? randomUUID() : i.id;
      const res = await as(caller).post('/fhir', { resourceType: 'Bundle', type: 'batch', entry: [{ resource: { ...(await stored(i)), id }, request: { method: 'PUT', url: `Patient/${id}` } }] });
      return { res: entryStatus(res), mask: [id] };
    },
  },
  'patient transaction-conditional-create': {
    target: (r) => instance(`patient:${side(r)}:patient`),
    async send(caller, relation) {
      const res = await transaction(caller, [{ fullUrl: 'urn:uuid:p', resource: freshPatient(), request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${NIR_SYSTEM}|${w.nir[side(relation)]}` } }]);
      return { res: entryStatus(res), mask: [] };
    },
    check: (res, relation) => {
      const id = (res.body as Resource | undefined)?.id;
      const matched = id === instance(`patient:${side(relation)}:patient`).id;
      return res.status === 200 && !matched ? 'matched another patient' : res.status === 201 && matched ? 'created over the match' : undefined;
    },
  },
  'task transaction-create-message': {
    target: (r) => instance(`task:${side(r)}:task`),
    async send(caller, relation, random) {
      const id = random ? randomUUID() : instance(`task:${side(relation)}:task`).id;
      const res = await transaction(caller, [{ resource: { resourceType: 'Communication', status: 'completed', partOf: [{ reference: `Task/${id}` }], payload: [{ contentString: 'Bonjour' }] }, request: { method: 'POST', url: 'Communication' } }]);
      return { res: entryStatus(res), mask: [id] };
    },
  },
  'message transaction-conditional-create': {
    target: (r) => instance(`message:${side(r)}:message`),
    async send(caller, relation, random) {
      const message = random ? randomUUID() : instance(`message:${side(relation)}:message`).id;
      const task = random ? randomUUID() : instance(`task:${side(relation)}:task`).id;
      const res = await transaction(caller, [
        {
          resource: { resourceType: 'Communication', status: 'completed', partOf: [{ reference: `Task/${task}` }], payload: [{ contentString: 'Bonjour' }] },
          request: { method: 'POST', url: 'Communication', ifNoneExist: `_id=${message}&part-of=Task/${task}` },
        },
      ]);
      return { res: entryStatus(res), mask: [message, task] };
    },
    check: (res, relation) => ((res.body as Resource | undefined)?.id === instance(`message:${side(relation)}:message`).id ? undefined : 'did not return the matched message'),
  },

  'patient delete': remove((r) => `patient:${side(r)}:patient`),
  'request delete': remove((r) => `request:${side(r)}:request`),
  'task delete': remove((r) => `task:${side(r)}:task`),
  'volet delete': remove((r) => `volet:${side(r)}:administrative`),
  'message delete': remove((r) => `message:${side(r)}:message`),
  'subscription delete': remove((r) => `subscription:${side(r)}:subscription`),
  'organization delete': remove((r) => `organization:${side(r)}:${SIDES[side(r)].hospital}`),
};

function operation(key: (r: Relation) => string, name: string, body: () => object): WriteSpec {
  return {
    target: (relation) => instance(key(relation)),
    async send(caller, relation, random) {
      const i = instance(key(relation));
      const id = random ? randomUUID() : i.id;
      return { res: await as(caller).post(`/fhir/${i.type}/${id}/${name}`, body()), mask: [id] };
    },
  };
}

function remove(key: (r: Relation) => string): WriteSpec {
  return {
    target: (relation) => instance(key(relation)),
    compare: 'always',
    async send(caller, relation, random) {
      const i = instance(key(relation));
      const id = random ? randomUUID() : i.id;
      return { res: await as(caller).del(`/fhir/${i.type}/${id}`), mask: [id] };
    },
  };
}

describe('writes, operations and Bundle writes', () => {
  it('answer as written, one at a time per resource; a refusal about a hidden resource answers as about a random id', async () => {
    const cells = new Cells();
    // admin first: its conditional creates and updates see the world before the others' writes.
    const order: Caller[] = ['admin', ...CALLERS.filter((c) => c !== 'admin')];
    // Cells about one resource run one after the other (each on the state the previous left); resources in parallel.
    const lanes = new Map<string, [WriteCell, WriteSpec][]>();
    for (const [cell, spec] of Object.entries(WRITES) as [WriteCell, WriteSpec][]) {
      const lane = cell === 'decision sdo-push' ? 'decision-task' : cell.split(' ')[0];
      lanes.set(lane, [...(lanes.get(lane) ?? []), [cell, spec]]);
    }
    const runRow = async (cell: WriteCell, spec: WriteSpec): Promise<void> => {
      for (const relation of RELATIONS) {
        for (const caller of order) {
          const expected = WRITE[cell][caller][relation];
          const what = `${caller} ${relation} ${cell}`;
          const { res, mask } = await spec.send(caller, relation, false);
          cells.check(what, expected, res.status);
          if (res.status === expected && res.status < 300 && spec.check) {
            const problem = spec.check(res, relation);
            if (problem) cells.fail(what, problem);
          }
          const target = spec.target?.(relation);
          const hidden = target ? readOf(caller, target) !== 200 : false;
          const compare = spec.compare ?? 'hidden';
          if (res.status >= 300 && (compare === 'always' || (compare === 'hidden' && hidden))) {
            const random = await spec.send(caller, relation, true);
            cells.check(`${what}: indistinguishable from a random id`, shape(random.res, random.mask), shape(res, [...mask, ...(target ? [target.id] : [])]));
          }
        }
      }
    };
    await pool(
      [...lanes.values()].map((rows) => async () => {
        for (const [cell, spec] of rows) await runRow(cell, spec);
      }),
      6
    );
    cells.done();
  }, 120_000);
});

describe('another client of the same organization', () => {
  it('reads its organization’s subscription, but neither changes it nor reads another client’s import report or asynchronous status', async () => {
    const cells = new Cells();
    const mdph = call(t, w.sameOrganization.mdph);
    const prescriber = call(t, w.sameOrganization.prescriber);
    const subscription = instance('subscription:1:subscription');
    cells.check('other MDPH 13 client: import report', SAME_ORGANIZATION_OTHER_CLIENT['import-report'], (await mdph.get(`/fhir/_import/${w.imports[1]}`)).status);
    cells.check('other H1 prescriber client: async status', SAME_ORGANIZATION_OTHER_CLIENT['async-status'], (await prescriber.get(`/fhir/_async/${w.asyncs[1]}`)).status);
    cells.check('other H1 prescriber client: subscription read', SAME_ORGANIZATION_OTHER_CLIENT['subscription read'], (await prescriber.get(`/fhir/Subscription/${subscription.id}`)).status);
    cells.check('other H1 prescriber client: subscription update', SAME_ORGANIZATION_OTHER_CLIENT['subscription update'], (await prescriber.put(`/fhir/Subscription/${subscription.id}`, await stored(subscription))).status);
    cells.done();
  });
});

describe('a prescriber client of a receiving unit’s organization', () => {
  it('reads the volets its unit received, but neither cites nor rewrites them', async () => {
    const cells = new Cells();
    const unitPrescriber = call(t, await t.tokenFor(['prescriber'], `Organization/org-${SIDES[1].unit}`));
    for (const relation of RELATIONS) {
      const volet = instance(`volet:${side(relation)}:medical`);
      const read = await unitPrescriber.get(`/fhir/QuestionnaireResponse/${volet.id}`);
      cells.check(`unit prescriber ${relation} volet read`, UNIT_AS_PRESCRIBER['volet read'][relation], read.status);
      const patient = (await stored(volet) as QuestionnaireResponse).subject?.reference;
      const cite = await unitPrescriber.post('/fhir/ServiceRequest', { resourceType: 'ServiceRequest', status: 'draft', intent: 'order', subject: { reference: patient }, supportingInfo: [{ reference: `QuestionnaireResponse/${volet.id}` }] });
      cells.check(`unit prescriber ${relation} volet cite`, UNIT_AS_PRESCRIBER['volet cite'][relation], cite.status);
      const current = await stored(volet);
      const rewrite = await unitPrescriber.put(`/fhir/QuestionnaireResponse/${volet.id}`, { ...current, item: [{ linkId: '1', text: 'Réécrit', answer: [{ valueString: 'par une autre organisation' }] }] });
      cells.check(`unit prescriber ${relation} volet rewrite`, UNIT_AS_PRESCRIBER['volet rewrite'][relation], rewrite.status);
      cells.check(`unit prescriber ${relation} volet unchanged`, current.meta?.versionId, (await stored(volet)).meta?.versionId);
    }
    cells.done();
  });
});

// ---------------------------------------------------------------- notifications

describe('notifications', () => {
  it('reach a subscriber only for what it may read', async () => {
    const cells = new Cells();
    const kinds = ['task', 'message', 'decision-task'] as const;
    const criteria = { task: 'Task', message: 'Communication', 'decision-task': 'Task' };
    // One subscription per subscriber and type (decision tasks are Tasks: heard through the Task subscription).
    for (const caller of CALLERS) {
      for (const kind of ['task', 'message'] as const) {
        if (NOTIFIED[kind][caller].own === undefined) continue;
        const res = await as(caller).post('/fhir/Subscription', {
          resourceType: 'Subscription',
          status: 'requested',
          reason: 'Matrice',
          criteria: criteria[kind],
          channel: { type: 'rest-hook', endpoint: w.hook(`${caller}-${kind}`), payload: 'application/fhir+json' },
        });
        if (res.status !== 201) throw new Error(`${caller} subscription: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
    for (const caller of CALLERS) {
      if (NOTIFIED['task redirected'][caller].own === undefined) continue;
      const res = await as(caller).post('/fhir/Subscription', {
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'Matrice (redirection)',
        criteria: 'Task',
        channel: { type: 'rest-hook', endpoint: w.hook(`redirect-${caller}`), payload: 'application/fhir+json' },
      });
      if (res.status !== 201) throw new Error(`${caller} redirected subscription: ${res.status} ${JSON.stringify(res.body)}`);
    }
    // Events on each side: a new request (its task), a message about it, a decision's task moved by its ESMS.
    const events: Record<(typeof kinds)[number], Record<Relation, string>> = { task: { own: '', other: '' }, message: { own: '', other: '' }, 'decision-task': { own: '', other: '' } };
    for (const relation of RELATIONS) {
      const s = SIDES[side(relation)];
      const prescriber = relation === 'own' ? as('prescriber') : call(t, w.side2.prescriber);
      const request = await prescriber.post('/fhir/ServiceRequest', {
        resourceType: 'ServiceRequest',
        status: 'active',
        intent: 'order',
        category: SMR_CATEGORY,
        subject: { reference: `Patient/${instance(`patient:${side(relation)}:patient`).id}` },
        requester: { reference: `Organization/${s.hospital}` },
        performer: [{ reference: `HealthcareService/${s.unit}` }],
        supportingInfo: [
          ...(['medical', 'administrative'] as const).map((v) => ({ reference: `QuestionnaireResponse/${instance(`volet:${side(relation)}:${v}`).id}` })),
          { reference: `Consent/${instance(`consent:${side(relation)}:consent`).id}` },
        ],
      });
      if (request.status !== 201) throw new Error(`event request: ${request.status} ${JSON.stringify(request.body)}`);
      const task = ((await admin().get(`/fhir/Task?focus=ServiceRequest/${request.body.id}`)).body as Bundle<Task>).entry?.[0]?.resource as Task;
      events.task[relation] = task.id as string;
      const message = await prescriber.post('/fhir/Communication', { resourceType: 'Communication', status: 'completed', partOf: [{ reference: `Task/${task.id}` }], payload: [{ contentString: 'Nouvelles ?' }] });
      if (message.status !== 201) throw new Error(`event message: ${message.status}`);
      events.message[relation] = message.body.id;
      const decisionTask = instance(`decision-task:${side(relation)}:task`);
      const current = (await stored(decisionTask)) as Task;
      const to = decisionMoves(esmsStatusOf(current) as EsmsStatus, 'esms')[0];
      const esms = relation === 'own' ? as('esms') : call(t, w.side2.esms);
      const movedTask = await esms.put(`/fhir/Task/${decisionTask.id}`, { ...current, status: ESMS_STATUSES[to].taskStatus, businessStatus: esmsStatusConcept(to) }, { 'If-Match': `W/"${current.meta?.versionId}"` });
      if (movedTask.status !== 200) throw new Error(`event decision task: ${movedTask.status} ${JSON.stringify(movedTask.body)}`);
      events['decision-task'][relation] = decisionTask.id;
    }
    // Every event dispatched, and delivered to every subscription still active (those redirected are in error).
    await waitFor(
      'every notification of the events handled',
      async () =>
        (
          await t.gateway.db.query<{ n: number }>(
            `SELECT (SELECT count(*) FROM job_schedule WHERE queue = 'notify' AND state = 'pending' AND job_id LIKE 'dispatch.%')
                  + (SELECT count(*) FROM subscription WHERE status = 'active' AND delivered_through < events_since_start) AS n`
          )
        ).rows[0].n == 0,
      30_000
    );
    const focusesOf = (b: Bundle): string[] =>
      ((b.entry?.[0]?.resource as Parameters | undefined)?.parameter ?? [])
        .filter((p) => p.name === 'notification-event')
        .flatMap((p) => p.part?.find((x) => x.name === 'focus')?.valueReference?.reference ?? []);
    for (const caller of CALLERS) {
      for (const kind of kinds) {
        const hook = `${caller}-${kind === 'decision-task' ? 'task' : kind}`;
        const heard = (deliveries.get(hook) ?? []).flatMap(focusesOf);
        for (const relation of RELATIONS) {
          const expected = NOTIFIED[kind][caller][relation];
          if (expected === undefined) continue;
          const type = kind === 'message' ? 'Communication' : 'Task';
          cells.check(`${caller} notified of ${relation} ${kind}`, expected, heard.includes(`http://aiguillage.test/fhir/${type}/${events[kind][relation]}`));
        }
        // Id-only: no content ever travels.
        cells.check(`${caller} ${kind} notifications carry no content`, [], (deliveries.get(hook) ?? []).filter((b) => b.entry?.[1]?.resource !== undefined));
      }
      const redirected = (deliveries.get(`redirected-redirect-${caller}`) ?? []).flatMap(focusesOf);
      for (const relation of RELATIONS) {
        const expected = NOTIFIED['task redirected'][caller][relation];
        if (expected === undefined) continue;
        cells.check(`${caller} notified of ${relation} task through a redirect`, expected, redirected.includes(`http://aiguillage.test/fhir/Task/${events.task[relation]}`));
      }
    }
    cells.done();
  }, 60_000);
});

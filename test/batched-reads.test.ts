/**
 * Reads by id batched across concurrent requests (src/store/batched-reads.ts):
 * concurrent reads share statements yet each caller gets what it alone may
 * see, a resource of its own, and an audit record stored before its answer;
 * a read asked while a statement runs waits for the next one (so it sees
 * what was committed before it was asked).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Patient, Resource } from '@medplum/fhirtypes';
import type { Queryable } from '../src/store/db.js';
import { readCurrentBatched } from '../src/store/batched-reads.js';
import { sql } from '../src/store/sql.js';
import { FHIR_JSON, startTestGateway, testPatient, type TestGateway } from './helpers.js';

const PATIENT = { table: 'patient', type: 'Patient' };
const ORG_A = 'https://finess.esante.gouv.fr|750000001';
const ORG_B = 'https://finess.esante.gouv.fr|690000002';

let t: TestGateway;
let tokenA: string;
let tokenB: string;
beforeAll(async () => {
  t = await startTestGateway();
  tokenA = await t.tokenFor(['prescriber'], ORG_A);
  tokenB = await t.tokenFor(['prescriber'], ORG_B);
});
afterAll(() => t.close());

async function createPatient(token: string): Promise<string> {
  const res = await t.http.post('/fhir/Patient').set('Authorization', `Bearer ${token}`).type(FHIR_JSON).send(testPatient());
  expect(res.status).toBe(201);
  return (res.body as Patient).id as string;
}

/** The gateway's database, counting the statements run through it (and able to hold the first `held` back). */
function counted(hold?: Promise<void>, held = 1): Queryable & { statements: string[] } {
  const db = t.gateway.db;
  const statements: string[] = [];
  return {
    kind: db.kind,
    statements,
    async query(text, params, name) {
      statements.push(text);
      if (hold && statements.length <= held) await hold;
      return db.query(text, params, name);
    },
    exec: (text) => db.exec(text),
  };
}

const ownedBy = (org: string): ReturnType<typeof sql> => sql`t.owner_org = ${org}`;

describe('reads by id batched across concurrent requests', () => {
  it('answer many concurrent reads in one statement, each with its own resource', async () => {
    const ids = [await createPatient(tokenA), await createPatient(tokenA), await createPatient(tokenA)];
    const db = counted();
    const asked = [...ids, ids[0], ids[0], 'no-such-patient'];
    const found = await Promise.all(asked.map((id) => readCurrentBatched(db, PATIENT, id, ownedBy(ORG_A))));
    expect(db.statements).toHaveLength(1);
    expect(found.map((r) => r?.id)).toEqual([...ids, ids[0], ids[0], undefined]);
    // Two callers of the same id do not share an object: one changing its answer does not change the other's.
    expect(found[3]).toEqual(found[0]);
    expect(found[3]).not.toBe(found[0]);
    (found[3] as Resource).id = 'changed';
    expect(found[4]?.id).toBe(ids[0]);
  });

  it('batch only reads under the same visibility rule: a caller never gets what another may see', async () => {
    const [a, b] = [await createPatient(tokenA), await createPatient(tokenB)];
    const db = counted();
    const [aByA, bByA, aByB, bByB] = await Promise.all([
      readCurrentBatched(db, PATIENT, a, ownedBy(ORG_A)),
      readCurrentBatched(db, PATIENT, b, ownedBy(ORG_A)),
      readCurrentBatched(db, PATIENT, a, ownedBy(ORG_B)),
      readCurrentBatched(db, PATIENT, b, ownedBy(ORG_B)),
    ]);
    expect([aByA?.id, bByA, aByB, bByB?.id]).toEqual([a, undefined, undefined, b]);
    expect(db.statements).toHaveLength(2);
  });

  it('put a read asked while a statement runs in the next statement, which sees what was committed before it was asked', async () => {
    const first = await createPatient(tokenA);
    let release = (): void => undefined;
    const db = counted(new Promise<void>((resolve) => (release = resolve)));
    const early = readCurrentBatched(db, PATIENT, first, ownedBy(ORG_A));
    while (db.statements.length === 0) await new Promise((r) => setImmediate(r));
    // Created (and committed) after the first statement was sent: only a later statement can see it.
    const later = await createPatient(tokenA);
    const late = readCurrentBatched(db, PATIENT, later, ownedBy(ORG_A));
    release();
    expect((await early)?.id).toBe(first);
    expect((await late)?.id).toBe(later);
    expect(db.statements).toHaveLength(2);
  });

  it('run up to four statements of a lane at once; reads asked while four run share the next', async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => createPatient(tokenA)));
    let release = (): void => undefined;
    const db = counted(new Promise<void>((resolve) => (release = resolve)), 4);
    const reads: Promise<Resource | undefined>[] = [];
    for (const id of ids) {
      reads.push(readCurrentBatched(db, PATIENT, id, ownedBy(ORG_A)));
      // Each read in a turn of its own: alone, it would have a statement of its own.
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    }
    expect(db.statements).toHaveLength(4);
    release();
    expect((await Promise.all(reads)).map((r) => r?.id)).toEqual(ids);
    expect(db.statements).toHaveLength(5);
  });

  it('fail every read of a statement that fails, and serve the next reads', async () => {
    const id = await createPatient(tokenA);
    const db = counted();
    const broken: Queryable = { ...db, query: () => Promise.reject(new Error('connection lost')) };
    const reads = [readCurrentBatched(broken, PATIENT, id, ownedBy(ORG_A)), readCurrentBatched(broken, PATIENT, 'other', ownedBy(ORG_A))];
    for (const read of reads) await expect(read).rejects.toThrow('connection lost');
    expect((await readCurrentBatched(db, PATIENT, id, ownedBy(ORG_A)))?.id).toBe(id);
  });

  it('over HTTP: concurrent reads by two organizations each answer as alone, each audited before its answer', async () => {
    const mine = [await createPatient(tokenA), await createPatient(tokenA)];
    const theirs = await createPatient(tokenB);
    const asked: { token: string; id: string; status: number }[] = [];
    for (let i = 0; i < 12; i++) {
      asked.push({ token: tokenA, id: mine[i % 2], status: 200 }, { token: tokenB, id: theirs, status: 200 }, { token: tokenB, id: mine[i % 2], status: 404 }, { token: tokenA, id: theirs, status: 404 });
    }
    const answers = await Promise.all(asked.map((a) => t.http.get(`/fhir/Patient/${a.id}`).set('Authorization', `Bearer ${a.token}`)));
    answers.forEach((res, i) => {
      expect(res.status).toBe(asked[i].status);
      if (res.status === 200) expect((res.body as Patient).id).toBe(asked[i].id);
    });
    // No wait: each read's record was stored before it was answered, found or refused.
    const { rows } = await t.gateway.db.query<{ entity: string; status: number; n: number }>(
      `SELECT entities[1] AS entity, status, count(*)::int AS n FROM audit_event
        WHERE interaction = 'read' AND entities[1] = ANY($1::text[]) GROUP BY 1, 2 ORDER BY 1, 2`,
      [[...mine, theirs].map((id) => `Patient/${id}`)]
    );
    const expected = new Map<string, number>();
    for (const a of asked) expected.set(`Patient/${a.id}|${a.status}`, (expected.get(`Patient/${a.id}|${a.status}`) ?? 0) + 1);
    expect(new Map(rows.map((r) => [`${r.entity}|${r.status}`, r.n]))).toEqual(expected);
  });
});

/**
 * Redis away at start-up: requests that schedule background work answer at
 * once (the work is recorded in PostgreSQL), the jobs are handed to the
 * queues when Redis comes, and each completes exactly once; stopping with
 * Redis away takes seconds.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { fromRoot } from '../src/paths.js';
import { FHIR_JSON, startTestGateway, testPatient, waitFor, type TestGateway } from './helpers.js';
import { startPrivateRedis, type PrivateRedis } from './private-services.js';

const MDPH = 'https://aiguillage.org/fhir/NamingSystem/mdph';

let t: TestGateway | undefined;
let redis: PrivateRedis | undefined;
afterEach(async () => {
  await t?.close();
  await redis?.close();
  t = undefined;
  redis = undefined;
});

/** Runs `call` and returns its answer with how long it took (ms). */
async function timed<T>(call: () => PromiseLike<T>): Promise<[T, number]> {
  const started = performance.now();
  const answer = await call();
  return [answer, performance.now() - started];
}

describe('Redis unreachable at start-up', () => {
  it('answers an import and an asynchronous Bundle at once, then completes each exactly once when Redis starts', async () => {
    redis = await startPrivateRedis({ started: false });
    t = await startTestGateway({ workers: true, config: { redisUrl: redis.url } });
    const gateway = t;
    const mdph = { Authorization: `Bearer ${await gateway.tokenFor(['mdph'], `${MDPH}|75`)}` };
    const prescriber = { Authorization: `Bearer ${await gateway.tokenFor(['prescriber'], 'https://finess.esante.gouv.fr|750000001')}` };

    const file = fs.readFileSync(fromRoot('fixtures/decisions/valid.csv'));
    const [imported, importMs] = await timed(() =>
      gateway.http.post('/fhir/$import-decisions').set(mdph).set('Prefer', 'respond-async').set('Content-Type', 'text/csv').send(file)
    );
    expect(imported.status, JSON.stringify(imported.body)).toBe(202);
    expect(importMs).toBeLessThan(2_000);

    const patients = [testPatient(), testPatient()];
    const bundle: Bundle = { resourceType: 'Bundle', type: 'batch', entry: patients.map((resource) => ({ resource, request: { method: 'POST', url: 'Patient' } })) };
    const [sent, bundleMs] = await timed(() => gateway.http.post('/fhir').set(prescriber).set('Prefer', 'respond-async').set('Content-Type', FHIR_JSON).send(bundle));
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    expect(bundleMs).toBeLessThan(2_000);

    // Without Redis, both wait in PostgreSQL: their status URLs say so, and nothing has run.
    const importUrl = new URL(imported.headers['content-location'] as string).pathname;
    const bundleUrl = new URL(sent.headers['content-location'] as string).pathname;
    await new Promise((r) => setTimeout(r, 500));
    expect((await gateway.http.get(importUrl).set(mdph)).status).toBe(202);
    expect((await gateway.http.get(bundleUrl).set(prescriber)).status).toBe(202);

    await redis.start();
    // The reconcile interval of tests is a minute: the handover comes from Redis coming back, not from the timer.
    const report = await waitFor('the import report', async () => {
      const res = await gateway.http.get(importUrl).set(mdph);
      return res.status === 200 && (res.body as OperationOutcome);
    }, 20_000);
    expect(JSON.stringify(report)).toMatch(/row/i);
    const answers = await waitFor('the batch-response', async () => {
      const res = await gateway.http.get(bundleUrl).set(prescriber);
      return res.status === 200 && (res.body as Bundle);
    }, 20_000);
    expect(answers.entry?.map((e) => e.response?.status)).toEqual(['201', '201']);

    // Exactly once: each job ran one attempt and is done, each Patient exists once, the import ran once.
    const { rows: jobs } = await gateway.gateway.db.query<{ queue: string; state: string; attempts: number }>(
      `SELECT queue, state, attempts FROM job_schedule WHERE queue IN ('mdph-import', 'async-bundle') ORDER BY queue`
    );
    expect(jobs).toEqual([
      { queue: 'async-bundle', state: 'done', attempts: 1 },
      { queue: 'mdph-import', state: 'done', attempts: 1 },
    ]);
    for (const patient of patients) {
      const nir = patient.identifier?.[0];
      const found = await gateway.http.get(`/fhir/Patient?identifier=${encodeURIComponent(`${nir?.system}|${nir?.value}`)}`).set(prescriber);
      expect(found.body.total ?? found.body.entry?.length).toBe(1);
    }
    const { rows: imports } = await gateway.gateway.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM decision_import`);
    expect(imports[0].n).toBe(1);
  }, 60_000);

  it('stops in under 5 seconds while Redis is still away', async () => {
    redis = await startPrivateRedis({ started: false });
    t = await startTestGateway({ workers: true, config: { redisUrl: redis.url } });
    const [, stopMs] = await timed(() => (t as TestGateway).close());
    t = undefined;
    expect(stopMs).toBeLessThan(5_000);
  }, 30_000);
});

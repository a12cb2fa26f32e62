/**
 * Faults, injected for real: PostgreSQL stopped under load and started again,
 * Redis killed and restarted empty, worker processes SIGKILLed in the middle
 * of an MDPH import and of a ROR pull. Each test runs against services of its
 * own (test/private-services.ts), so the other test files are not disturbed.
 * `FAULT_SCALE` (default 1) multiplies the sizes; `npm run test:faults` runs
 * these with FAULT_SCALE=5.
 */
import type { Bundle, Task } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDuration } from '../mappings/duration.js';
import { rorEnv, startFakeRor, type FakeRor } from './fake-ror.js';
import { createTestDatabase, startTestGateway, testPatient, waitFor, type TestGateway } from './helpers.js';
import { startPrivatePostgres, startPrivateRedis, spawnWorker, type PrivatePostgres, type PrivateRedis, type WorkerProcess } from './private-services.js';
import { as, current, idFrom, makeWorld, move, submission, type World } from './referral-world.js';

const SCALE = Math.max(1, Number(process.env.FAULT_SCALE ?? 1));
const DECISION_HEADER = 'numero_individu;date_naissance;nom;prenom;sexe;id_decision;id_nat_decision;categorie_esms;date_debut_validite;date_fin_validite;caracterisation_esms;caracterisation_pro;creton;finess_esms';

/** Invariants no crash may break: every current row has its rendering, every request its tasks, every write its audit event. */
async function checkConsistent(db: { query: TestGateway['gateway']['db']['query'] }): Promise<void> {
  const q = async (sql: string): Promise<number> => Number((await db.query<{ n: string }>(sql)).rows[0].n);
  for (const [table, type] of [
    ['patient', 'Patient'],
    ['referral', 'ServiceRequest'],
    ['task', 'Task'],
    ['volet', 'QuestionnaireResponse'],
  ]) {
    const orphans = await q(`SELECT count(*) AS n FROM ${table} t WHERE NOT EXISTS (SELECT 1 FROM resource_history h WHERE h.resource_type = '${type}' AND h.id = t.id AND h.version = t.version)`);
    expect(orphans, `${table} rows without their rendering`).toBe(0);
    const unaudited = await q(`SELECT count(*) AS n FROM ${table} t WHERE NOT EXISTS (SELECT 1 FROM audit_event a WHERE a.entities @> ARRAY['${type}/' || t.id] AND a.action = 'C')`);
    expect(unaudited, `${table} rows created without an audit event`).toBe(0);
  }
  const partial = await q(`SELECT count(*) AS n FROM referral r WHERE r.module IS DISTINCT FROM 'decision' AND (SELECT count(*) FROM task t WHERE t.referral_id = r.id) <> 2`);
  expect(partial, 'requests without both their tasks').toBe(0);
}

describe('PostgreSQL stopped', () => {
  let cluster: PrivatePostgres;
  let t: TestGateway;
  let w: World;
  beforeAll(async () => {
    cluster = await startPrivatePostgres();
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query('CREATE DATABASE aiguillage');
    await admin.end();
    const url = new URL(cluster.url);
    url.pathname = '/aiguillage';
    t = await startTestGateway({ config: { databaseUrl: url.toString(), poolSize: 8 } });
    w = await makeWorld(t);
  });
  afterAll(async () => {
    await t?.close().catch(() => undefined);
    cluster?.close();
  });

  it('/readyz answers within its bound while PostgreSQL hangs (connections open, nothing answering)', async () => {
    expect((await t.http.get('/readyz')).status).toBe(200);
    cluster.freeze();
    try {
      const started = performance.now();
      const ready = await t.http.get('/readyz');
      const took = performance.now() - started;
      expect(ready.status).toBe(503);
      expect(ready.body).toEqual({ status: 'not-ready', checks: { postgres: 'down', redis: 'up' } });
      expect(took).toBeLessThan(4_000); // the bound is 2 s
    } finally {
      cluster.thaw();
    }
    await waitFor('readiness after PostgreSQL answered again', async () => (await t.http.get('/readyz')).status === 200, 30_000);
  });

  it('answers 503 while it is down (and /readyz says so), recovers by itself, and leaves no request half-applied', async () => {
    const submit = () => as(w, w.prescriber).post('', submission(['smr', 'had']));
    expect((await submit()).status).toBe(200);
    // Submissions in flight when the server dies.
    const inFlight = Array.from({ length: 12 * SCALE }, (_, i) => new Promise((r) => setTimeout(r, i * 10)).then(submit));
    await new Promise((r) => setTimeout(r, 40));
    cluster.stop();
    const during = await Promise.all(inFlight);
    const statuses = during.map((r) => r.status);
    expect(statuses.every((s) => s === 200 || s === 503), `statuses: ${statuses.join(' ')}`).toBe(true);
    for (const r of during.filter((r) => r.status === 503)) {
      expect(r.body.resourceType).toBe('OperationOutcome');
      expect(r.headers['retry-after']).toBeDefined();
    }
    // While it is down: every kind of request answers 503 with an OperationOutcome.
    for (const res of [await as(w, w.prescriber).get('Patient?family=Dupont'), await as(w, w.prescriber).post('Patient', testPatient()), await submit(), await as(w, w.admin).get('AuditEvent')]) {
      expect(res.status).toBe(503);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
    const ready = await t.http.get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'not-ready', checks: { postgres: 'down' } });
    // Back: the gateway reconnects by itself.
    cluster.start();
    await waitFor('readiness after PostgreSQL came back', async () => (await t.http.get('/readyz')).status === 200, 30_000);
    const after = await submit();
    expect(after.status).toBe(200);
    // What was answered 200 is stored; nothing is stored by halves.
    for (const r of [...during, after].filter((r) => r.status === 200)) {
      const requestId = idFrom((r.body as Bundle).entry?.[5]?.response?.location);
      expect((await as(w, w.prescriber).get(`ServiceRequest/${requestId}`)).status).toBe(200);
    }
    await checkConsistent(t.gateway.db);
    const stored = (await t.gateway.db.query<{ n: string }>(`SELECT count(*) AS n FROM referral`)).rows[0].n;
    expect(Number(stored)).toBeGreaterThanOrEqual(2 + during.filter((r) => r.status === 200).length);
  });
});

describe('Redis killed and restarted empty', () => {
  let redis: PrivateRedis;
  let t: TestGateway;
  let w: World;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    t = await startTestGateway({
      workers: true,
      config: {
        redisUrl: redis.url,
        reconcileIntervalMs: 300,
        referralDurations: { manualReminder: parseDuration('72h'), automaticReminder: parseDuration('4s'), automaticCancellation: parseDuration('30d'), archiving: parseDuration('15d') },
      },
    });
    w = await makeWorld(t);
  });
  afterAll(async () => {
    await t?.close().catch(() => undefined);
    await redis?.close();
  });

  it('keeps serving the API, then rebuilds pending imports and deadlines from PostgreSQL', async () => {
    await redis.kill();
    const ready = await t.http.get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toEqual({ status: 'not-ready', checks: { postgres: 'up', redis: 'down' } });
    // Writes go on: their jobs are recorded in PostgreSQL.
    const submitted = await as(w, w.prescriber).post('', submission(['smr', 'had']));
    expect(submitted.status).toBe(200);
    const requestId = idFrom((submitted.body as Bundle).entry?.[5]?.response?.location);
    const tasks = (((await as(w, w.prescriber).get(`Task?focus=ServiceRequest/${requestId}`)).body as Bundle<Task>).entry ?? []).map((e) => e.resource as Task);
    const smr = tasks.find((task) => task.owner?.reference === 'HealthcareService/smr') as Task;
    // The unit accepts: the automatic reminder falls due 4 s (scaled) later, while Redis is away.
    expect((await move(w, w.unit.smr, await current(w, smr.id as string), 'accepted')).status).toBe(200);
    const mdph = await t.tokenFor(['mdph'], 'https://aiguillage.org/fhir/NamingSystem/mdph|31');
    const file = `${[
      DECISION_HEADER,
      'IND-1;2001-02-03;Martin;Paul;M;R1;;255;2025-01-01;2029-01-01;;;0;310000001',
    ].join('\n')}\n`;
    const upload = await t.http.post('/fhir/$import-decisions').set('Authorization', `Bearer ${mdph}`).set('Prefer', 'respond-async').set('Content-Type', 'text/csv').send(file);
    expect(upload.status).toBe(202);
    const status = new URL(upload.headers['content-location']).pathname;
    // Redis comes back empty.
    await redis.start();
    await waitFor('readiness after Redis came back', async () => (await t.http.get('/readyz')).status === 200, 20_000);
    await waitFor('the import, rebuilt from PostgreSQL', async () => (await t.http.get(status).set('Authorization', `Bearer ${mdph}`)).status === 200, 30_000);
    expect(JSON.stringify((await t.http.get(status).set('Authorization', `Bearer ${mdph}`)).body)).toContain('1 rows read, 1 applied, 0 rejected');
    // The reminder, recorded in PostgreSQL only, is handed to the new Redis and runs.
    await waitFor(
      'the automatic reminder, rebuilt from PostgreSQL',
      async () => (await t.gateway.db.query<{ at: Date | null }>(`SELECT reminder_sent_at AS at FROM referral WHERE id = $1`, [requestId])).rows[0].at !== null,
      30_000
    );
    const reminders = await as(w, w.prescriber).get(`Communication?part-of=Task/${smr.id}`);
    expect(((reminders.body as Bundle).entry ?? []).length).toBe(1);
  }, 120_000);
});

describe('workers killed with SIGKILL', () => {
  const workers: WorkerProcess[] = [];
  let fake: FakeRor | undefined;
  afterAll(async () => {
    for (const worker of workers) await worker.kill();
    await fake?.close();
  });

  it('an MDPH import killed mid-file is taken up by another worker: no row lost, none doubled', async () => {
    const databaseUrl = await createTestDatabase();
    const t = await startTestGateway({ config: { databaseUrl } });
    try {
      const env = { DATABASE_URL: databaseUrl, REDIS_URL: t.gateway.config.redisUrl, AIGUILLAGE_QUEUE_PREFIX: t.gateway.config.queuePrefix, AIGUILLAGE_JOB_LOCK_MS: '1500', AIGUILLAGE_RECONCILE_INTERVAL_MS: '500' };
      const rows = 12_000 * SCALE;
      const lines = [DECISION_HEADER];
      for (let i = 0; i < rows; i++) lines.push(`S${Math.floor(i / 2)};2000-01-01;Nom${i};Prénom;F;SIG-${Math.floor(i / 2)};;255;2025-01-01;2029-01-01;;;0;75000020${1 + (i % 2)}`);
      const mdph = await t.tokenFor(['mdph'], 'https://aiguillage.org/fhir/NamingSystem/mdph|44');
      const first = spawnWorker(env);
      workers.push(first);
      const upload = await t.http.post('/fhir/$import-decisions').set('Authorization', `Bearer ${mdph}`).set('Prefer', 'respond-async').set('Content-Type', 'text/csv').send(`${lines.join('\n')}\n`);
      expect(upload.status).toBe(202);
      const importId = new URL(upload.headers['content-location']).pathname.split('/').pop() as string;
      const chunks = async (): Promise<number> => Number((await t.gateway.db.query<{ n: string }>(`SELECT count(*) AS n FROM decision_import_chunk WHERE import_id = $1`, [importId])).rows[0].n);
      await waitFor('a first committed chunk', async () => (await chunks()) >= 1, 60_000);
      await first.kill();
      const state = (await t.gateway.db.query<{ state: string }>(`SELECT state FROM decision_import WHERE id = $1`, [importId])).rows[0].state;
      expect(state).toBe('in-progress');
      expect(await chunks()).toBeLessThan(rows / 2_000);
      const second = spawnWorker(env);
      workers.push(second);
      await waitFor('the import completed by the second worker', async () => (await t.gateway.db.query<{ state: string }>(`SELECT state FROM decision_import WHERE id = $1`, [importId])).rows[0].state === 'completed', 120_000);
      const counts = (
        await t.gateway.db.query<{ d: number; tk: number; p: number; dv: number; hist: number; ok: number }>(
          `SELECT (SELECT count(*)::int FROM referral WHERE department = '44') AS d,
                  (SELECT count(*)::int FROM task WHERE department = '44') AS tk,
                  (SELECT count(*)::int FROM patient WHERE owner_org LIKE '%mdph|44') AS p,
                  (SELECT count(*)::int FROM referral WHERE department = '44' AND version <> 1) AS dv,
                  (SELECT count(*)::int FROM resource_history h WHERE (h.resource_type, h.id) IN (
                     SELECT 'ServiceRequest', id FROM referral WHERE department = '44' UNION ALL SELECT 'Task', id FROM task WHERE department = '44'
                     UNION ALL SELECT 'Patient', id FROM patient WHERE owner_org LIKE '%mdph|44')) AS hist,
                  (SELECT rows_ok FROM decision_import WHERE id = '${importId}') AS ok`
        )
      ).rows[0];
      expect(counts).toEqual({ d: rows / 2, tk: rows, p: rows / 2, dv: 0, hist: rows / 2 + rows + rows / 2, ok: rows });
      await second.kill();
    } finally {
      await t.close();
    }
  }, 300_000);

  it('a ROR pull killed mid-load is resumed by the next worker: the whole directory, each resource once', async () => {
    const services = 6_000 * SCALE;
    fake = await startFakeRor({ organizations: 200, locations: 200, services });
    const databaseUrl = await createTestDatabase();
    const t = await startTestGateway({ config: { databaseUrl } });
    try {
      const env = {
        DATABASE_URL: databaseUrl,
        REDIS_URL: t.gateway.config.redisUrl,
        AIGUILLAGE_QUEUE_PREFIX: t.gateway.config.queuePrefix,
        AIGUILLAGE_JOB_LOCK_MS: '1500',
        AIGUILLAGE_RECONCILE_INTERVAL_MS: '500',
        ...rorEnv(fake),
      };
      const first = spawnWorker(env);
      workers.push(first);
      const units = async (): Promise<number> => Number((await t.gateway.db.query<{ n: string }>(`SELECT count(*) AS n FROM healthcare_service`)).rows[0].n);
      await waitFor('units arriving', async () => (await units()) >= 500, 60_000);
      await first.kill();
      const interrupted = (await t.gateway.db.query<{ state: string }>(`SELECT state FROM ror_sync ORDER BY started_at DESC LIMIT 1`)).rows[0].state;
      expect(interrupted).toBe('running');
      expect(await units()).toBeLessThan(services);
      const second = spawnWorker(env);
      workers.push(second);
      await waitFor('the pull completed by the second worker', async () => Number((await t.gateway.db.query<{ n: string }>(`SELECT count(*) AS n FROM ror_sync WHERE state = 'completed'`)).rows[0].n) === 1, 120_000);
      const counts = (
        await t.gateway.db.query<{ o: number; l: number; s: number; h: number; v: number }>(
          `SELECT (SELECT count(*)::int FROM organization) AS o, (SELECT count(*)::int FROM location) AS l, (SELECT count(*)::int FROM healthcare_service) AS s,
                  (SELECT count(*)::int FROM resource_history WHERE resource_type <> 'Questionnaire') AS h, (SELECT count(*)::int FROM healthcare_service WHERE version <> 1) AS v`
        )
      ).rows[0];
      // (the history of the directory: the gateway's own forms, published at start, aside)
      expect(counts).toEqual({ o: 200, l: 200, s: services, h: 400 + services, v: 0 });
      await second.kill();
    } finally {
      await t.close();
    }
  }, 300_000);
});

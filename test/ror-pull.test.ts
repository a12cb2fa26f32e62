/** Pulling the directory from a ROR FHIR API (a fake one, served over HTTP): full load, deltas, resumption, faults. */
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { HealthcareService } from '@medplum/fhirtypes';
import { RorClient } from '../src/ror/client.js';
import { openSync, runSync, type PullDeps } from '../src/ror/pull.js';
import { ROR_HEADERS, rorEnv, startFakeRor, type FakeRor } from './fake-ror.js';
import { startTestGateway, type TestGateway } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<void>)();
});

async function setup(options: Parameters<typeof startFakeRor>[0] = {}): Promise<{ fake: FakeRor; t: TestGateway; deps: PullDeps }> {
  const fake = await startFakeRor(options);
  const t = await startTestGateway();
  cleanups.push(() => fake.close(), () => t.close());
  return { fake, t, deps: depsFor(t, fake) };
}

function depsFor(t: TestGateway, fake: FakeRor): PullDeps {
  const client = new RorClient({ baseUrl: fake.url, tokenUrl: fake.tokenUrl, clientId: fake.clientId, clientSecret: fake.clientSecret, headers: ROR_HEADERS, backoffMs: 5 });
  return { db: t.gateway.db, validator: t.gateway.services.validator, clock: { now: () => new Date() }, client, pollDelayMs: 5 };
}

/** Every directory resource as stored: type/id → version and content (server meta aside). */
async function snapshot(t: TestGateway): Promise<Map<string, string>> {
  const { rows } = await t.gateway.db.query<{ k: string; v: string }>(
    `SELECT h.resource_type || '/' || h.id AS k, t.version || ' ' || (h.content::jsonb - 'meta')::text || coalesce(h.content->'meta'->>'tag', '') AS v
       FROM (SELECT 'Organization' AS type, id, version FROM organization UNION ALL SELECT 'Location', id, version FROM location UNION ALL SELECT 'HealthcareService', id, version FROM healthcare_service) t
       JOIN resource_history h ON h.resource_type = t.type AND h.id = t.id AND h.version = t.version`
  );
  return new Map(rows.map((r) => [r.k, r.v]));
}

/** What the directory holds (its history: the gateway's own forms, published at start, aside). */
async function counts(t: TestGateway): Promise<Record<string, number>> {
  const { rows } = await t.gateway.db.query<{ o: number; l: number; s: number; h: number }>(
    `SELECT (SELECT count(*)::int FROM organization) AS o, (SELECT count(*)::int FROM location) AS l, (SELECT count(*)::int FROM healthcare_service) AS s, (SELECT count(*)::int FROM resource_history WHERE resource_type <> 'Questionnaire') AS h`
  );
  return rows[0];
}

describe('ROR pull', () => {
  it('loads the whole directory with $export (kick-off, polls, JSON files)', async () => {
    const { fake, t, deps } = await setup({ organizations: 40, locations: 60, services: 700 });
    const id = await openSync(t.gateway.db, 'auto', new Date());
    const result = await runSync(deps, id);
    expect(result).toMatchObject({ state: 'completed', mode: 'full', applied: 800, rejected: 0 });
    expect(await counts(t)).toEqual({ o: 40, l: 60, s: 700, h: 800 });
    expect(fake.counters.exportKickOffs).toBe(1);
    const unit = (await t.http.get('/fhir/HealthcareService/hs-123')).body as HealthcareService;
    expect(unit.name).toBe('Offre 123');
    expect(unit.meta?.tag?.[0].code).toBe('76');
  });

  it('then applies deltas: changed and new units, with their organizations and places, nothing else', async () => {
    const { fake, t, deps } = await setup({ organizations: 10, locations: 10, services: 120 });
    await runSync(deps, await openSync(t.gateway.db, 'auto', new Date(Date.now() - 1000)));
    fake.touch(5, 'Offre 5 renommée');
    fake.touch(77, 'Offre 77 renommée');
    fake.services.push({ ...fake.services[0], id: 'hs-new', identifier: [{ type: fake.services[0].identifier?.[0].type, value: '76/new' }], name: 'Nouvelle offre', meta: { lastUpdated: new Date(Date.now() + 1000).toISOString() } });
    const before = await counts(t);
    const delta = await runSync({ ...deps }, await openSync(t.gateway.db, 'auto', new Date()));
    expect(delta).toMatchObject({ mode: 'delta', state: 'completed', applied: 3, rejected: 0 });
    expect(await counts(t)).toEqual({ ...before, s: before.s + 1, h: before.h + 3 });
    expect((await t.http.get('/fhir/HealthcareService/hs-77')).body).toMatchObject({ name: 'Offre 77 renommée', meta: { versionId: '2' } });
    expect((await t.http.get('/fhir/Organization/org-5')).body.meta.versionId).toBe('1');
  });

  it('resumes a full load killed mid-way: same final state as an uninterrupted one, no duplicates', async () => {
    const options = { organizations: 30, locations: 30, services: 1300 };
    const whole = await setup(options);
    await runSync(whole.deps, await openSync(whole.t.gateway.db, 'full', new Date()));
    const expected = await snapshot(whole.t);
    // Four files, the units ones in two chunks each: every file is downloaded once.
    expect(whole.fake.counters.fileDownloads).toBe(4);

    const { t, deps, fake } = await setup(options);
    const id = await openSync(t.gateway.db, 'full', new Date());
    // kick-off, poll, the organizations file, the places file, then 500 of the 650 units of the first units file: then the process "dies".
    const interrupted = await runSync(deps, id, { stopAfterSteps: 5 });
    expect(interrupted.state).toBe('running');
    expect(interrupted.file_index).toBe(2);
    expect(interrupted.file_offset).toBe(500);
    // A new process (new client, new token) resumes the same pull.
    const resumed = await runSync(depsFor(t, fake), await openSync(t.gateway.db, 'auto', new Date()));
    expect(resumed.id).toBe(id);
    expect(resumed.state).toBe('completed');
    expect(await snapshot(t)).toEqual(expected);
    expect((await counts(t)).h).toBe(1360);
  });

  it('resumes a delta killed between two pages', async () => {
    const { fake, t, deps } = await setup({ organizations: 5, locations: 5, services: 50 });
    await runSync(deps, await openSync(t.gateway.db, 'full', new Date(Date.now() - 1000)));
    for (let i = 0; i < 30; i++) fake.touch(i, `Offre ${i} bis`);
    const id = await openSync(t.gateway.db, 'auto', new Date(), 10);
    const first = await runSync(deps, id, { stopAfterSteps: 1 });
    expect(first.next_url).toContain('_page=1');
    const done = await runSync(deps, id);
    expect(done).toMatchObject({ state: 'completed', applied: 30 });
    const { rows } = await t.gateway.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM healthcare_service WHERE version = 2`);
    expect(rows[0].n).toBe(30);
  });

  it('retries 429 and 5xx with back-off, and renews a token the server revoked', async () => {
    const { fake, t, deps } = await setup({ services: 200 });
    fake.faults.tooMany = 3;
    fake.faults.unavailable = 2;
    const id = await openSync(t.gateway.db, 'full', new Date());
    const kickedOff = await runSync(deps, id, { stopAfterSteps: 1 });
    expect(kickedOff.status_url).toBeTruthy();
    fake.faults.revokeTokens = true;
    const result = await runSync(deps, id);
    expect(result.state).toBe('completed');
    expect(deps.client.stats.retries).toBeGreaterThanOrEqual(5);
    expect(fake.counters.unauthorized).toBeGreaterThanOrEqual(1);
    expect(fake.counters.tokens).toBe(2);
    expect((await counts(t)).s).toBe(200);
  });

  it('renews an expired token by itself', async () => {
    const { fake, t, deps } = await setup({ services: 60, tokenTtl: 1 });
    const id = await openSync(t.gateway.db, 'full', new Date());
    await runSync(deps, id, { stopAfterSteps: 2 });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await runSync(deps, id)).state).toBe('completed');
    expect(fake.counters.tokens).toBeGreaterThanOrEqual(2);
  });

  it('rejects bad resources one by one and applies the rest', async () => {
    const bad = { resourceType: 'HealthcareService', id: 'hs-bad', active: 'maybe', name: 'Cassée' } as unknown as HealthcareService;
    const { t, deps } = await setup({ services: 40, extraExportResources: [bad] });
    const result = await runSync(deps, await openSync(t.gateway.db, 'full', new Date()));
    expect(result).toMatchObject({ state: 'completed', rejected: 1 });
    expect(result.errors[0]).toMatchObject({ resource: 'HealthcareService/hs-bad' });
    expect(result.errors[0].error).toContain('active');
    expect((await counts(t)).s).toBe(40);
  });

  it('fails the pull, with the reason, when the server refuses it', async () => {
    const { t, fake } = await setup();
    const client = new RorClient({ baseUrl: fake.url, tokenUrl: fake.tokenUrl, clientId: fake.clientId, clientSecret: fake.clientSecret, headers: {}, backoffMs: 5 });
    const result = await runSync({ ...depsFor(t, fake), client }, await openSync(t.gateway.db, 'full', new Date()));
    expect(result.state).toBe('failed');
    expect(result.errors.at(-1)?.error).toContain('403');
  });
});

describe('scheduled and manual pulls', () => {
  it('a worker pulls at start-up and plans the next pull', async () => {
    const fake = await startFakeRor({ services: 80 });
    cleanups.push(() => fake.close());
    const t = await startTestGateway({
      workers: true,
      config: { ror: { baseUrl: fake.url, tokenUrl: fake.tokenUrl, clientId: fake.clientId, clientSecret: fake.clientSecret, headers: ROR_HEADERS, intervalMs: 3_600_000, pageSize: 50 } },
    });
    cleanups.push(() => t.close());
    for (let i = 0; i < 200; i++) {
      const { rows } = await t.gateway.db.query<{ state: string }>(`SELECT state FROM ror_sync`);
      if (rows[0]?.state === 'completed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await counts(t)).s).toBe(80);
    // The start-up pull stays pending until its job returns, just after it plans the next one.
    let jobs: { job_id: string; run_at: Date; state: string }[] = [];
    for (let i = 0; i < 100; i++) {
      jobs = (await t.gateway.db.query<{ job_id: string; run_at: Date; state: string }>(`SELECT job_id, run_at, state FROM job_schedule WHERE queue = 'ror-sync' ORDER BY run_at`)).rows;
      if (jobs.length === 2 && jobs[0].state === 'done') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(jobs.map((j) => j.state)).toEqual(['done', 'pending']);
    expect(new Date(jobs[1].run_at).getTime()).toBeGreaterThan(Date.now());
  });

  it('aiguillage ror-sync runs one pull by hand and reports it', async () => {
    const fake = await startFakeRor({ services: 30 });
    cleanups.push(() => fake.close());
    const { createTestDatabase } = await import('./helpers.js');
    const databaseUrl = await createTestDatabase();
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'ror-sync', '--full'], {
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        REDIS_URL: inject('redisUrl'),
        AIGUILLAGE_QUEUE_PREFIX: 'test-cli-ror',
        ...rorEnv(fake),
      },
      timeout: 60_000,
    });
    expect(JSON.parse(stdout)).toMatchObject({ mode: 'full', state: 'completed', applied: 80, rejected: 0 });
    expect(stderr).toContain('80 applied');
  });
});

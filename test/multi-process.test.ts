/**
 * Several processes on one PostgreSQL database and one Redis, as deployed:
 * the real CLI runs `serve --processes 2` (a cluster primary and two API
 * processes sharing the port) and `worker` twice. Checks that a client's
 * rate limit is counted once over both API processes, that every deadline
 * fires exactly once although two workers watch the queue, that an MDPH
 * import completes once, and that the primary's `/metrics` sums the
 * processes' request histograms. Each request that must reach either API
 * process opens a new connection (the primary deals connections out in turn),
 * and the processes' log lines (pid, request id) tell which one answered.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Bundle, Communication, Task } from '@medplum/fhirtypes';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { businessStatusOf, reasonOf, REFERRAL_FLAG_SYSTEM } from '../mappings/referral.js';
import { createClient } from '../src/auth/clients.js';
import type { Role } from '../src/core/principal.js';
import { openDatabase, type Database } from '../src/store/db.js';
import { createTestDatabase, freePort, type TestGateway } from './helpers.js';
import { as, makeWorld, move, submit, type World } from './referral-world.js';

const RATE = 5;
const BURST = 40;
const MDPH = 'https://aiguillage.org/fhir/NamingSystem/mdph';

interface Running {
  name: string;
  child: ChildProcess;
  /** The JSON log lines it wrote so far. */
  logs: Record<string, unknown>[];
}

const running: Running[] = [];
let db: Database;
let port: number;
let metricsPort: number;
let base: string;
let w: World;

function launch(name: string, args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const proc: Running = { name, child, logs: [] };
  let rest = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      try {
        proc.logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        proc.logs.push({ msg: line }); // not pino's: kept as is for the failure message
      }
    }
  });
  running.push(proc);
  return proc;
}

const logsOf = (proc: Running, msg: string): Record<string, unknown>[] => proc.logs.filter((l) => l.msg === msg);

/** Polls `probe` every 250 ms (not faster: the API counts the requests). */
async function poll<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 40_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; logs:\n${running.map((p) => `${p.name}: ${p.logs.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A GET on a connection of its own (so that the primary may give it to either process). */
function freshGet(path: string, headers: Record<string, string> = {}, target = port): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: target, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

/** The pids of the API processes that logged these request ids. */
function answeredBy(requestIds: readonly string[]): Set<unknown> {
  const ids = new Set(requestIds);
  return new Set(logsOf(running[0], 'request').filter((l) => ids.has(l.reqId as string)).map((l) => l.pid));
}

async function tokenFor(roles: Role[], organization?: string): Promise<string> {
  const client = await createClient(db, { name: `mp-${roles.join('-')}`, roles, organization });
  const res = await supertest(base).post('/oauth2/token').type('form').send({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret });
  if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}

beforeAll(async () => {
  const databaseUrl = await createTestDatabase();
  [port, metricsPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    REDIS_URL: inject('redisUrl'),
    AIGUILLAGE_QUEUE_PREFIX: `test-${randomUUID()}`,
    HOST: '127.0.0.1',
    PORT: String(port),
    AIGUILLAGE_BASE_URL: base,
    AIGUILLAGE_METRICS_PORT: String(metricsPort),
    LOG_LEVEL: 'info',
    AIGUILLAGE_RATE_LIMIT: String(RATE),
    AIGUILLAGE_RATE_LIMIT_BURST: String(BURST),
    AIGUILLAGE_RECONCILE_INTERVAL_MS: '500',
    // (scaled: 2 months → 3 s, 30 days → 3 s, 15 days → 3 s)
    AIGUILLAGE_AUTOMATIC_REMINDER_AFTER: '3s',
    AIGUILLAGE_AUTOMATIC_CANCELLATION_AFTER: '3s',
    AIGUILLAGE_ARCHIVING_AFTER: '3s',
  };
  const api = launch('api', ['serve', '--processes', '2'], env);
  // The primary serves the metrics of its API processes; a worker would need a port of its own.
  const workerEnv = { ...env, AIGUILLAGE_METRICS_PORT: undefined };
  launch('worker-1', ['worker'], workerEnv);
  launch('worker-2', ['worker'], workerEnv);
  db = await openDatabase({ databaseUrl, dataDir: '', poolSize: 2 });
  await poll('two API processes listening', async () => logsOf(api, 'FHIR API listening').length === 2, 50_000);
  const fake = { http: supertest.agent(base), tokenFor, close: async () => undefined } as unknown as TestGateway;
  w = await makeWorld(fake);
}, 90_000);

afterAll(async () => {
  for (const proc of running) if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
  await db?.close();
});

describe('two API processes and two workers on one database and one Redis', () => {
  it("counts a client's rate limit once over both API processes", async () => {
    const token = await tokenFor(['prescriber'], 'https://finess.esante.gouv.fr|750000009');
    const statuses: number[] = [];
    const ids: string[] = [];
    let retryAfter = 0;
    for (let i = 0; i < 2 * BURST + 5 && statuses.filter((s) => s === 429).length < 5; i++) {
      const id = `rate-${i}-${randomUUID().slice(0, 8)}`;
      const res = await freshGet('/fhir/Patient?_count=1', { Authorization: `Bearer ${token}`, 'X-Request-Id': id });
      statuses.push(res.status);
      ids.push(id);
      if (res.status === 429) retryAfter = Number(res.headers['retry-after']);
    }
    const firstRefusal = statuses.indexOf(429);
    // Each process alone would have let 2 × BURST through; the shared count lets BURST (the window is 8 s, far longer than the loop).
    expect(firstRefusal).toBe(BURST);
    expect(statuses.slice(0, BURST).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(BURST)).toEqual([429, 429, 429, 429, 429]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil(BURST / RATE));
    // Both processes answered, and both refused.
    await poll('the request log lines', async () => answeredBy(ids).size > 0 && logsOf(running[0], 'request').filter((l) => ids.includes(l.reqId as string)).length === ids.length);
    expect(answeredBy(ids.slice(0, BURST)).size).toBe(2);
    expect(answeredBy(ids.slice(BURST)).size).toBe(2);
  });

  it('fires every deadline of a request exactly once, with two workers', async () => {
    const requests = await Promise.all([0, 1, 2].map(() => submit(w, ['smr', 'had'])));
    for (const r of requests) expect((await move(w, w.unit.smr, r.tasks.smr, 'accepted')).status).toBe(200);
    const ids = requests.map((r) => r.requestId);
    // Reminder (3 s), cancellation (3 s later), archiving (3 s later): watched in PostgreSQL, not through the rate-limited API.
    await poll('every request archived', async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM referral WHERE id = ANY($1) AND archived`, [ids])).rows[0].n === ids.length);
    await new Promise((r) => setTimeout(r, 1_500)); // a second firing would come within the reconcile interval

    const applied = [...logsOf(running[1], 'deadline applied'), ...logsOf(running[2], 'deadline applied')].filter((l) => ids.includes(l.referral as string));
    expect(applied.map((l) => `${l.referral as string} ${l.deadline as string}`).sort()).toEqual(ids.flatMap((id) => [`${id} archive`, `${id} cancel`, `${id} remind`]).sort());
    const archived = (task: Task): boolean => (task.meta?.tag ?? []).some((tag) => tag.system === REFERRAL_FLAG_SYSTEM && tag.code === 'archived');
    for (const r of requests) {
      const reminders = (await as(w, w.prescriber).get(`Communication?part-of=Task/${r.tasks.smr.id}&category=https://aiguillage.org/fhir/CodeSystem/message-category|reminder`)).body as Bundle<Communication>;
      expect(reminders.entry ?? []).toHaveLength(1);
      const history = ((await as(w, w.admin).get(`Task/${r.tasks.smr.id}/_history`)).body as Bundle<Task>).entry?.map((e) => [businessStatusOf(e.resource as Task), reasonOf(e.resource as Task) ?? '', archived(e.resource as Task)]);
      expect(history?.reverse()).toEqual([
        ['sent', '', false],
        ['accepted', '', false],
        ['cancelled', 'automatic-cancellation', false],
        ['cancelled', 'automatic-cancellation', true],
      ]);
    }
    const left = await db.query(`SELECT job_id, state FROM job_schedule WHERE queue = 'deadlines' AND subject = ANY($1) AND state <> 'done'`, [ids]);
    expect(left.rows).toEqual([]);
  }, 60_000);

  it('completes an MDPH import once', async () => {
    const admin = w.admin;
    expect((await as(w, admin).put('Organization/esms-mp', { resourceType: 'Organization', id: 'esms-mp', name: 'ESMS', identifier: [{ system: 'https://finess.esante.gouv.fr', value: '750000201' }] })).status).toBeLessThan(300);
    const mdph = await tokenFor(['mdph'], `${MDPH}|92`);
    const ROWS = 2_500; // two chunks
    const header = 'numero_individu;date_naissance;nom;prenom;sexe;id_decision;id_nat_decision;categorie_esms;date_debut_validite;date_fin_validite;caracterisation_esms;caracterisation_pro;creton;finess_esms';
    const lines = Array.from({ length: ROWS }, (_, i) => `MP${i};2010-04-12;Martin;Léo;M;MP-DEC-${i};;183;2025-01-01;2028-12-31;2;;0;750000201`);
    const accepted = await supertest(base)
      .post('/fhir/$import-decisions')
      .set('Authorization', `Bearer ${mdph}`)
      .set('Prefer', 'respond-async')
      .set('Content-Type', 'text/csv')
      .send([header, ...lines].join('\n'));
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const status = new URL(accepted.headers['content-location'] as string).pathname;
    const report = await poll('the import report', async () => {
      const res = await supertest(base).get(status).set('Authorization', `Bearer ${mdph}`);
      return res.status !== 202 && res;
    });
    expect(report.status).toBe(200);
    const decisions = await db.query<{ n: number; rewritten: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE version <> 1)::int AS rewritten FROM referral WHERE module = 'decision' AND department = '92'`
    );
    expect(decisions.rows[0]).toEqual({ n: ROWS, rewritten: 0 });
    const imports = await db.query(`SELECT state, rows_done, rows_ok, rows_rejected FROM decision_import WHERE department = '92'`);
    expect(imports.rows).toEqual([{ state: 'completed', rows_done: ROWS, rows_ok: ROWS, rows_rejected: 0 }]);
    const finished = [...logsOf(running[1], 'MDPH import finished'), ...logsOf(running[2], 'MDPH import finished')];
    expect(finished).toHaveLength(1);
  }, 60_000);

  it("serves /metrics on the primary's port, summed over both API processes", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const id = `health-${i}-${randomUUID().slice(0, 8)}`;
      expect((await freshGet('/healthz', { 'X-Request-Id': id })).status).toBe(200);
      ids.push(id);
    }
    await poll('the request log lines', async () => logsOf(running[0], 'request').filter((l) => ids.includes(l.reqId as string)).length === ids.length);
    expect(answeredBy(ids).size).toBe(2);
    const scrape = await freshGet('/metrics', {}, metricsPort);
    expect(scrape.status).toBe(200);
    expect(scrape.headers['content-type']).toContain('text/plain');
    const sample = (name: string, labels: string): number | undefined => {
      const line = scrape.body.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((label) => l.includes(label)));
      return line === undefined ? undefined : Number(line.split(' ').pop());
    };
    expect(sample('aiguillage_http_request_duration_seconds_count', 'route="/healthz",status="200"')).toBe(20);
    // The rate-limit test's refusals, by route pattern, never by raw path.
    expect(sample('aiguillage_http_request_duration_seconds_count', 'route="/fhir/:type",status="429"')).toBeGreaterThanOrEqual(5);
    expect(scrape.body).not.toContain('route="/fhir/Patient');
    // The gauges are read once per process and not summed: the import is done, the deadlines too.
    expect(sample('aiguillage_queue_jobs', 'queue="deadlines",state="failed"')).toBe(0);
    expect(sample('aiguillage_imports', 'state="in-progress"')).toBe(0);
    expect(sample('aiguillage_jobs_failed', 'queue="mdph-import"')).toBe(0);
    expect(sample('aiguillage_job_lag_seconds', 'queue="deadlines"')).toBeDefined();
  });

  it('starts another API process when one dies', async () => {
    const api = running[0];
    const [first] = logsOf(api, 'FHIR API listening');
    process.kill(first.pid as number, 'SIGKILL');
    await poll('a new API process', async () => logsOf(api, 'FHIR API listening').length === 3, 50_000);
    expect(logsOf(api, 'an API process died unexpectedly; starting another').map((l) => [l.pid, l.signal])).toEqual([[first.pid, 'SIGKILL']]);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const id = `after-${i}-${randomUUID().slice(0, 8)}`;
      expect((await freshGet('/healthz', { 'X-Request-Id': id })).status).toBe(200);
      ids.push(id);
    }
    await poll('the request log lines', async () => logsOf(api, 'request').filter((l) => ids.includes(l.reqId as string)).length === ids.length);
    const pids = answeredBy(ids);
    expect(pids.size).toBe(2);
    expect(pids.has(first.pid)).toBe(false);
  }, 60_000);

  it('stops every process on SIGTERM', async () => {
    const exits = running.map((p) => new Promise<number | null>((resolve) => (p.child.exitCode !== null ? resolve(p.child.exitCode) : p.child.once('exit', (code) => resolve(code)))));
    for (const p of running) p.child.kill('SIGTERM');
    expect(await Promise.all(exits)).toEqual([0, 0, 0]);
    expect(logsOf(running[0], 'all API processes stopped')).toHaveLength(1);
  });
});

describe('refusals of --processes', () => {
  const cli = (args: string[], env: NodeJS.ProcessEnv) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env: { ...process.env, DATABASE_URL: '', ...env }, timeout: 30_000 });

  it('refuses several processes on the embedded database naming DATABASE_URL, a count that is not one, and --processes on worker', async () => {
    // (in parallel: each run loads the CLI)
    await Promise.all([
      expect(cli(['serve', '--processes', '2'], {})).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('needs DATABASE_URL') }),
      expect(cli(['start'], { WEB_CONCURRENCY: '3' })).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('needs DATABASE_URL') }),
      expect(cli(['serve', '--processes', '0'], {})).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--processes is a number') }),
      expect(cli(['worker', '--processes', '2'], {})).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('worker takes no --processes') }),
    ]);
  });
});

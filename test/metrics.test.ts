/**
 * `GET /metrics` on its own port (AIGUILLAGE_METRICS_PORT): the request
 * histogram by route pattern and status, the gauges read from PostgreSQL and
 * Redis at scrape time, and a scrape that still answers when Redis is away.
 */
import { randomUUID } from 'node:crypto';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEADLINES_QUEUE, MDPH_IMPORT_QUEUE } from '../src/jobs/catalogue.js';
import { insertImport } from '../src/store/tables/decision-import.js';
import { markJobFailed, upsertJob } from '../src/store/tables/job-schedule.js';
import { freePort, startTestGateway, type TestGateway } from './helpers.js';

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ config: { metrics: { port: 0, host: '127.0.0.1' } } });
});
afterAll(() => t.close());

async function scrape(gateway: TestGateway): Promise<{ status: number; text: string; contentType: string }> {
  const res = await supertest(`http://127.0.0.1:${gateway.gateway.metricsPort}`).get('/metrics');
  return { status: res.status, text: res.text, contentType: res.headers['content-type'] as string };
}

/** The value of the sample of `name` whose labels include all of `labels`. */
function sample(text: string, name: string, ...labels: string[]): number | undefined {
  const line = text.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && labels.every((label) => l.includes(label)));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('metrics', () => {
  it('counts requests by route pattern and status, never by raw path', async () => {
    const id = `raw-${randomUUID()}`;
    expect((await t.http.get(`/fhir/Patient/${id}`)).status).toBe(401);
    expect((await t.http.get('/fhir/metadata')).status).toBe(200);
    expect((await t.http.get('/healthz')).status).toBe(200);
    expect((await t.http.get(`/no/such/${id}`)).status).toBe(404);
    const token = await t.tokenFor(['admin']);
    expect((await t.http.get(`/fhir/Patient/${id}`).set('Authorization', `Bearer ${token}`)).status).toBe(404);

    const { status, text, contentType } = await scrape(t);
    expect(status).toBe(200);
    expect(contentType).toContain('text/plain');
    const count = (...labels: string[]): number | undefined => sample(text, 'aiguillage_http_request_duration_seconds_count', ...labels);
    expect(count('method="GET"', 'route="/fhir/:type/:id"', 'status="401"')).toBe(1);
    expect(count('method="GET"', 'route="/fhir/:type/:id"', 'status="404"')).toBe(1);
    expect(count('route="/fhir/metadata"', 'status="200"')).toBe(1);
    expect(count('route="/healthz"', 'status="200"')).toBe(1);
    expect(count('route="unmatched"', 'status="404"')).toBe(1);
    expect(count('route="/oauth2/token"', 'status="200"')).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain(id);
    expect(sample(text, 'aiguillage_http_request_duration_seconds_bucket', 'route="/healthz"', 'le="+Inf"')).toBe(1);
  });

  it('reports how late the due jobs are, the failed jobs, the imports under way and the queues in Redis', async () => {
    const db = t.gateway.db;
    await upsertJob(db, { queue: DEADLINES_QUEUE, jobId: `late-${randomUUID()}`, data: {}, runAt: new Date(Date.now() - 60_000) });
    const failed = `failed-${randomUUID()}`;
    await upsertJob(db, { queue: MDPH_IMPORT_QUEUE, jobId: failed, data: {}, runAt: new Date(Date.now() + 3_600_000) });
    await markJobFailed(db, MDPH_IMPORT_QUEUE, failed, 'broken file');
    await insertImport(db, { id: randomUUID(), department: '75', principal: { clientId: 'metrics-test', roles: ['mdph'] }, source: 'csv' });

    const { text } = await scrape(t);
    expect(sample(text, 'aiguillage_job_lag_seconds', `queue="${DEADLINES_QUEUE}"`)).toBeGreaterThanOrEqual(60);
    expect(sample(text, 'aiguillage_job_lag_seconds', `queue="${MDPH_IMPORT_QUEUE}"`)).toBe(0);
    expect(sample(text, 'aiguillage_jobs_due', `queue="${DEADLINES_QUEUE}"`)).toBe(1);
    expect(sample(text, 'aiguillage_jobs_failed', `queue="${MDPH_IMPORT_QUEUE}"`)).toBe(1);
    expect(sample(text, 'aiguillage_imports', 'state="accepted"')).toBe(1);
    expect(sample(text, 'aiguillage_import_rows', 'outcome="done"')).toBe(0);
    expect(sample(text, 'aiguillage_ror_pull_running')).toBe(0);
    for (const state of ['waiting', 'active', 'delayed', 'failed']) expect(sample(text, 'aiguillage_queue_jobs', `queue="${DEADLINES_QUEUE}"`, `state="${state}"`)).toBe(0);
  });

  it('answers anything but GET /metrics with 404', async () => {
    const metrics = supertest(`http://127.0.0.1:${t.gateway.metricsPort}`);
    expect((await metrics.get('/')).status).toBe(404);
    expect((await metrics.post('/metrics')).status).toBe(404);
  });

  it('still answers when Redis does not, without the queue counts', async () => {
    const away = await startTestGateway({ config: { redisUrl: `redis://127.0.0.1:${await freePort()}`, metrics: { port: 0, host: '127.0.0.1' } } });
    try {
      const { status, text } = await scrape(away);
      expect(status).toBe(200);
      expect(text).toContain('# TYPE aiguillage_queue_jobs gauge');
      expect(sample(text, 'aiguillage_queue_jobs')).toBeUndefined();
      expect(sample(text, 'aiguillage_job_lag_seconds', `queue="${DEADLINES_QUEUE}"`)).toBe(0);
    } finally {
      await away.close();
    }
  });
});

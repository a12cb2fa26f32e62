/**
 * Admission requests: submission throughput of the EHR's transaction (a
 * Patient, three volets, a request to five units → five Tasks), then the
 * schedule's footprint with 1,000,000 pending deadlines: Redis memory per
 * pending deadline as the gateway runs it (only the near schedule in Redis),
 * the cost of one job held in Redis, and the reconciler's pass over them;
 * and a 100 MB document (BENCH_DOCUMENT_MB) streamed up and down, with the
 * gateway's resident memory (target: under 300 MB); and the referral
 * indicators over 1,000,000 requests (BENCH_INDICATOR_REQUESTS; target:
 * under 1 s).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { createLogger } from '../src/logger.js';
import { Queues } from '../src/queues/registry.js';
import { percentile, startBenchServer } from './harness.js';
import { refreshReferralIndicators } from '../src/domain/referral/indicators.js';
import { createUnits, HOSPITAL, sample, submission } from './referral-fixtures.js';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const PENDING = Number(process.env.BENCH_PENDING_DEADLINES ?? 1_000_000);
const UNITS = 50;
const DOCUMENT_MB = Number(process.env.BENCH_DOCUMENT_MB ?? 100);
const INDICATOR_REQUESTS = Number(process.env.BENCH_INDICATOR_REQUESTS ?? 1_000_000);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
}

/** Sends `size` bytes of a PDF-looking document, 1 MiB at a time, as a client streaming a file does; the answer. */
function streamUpload(base: string, auth: string, size: number): Promise<{ status: number; body: string }> {
  const url = new URL(`${base}/fhir/Binary`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method: 'POST', path: url.pathname, headers: { Authorization: auth, 'Content-Type': 'application/pdf', 'Content-Length': String(size) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode as number, body }));
      }
    );
    req.on('error', reject);
    const part = randomBytes(1 << 20);
    let sent = 0;
    const next = (): void => {
      while (sent < size) {
        const piece = sent === 0 ? Buffer.concat([Buffer.from('%PDF-1.7\n'), part.subarray(9)]) : part.subarray(0, Math.min(part.length, size - sent));
        sent += piece.length;
        if (!req.write(piece)) return void req.once('drain', next);
      }
      req.end();
    };
    next();
  });
}

/** Reads a Binary as itself; the bytes received. */
function streamDownload(base: string, auth: string, id: string): Promise<number> {
  const url = new URL(`${base}/fhir/Binary/${id}`);
  return new Promise((resolve, reject) => {
    http
      .get({ host: url.hostname, port: url.port, path: url.pathname, headers: { Authorization: auth, Accept: 'application/pdf' } }, (res) => {
        let received = 0;
        res.on('data', (c: Buffer) => (received += c.length));
        res.on('end', () => resolve(received));
      })
      .on('error', reject);
  });
}

/** A 100 MB document uploaded then read back, with the gateway's resident memory meanwhile. */
async function benchDocument(base: string, auth: string, server: Awaited<ReturnType<typeof startBenchServer>>): Promise<string[]> {
  const size = DOCUMENT_MB * 1024 * 1024;
  const before = server.rss();
  const peak = server.sampleRss();
  let started = Date.now();
  const uploaded = await streamUpload(base, auth, size);
  const uploadSeconds = (Date.now() - started) / 1000;
  const uploadPeak = server.rss();
  if (uploaded.status !== 201) throw new Error(`document upload: ${uploaded.status} ${uploaded.body}`);
  const id = (JSON.parse(uploaded.body) as { id: string }).id;
  started = Date.now();
  const received = await streamDownload(base, auth, id);
  const downloadSeconds = (Date.now() - started) / 1000;
  const rss = peak();
  if (received !== size) throw new Error(`document download: ${received} bytes of ${size}`);
  process.stderr.write(`  document: ${DOCUMENT_MB} MB up in ${uploadSeconds.toFixed(1)} s (RSS after ${Math.round(uploadPeak)} MB), down in ${downloadSeconds.toFixed(1)} s, peak RSS ${Math.round(rss)} MB\n`);
  return [
    '',
    `## referrals: one ${DOCUMENT_MB} MB document (POST /fhir/Binary streamed, then read back as itself)`,
    '',
    '| measure | value | target',
    '| --- | --- | ---',
    `| upload | ${uploadSeconds.toFixed(1)} s (${Math.round(DOCUMENT_MB / uploadSeconds)} MB/s) |`,
    `| download | ${downloadSeconds.toFixed(1)} s (${Math.round(DOCUMENT_MB / downloadSeconds)} MB/s) |`,
    `| gateway RSS before / peak during | ${Math.round(before)} / ${Math.round(rss)} MB | peak < 300 MB`,
  ];
}

/**
 * The referral indicators over BENCH_INDICATOR_REQUESTS (default 1,000,000)
 * requests of the past twelve months, 1.5 tasks each, with their facts as
 * the task rules record them (read, answered, admitted, refused with a
 * reason, automatically cancelled), written by SQL; then the rollup's
 * recomputation (the background job's work) and `$indicators?module=referral`
 * through HTTP, as an admin reads it (target: under 1 s).
 */
async function benchIndicators(server: Awaited<ReturnType<typeof startBenchServer>>): Promise<string[]> {
  const { base, db } = server;
  const seeded = Date.now();
  await db.query(
    `INSERT INTO referral (id, version, last_updated, status, module)
     SELECT 'ind-' || g, 1, now(), 'active', 'referral' FROM generate_series(1, $1::int) AS g`,
    [INDICATOR_REQUESTS]
  );
  await db.query(
    `INSERT INTO task (id, version, last_updated, referral_id, status, business_status, status_since, module, owner_service_id, sent_at, read_at, answered_at, admitted_at, status_reason, care, unit_department, origin_department)
     SELECT 'ind-' || g || '-' || k, 1, now(), 'ind-' || g, 'requested', x.status, now(), 'referral', 'bench-unit-' || (g * 7 + k) % 500,
            x.sent, CASE WHEN x.r < 0.85 THEN x.sent + x.r * interval '3 days' END, CASE WHEN x.r < 0.7 THEN x.sent + x.r * interval '6 days' END,
            CASE WHEN x.r < 0.3 THEN x.sent + x.r * interval '40 days' END,
            CASE WHEN x.status = 'refused' THEN (ARRAY['no-place', 'not-eligible'])[1 + (g % 2)] WHEN x.status = 'cancelled' THEN (ARRAY['automatic-cancellation', 'other-unit-chosen'])[1 + (g % 2)] END,
            (ARRAY['SMR', 'HAD', 'USP', 'USLD', 'EHPAD', 'ACT', 'LHSS', 'SSIAD'])[1 + g % 8],
            lpad(((g * 7 + k) % 500 % 95 + 1)::text, 2, '0'), lpad((g % 95 + 1)::text, 2, '0')
       FROM generate_series(1, $1::int) AS g
       CROSS JOIN LATERAL generate_series(1, 1 + (g % 2)) AS k
       CROSS JOIN LATERAL (SELECT r, sent, CASE WHEN r < 0.3 THEN 'admitted' WHEN r < 0.5 THEN 'refused' WHEN r < 0.7 THEN 'accepted' WHEN r < 0.85 THEN 'read' WHEN r < 0.95 THEN 'cancelled' ELSE 'sent' END AS status
                             FROM (SELECT ((g::bigint * 7919 + k * 104729) % 1000) / 1000.0 AS r, now() - ((g % 365) * interval '1 day') AS sent) v) x`,
    [INDICATOR_REQUESTS]
  );
  const { rows: counted } = await db.query<{ requests: number; tasks: number }>(`SELECT (SELECT count(*)::int FROM referral WHERE id LIKE 'ind-%') AS requests, (SELECT count(*)::int FROM task WHERE id LIKE 'ind-%') AS tasks`);
  const seedSeconds = (Date.now() - seeded) / 1000;
  const clock = { now: () => new Date() };
  const refreshStarted = Date.now();
  const groups = await refreshReferralIndicators(db, clock);
  const refreshSeconds = (Date.now() - refreshStarted) / 1000;
  const admin = `Bearer ${await server.token(['admin'])}`;
  const now = new Date();
  const month = (back: number): string => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back, 1)).toISOString().slice(0, 7);
  const queries: [string, string][] = [
    ['twelve months, every department and care (all units together)', `module=referral&from=${month(11)}&to=${month(0)}`],
    ['twelve months, every unit', `module=referral&from=${month(11)}&to=${month(0)}&by=unit`],
    ['twelve months, one department, per unit', `module=referral&from=${month(11)}&to=${month(0)}&department=75&by=unit`],
    ['one month, one department, one care', `module=referral&from=${month(1)}&to=${month(1)}&department=75&care=SMR`],
    ['twelve months, one unit', `module=referral&from=${month(11)}&to=${month(0)}&unit=bench-unit-7`],
    ['twelve months, one department, with its flows', `module=referral&from=${month(11)}&to=${month(0)}&department=75&flows=true`],
  ];
  const rows: string[] = [];
  for (const [label, query] of queries) {
    const times: number[] = [];
    let size = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const res = await fetch(`${base}/fhir/$indicators?${query}`, { headers: { Authorization: admin } });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`indicators ${query}: ${res.status} ${text.slice(0, 300)}`);
      times.push(performance.now() - t0);
      size = text.length;
    }
    times.sort((a, b) => a - b);
    rows.push(`| ${label} | ${Math.round(percentile(times, 50))} ms | ${Math.round(times[times.length - 1])} ms | ${Math.round(size / 1024)} KB | < 1,000 ms`);
  }
  process.stderr.write(`  indicators: ${counted[0].requests} requests, ${counted[0].tasks} tasks, rollup in ${refreshSeconds.toFixed(1)} s\n`);
  return [
    '',
    `## referrals: indicators over ${counted[0].requests.toLocaleString('en')} requests (${counted[0].tasks.toLocaleString('en')} tasks, twelve months)`,
    '',
    `Seeded by SQL in ${seedSeconds.toFixed(1)} s; the rollup (the background job's work, every AIGUILLAGE_INDICATORS_REFRESH_MS) recomputed in ${refreshSeconds.toFixed(1)} s (${groups.toLocaleString('en')} groups). \`$indicators?module=referral\` through HTTP as an admin, 5 runs each:`,
    '',
    '| query | p50 | max | answer | target',
    '| --- | --- | --- | --- | ---',
    ...rows,
  ];
}

/** Runs the suite; returns its report (markdown). */
export async function benchReferrals(): Promise<string> {
  const server = await startBenchServer();
  const { base, db } = server;
  const lines: string[] = [];
  try {
    const units = (await createUnits(server, UNITS)).map((u) => u.id);
    const body = (): string => submission(sample(units, 5));
    const prescriber = `Bearer ${await server.token(['prescriber'], HOSPITAL)}`;
    process.stderr.write(`referrals: ${DURATION}s, ${CONNECTIONS} connections, PostgreSQL ${server.dbName}\n`);
    // The document first, on the gateway as it starts (the submission load below grows its heap by itself).
    const documentLines = await benchDocument(base, prescriber, server);
    await autocannon({ url: `${base}/fhir`, method: 'POST', connections: 4, duration: 2, headers: { Authorization: prescriber, 'Content-Type': 'application/fhir+json' }, requests: [{ setupRequest: (r) => ({ ...r, body: body() }) }] });
    const peak = server.sampleRss();
    const result = await autocannon({
      url: `${base}/fhir`,
      method: 'POST',
      connections: CONNECTIONS,
      duration: DURATION,
      headers: { Authorization: prescriber, 'Content-Type': 'application/fhir+json' },
      requests: [{ setupRequest: (r) => ({ ...r, body: body() }) }],
    });
    const rss = peak();
    // The HTTP stack's own ceiling in the same run (a trivial route), which throughput targets are read against.
    const ceiling = await autocannon({ url: `${base}/bench/ping`, connections: CONNECTIONS, duration: Math.max(3, Math.round(DURATION / 2)) });
    const errors = result.errors + result.timeouts + result.non2xx;
    const { rows } = await db.query<{ requests: number; tasks: number }>(`SELECT (SELECT count(*)::int FROM referral) AS requests, (SELECT count(*)::int FROM task) AS tasks`);
    process.stderr.write(`  submission: ${Math.round(result.requests.average)} req/s (ceiling ${Math.round(ceiling.requests.average)}), p99 ${result.latency.p99} ms, ${errors} errors\n`);
    lines.push(
      '',
      `## referrals: submission (transaction: Patient + 3 volets + ServiceRequest to 5 units; ${CONNECTIONS} connections, ${DURATION}s)`,
      '',
      '| measure | value | target',
      '| --- | --- | ---',
      `| transactions/s | ${Math.round(result.requests.average)} | ≥ 300`,
      `| trivial-route ceiling (same run) | ${Math.round(ceiling.requests.average)} req/s |`,
      `| transactions/s as a share of the ceiling | ${((100 * result.requests.average) / ceiling.requests.average).toFixed(2)} % |`,
      `| Tasks created/s | ${Math.round(result.requests.average * 5)} | ≥ 1,500`,
      `| p50 / p99 latency | ${result.latency.p50} / ${result.latency.p99} ms |`,
      `| errors / non-2xx | ${errors} |`,
      `| requests, tasks stored in all | ${rows[0].requests}, ${rows[0].tasks} |`,
      `| peak RSS of the gateway | ${Math.round(rss)} MB |`,
      ...documentLines
    );
    lines.push(...(await benchIndicators(server)));
  } finally {
    await server.stopGateway();
  }

  // The schedule with 1,000,000 pending deadlines, spread over the next 60 days as real ones would be.
  try {
    const started = Date.now();
    await db.query(
      `INSERT INTO job_schedule (queue, job_id, data, run_at, subject)
       SELECT 'deadlines', 'deadline.bench-' || g || '.remind.' || g, jsonb_build_object('referral', 'bench-' || g, 'kind', 'remind'),
              now() + (g::float8 / $1) * interval '60 days', 'bench-' || g
         FROM generate_series(1, $1::int) AS g`,
      [PENDING]
    );
    await db.query('ANALYZE job_schedule');
    const insertSeconds = (Date.now() - started) / 1000;
    const redis = new Redis(REDIS_URL);
    const logger = createLogger('warn');
    const measure = async (horizonMs: number | undefined, limit?: number): Promise<{ jobs: number; bytes: number; seconds: number }> => {
      const prefix = `bench-schedule-${randomBytes(4).toString('hex')}`;
      const queues = new Queues({ redisUrl: REDIS_URL, prefix, reconcileIntervalMs: 60_000, horizonMs }, db, logger);
      queues.register({ name: 'deadlines', process: async () => undefined });
      await queues.init();
      const before = await usedMemory(redis);
      const t0 = Date.now();
      if (limit === undefined) {
        await queues.reconcile();
      } else {
        const { rows } = await db.query<{ job_id: string; data: unknown; run_at: Date }>(`SELECT job_id, data, run_at FROM job_schedule WHERE queue = 'deadlines' AND state = 'pending' ORDER BY run_at LIMIT $1`, [limit]);
        for (let i = 0; i < rows.length; i += 1_000) await queues.push('deadlines', rows.slice(i, i + 1_000).map((r) => ({ jobId: r.job_id, data: r.data, runAt: new Date(r.run_at) })));
      }
      const seconds = (Date.now() - t0) / 1000;
      const jobs = Number(await redis.zcard(`${prefix}:deadlines:delayed`)) + Number(await redis.llen(`${prefix}:deadlines:wait`));
      const bytes = (await usedMemory(redis)) - before;
      const keys = await redis.keys(`${prefix}:*`);
      for (let i = 0; i < keys.length; i += 10_000) await redis.del(...keys.slice(i, i + 10_000));
      await queues.close();
      return { jobs, bytes, seconds };
    };
    const gateway = await measure(3_600_000);
    const again = await measure(3_600_000);
    const sample = Math.min(100_000, PENDING);
    const full = await measure(undefined, sample);
    const perJob = full.bytes / Math.max(full.jobs, 1);
    process.stderr.write(`  schedule: ${gateway.jobs} jobs in Redis for ${PENDING} pending, ${gateway.bytes} bytes; ${Math.round(perJob)} bytes per job held\n`);
    lines.push(
      '',
      `## referrals: ${PENDING.toLocaleString('en')} pending deadlines (spread over 60 days; recorded in PostgreSQL in ${insertSeconds.toFixed(1)} s)`,
      '',
      '| measure | value',
      '| --- | ---',
      `| jobs in Redis after a reconcile (horizon 1 h) | ${gateway.jobs}`,
      `| Redis memory for them | ${(gateway.bytes / 1024).toFixed(0)} KiB`,
      `| **Redis memory per pending deadline** | **${(gateway.bytes / PENDING).toFixed(1)} bytes**`,
      `| reconcile pass over ${PENDING.toLocaleString('en')} pending (first / again) | ${gateway.seconds.toFixed(2)} s / ${again.seconds.toFixed(2)} s`,
      `| one job held in Redis (${full.jobs.toLocaleString('en')} pushed) | ${Math.round(perJob)} bytes, ${(full.jobs / full.seconds).toFixed(0)} jobs/s pushed`,
      `| all ${PENDING.toLocaleString('en')} held in Redis, extrapolated | ${((perJob * PENDING) / 1024 / 1024).toFixed(0)} MiB`,
      ''
    );
    redis.disconnect();
  } finally {
    await server.stop();
  }
  return lines.join('\n');
}

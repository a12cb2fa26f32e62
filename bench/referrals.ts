/**
 * Admission requests: submission throughput of the EHR's transaction (a
 * Patient, three volets, a request to five units → five Tasks), then the
 * schedule's footprint with 1,000,000 pending deadlines: Redis memory per
 * pending deadline as the gateway runs it (only the near schedule in Redis),
 * the cost of one job held in Redis, and the reconciler's pass over them;
 * and a 100 MB document (BENCH_DOCUMENT_MB) streamed up and down, with the
 * gateway's resident memory (target: under 300 MB).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { createLogger } from '../src/logger.js';
import { Queues } from '../src/queues/registry.js';
import { startBenchServer } from './harness.js';
import { createUnits, HOSPITAL, sample, submission } from './referral-fixtures.js';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const PENDING = Number(process.env.BENCH_PENDING_DEADLINES ?? 1_000_000);
const UNITS = 50;
const DOCUMENT_MB = Number(process.env.BENCH_DOCUMENT_MB ?? 100);
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
    const errors = result.errors + result.timeouts + result.non2xx;
    const { rows } = await db.query<{ requests: number; tasks: number }>(`SELECT (SELECT count(*)::int FROM referral) AS requests, (SELECT count(*)::int FROM task) AS tasks`);
    process.stderr.write(`  submission: ${Math.round(result.requests.average)} req/s, p99 ${result.latency.p99} ms, ${errors} errors\n`);
    lines.push(
      '',
      `## referrals: submission (transaction: Patient + 3 volets + ServiceRequest to 5 units; ${CONNECTIONS} connections, ${DURATION}s)`,
      '',
      '| measure | value | target',
      '| --- | --- | ---',
      `| transactions/s | ${Math.round(result.requests.average)} | ≥ 300`,
      `| Tasks created/s | ${Math.round(result.requests.average * 5)} | ≥ 1,500`,
      `| p50 / p99 latency | ${result.latency.p50} / ${result.latency.p99} ms |`,
      `| errors / non-2xx | ${errors} |`,
      `| requests, tasks stored in all | ${rows[0].requests}, ${rows[0].tasks} |`,
      `| peak RSS of the gateway | ${Math.round(rss)} MB |`,
      ...documentLines
    );
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

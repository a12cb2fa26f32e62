/**
 * The FHIR core over HTTP: create, read by id and search by identifier on
 * Patient, against the ceiling of the HTTP stack itself (a trivial Hono route
 * on the same server), with autocannon.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import autocannon, { type Result } from 'autocannon';
import { startBenchServer } from './harness.js';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const NIR = 'urn:oid:1.2.250.1.213.1.4.8';

function nir(): string {
  let digits = '1';
  for (const b of randomBytes(14)) digits += String(b % 10);
  return digits;
}

function patientBody(value: string): string {
  return JSON.stringify({
    resourceType: 'Patient',
    identifier: [
      { system: NIR, value, use: 'official' },
      { system: 'urn:oid:1.2.250.1.71.4.2.7.750000001', value: `IPP-${randomUUID().slice(0, 8)}` },
    ],
    name: [{ use: 'official', family: 'Martin', given: ['Louise'] }],
    gender: 'female',
    birthDate: '1938-02-11',
    address: [{ line: ['3 rue des Lilas'], postalCode: '75014', city: 'Paris' }],
  });
}

async function fire(name: string, options: autocannon.Options): Promise<Result> {
  const result = await autocannon({ connections: CONNECTIONS, duration: DURATION, ...options });
  const errors = result.errors + result.timeouts + result.non2xx;
  process.stderr.write(`  ${name}: ${Math.round(result.requests.average)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms${errors ? `, ${errors} errors/non-2xx` : ''}\n`);
  return result;
}

/** Runs the suite; returns its report (markdown). */
export async function benchCore(): Promise<string> {
  const server = await startBenchServer();
  const { base, db } = server;
  try {
    const auth = { Authorization: `Bearer ${await server.token(['prescriber'], 'https://finess.esante.gouv.fr|750000001')}` };
    process.stderr.write(`core: ${DURATION}s per scenario, ${CONNECTIONS} connections, PostgreSQL ${server.dbName}\n`);
    await autocannon({ url: `${base}/bench/ping`, connections: 4, duration: 2 }); // warm-up
    const ceiling = await fire('ceiling (trivial Hono route)', { url: `${base}/bench/ping` });
    const create = await fire('create Patient', {
      url: `${base}/fhir/Patient`,
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/fhir+json' },
      requests: [{ setupRequest: (req) => ({ ...req, body: patientBody(nir()) }) }],
    });
    const { rows } = await db.query<{ id: string; value: string }>(
      `SELECT p.id, i.value FROM patient p JOIN resource_identifier i ON i.resource_type = 'Patient' AND i.resource_id = p.id AND i.system = $1 ORDER BY random() LIMIT 20000`,
      [NIR]
    );
    const pick = (): { id: string; value: string } => rows[Math.floor(Math.random() * rows.length)];
    const read = await fire('read Patient by id', { url: base, headers: auth, requests: [{ setupRequest: (req) => ({ ...req, path: `/fhir/Patient/${pick().id}` }) }] });
    const search = await fire('search Patient by identifier', {
      url: base,
      headers: auth,
      requests: [{ setupRequest: (req) => ({ ...req, path: `/fhir/Patient?identifier=${encodeURIComponent(`${NIR}|${pick().value}`)}` }) }],
    });
    const share = (r: Result): string => `${((r.requests.average / ceiling.requests.average) * 100).toFixed(0)} % of ceiling`;
    process.stderr.write(`  read by id: ${share(read)}; create: ${share(create)}; search: ${share(search)}\n`);
    const { rows: counts } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM patient');
    const line = (name: string, r: Result, target = ''): string =>
      `| ${name.padEnd(28)} | ${String(Math.round(r.requests.average)).padStart(7)} | ${String(r.latency.p50).padStart(5)} | ${String(r.latency.p99).padStart(5)} | ${((r.requests.average / ceiling.requests.average) * 100).toFixed(0).padStart(7)} % | ${String(r.errors + r.timeouts + r.non2xx).padStart(6)} | ${target}`;
    return [
      '',
      `## core: HTTP + FHIR on PostgreSQL (${counts[0].n} patients after the create run; ${CONNECTIONS} connections, ${DURATION}s each)`,
      '',
      '| scenario                     |   req/s | p50ms | p99ms | of ceiling | errors | target',
      '| ---------------------------- | ------- | ----- | ----- | ---------- | ------ | ------',
      line('ceiling: trivial Hono route', ceiling),
      line('create Patient', create, '≥ 1,500 req/s, p99 < 50 ms'),
      line('read Patient by id', read, '≥ 20 % of ceiling; ≥ 4,000 req/s, p99 < 50 ms'),
      line('search Patient by identifier', search),
      '',
      `read by id: ${share(read)} (target ≥ 20 %, measured against the ceiling of the same run)`,
      '',
    ].join('\n');
  } finally {
    await server.stop();
  }
}

/**
 * The FHIR core over HTTP: create, read by id and search by identifier on
 * Patient, against the ceiling of the HTTP stack itself (a trivial Hono route
 * on the same server), with autocannon; in one process, then in
 * BENCH_CORE_PROCESSES (default 2) sharing the port, as `--processes` runs
 * them.
 *
 * This machine's speed drifts within a minute (up to 3x between sessions):
 * the ceiling, the read and the search are measured in turns (BENCH_ROUNDS
 * rounds of a slice each), so that each share of the ceiling compares
 * figures taken under the same conditions.
 */
import { randomUUID } from 'node:crypto';
import autocannon, { type Options, type Result } from 'autocannon';
import { startBenchServer } from './harness.js';
import { nir as randomNir, QUALIFIED } from './referral-fixtures.js';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PROCESSES = Number(process.env.BENCH_CORE_PROCESSES ?? 2);
const NIR = 'urn:oid:1.2.250.1.213.1.4.8';

function patientBody(value: string): string {
  return JSON.stringify({
    resourceType: 'Patient',
    extension: QUALIFIED,
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

/** A scenario's figures over its runs: mean rate, the median run's p50, the worst run's p99. */
interface Figures {
  name: string;
  rate: number;
  p50: number;
  p99: number;
  errors: number;
  /** Each round's rate (the interleaved scenarios). */
  rounds: number[];
}

function figures(name: string, runs: Result[]): Figures {
  const seconds = runs.reduce((s, r) => s + r.duration, 0);
  const total = runs.reduce((s, r) => s + r.requests.total, 0);
  const p50s = runs.map((r) => r.latency.p50).sort((a, b) => a - b);
  return {
    name,
    rate: total / seconds,
    p50: p50s[Math.floor(p50s.length / 2)],
    p99: Math.max(...runs.map((r) => r.latency.p99)),
    errors: runs.reduce((s, r) => s + r.errors + r.timeouts + r.non2xx, 0),
    rounds: runs.map((r) => r.requests.total / r.duration),
  };
}

const fire = (options: Options): Promise<Result> => autocannon({ connections: CONNECTIONS, ...options });

/** One gateway of `processes` processes: the create run, then the ceiling, read and search in turns. */
async function measure(processes: number): Promise<{ ceiling: Figures; create: Figures; read: Figures; search: Figures; patients: number }> {
  const server = await startBenchServer({ BENCH_PROCESSES: String(processes) });
  const { base, db } = server;
  try {
    const auth = { Authorization: `Bearer ${await server.token(['prescriber'], 'https://finess.esante.gouv.fr|750000001')}` };
    process.stderr.write(`core, ${processes} process${processes > 1 ? 'es' : ''}: ${CONNECTIONS} connections, PostgreSQL ${server.dbName}\n`);
    await autocannon({ url: `${base}/bench/ping`, connections: 4, duration: 2 }); // warm-up
    const create = figures('create Patient', [
      await fire({
        url: `${base}/fhir/Patient`,
        method: 'POST',
        duration: DURATION,
        headers: { ...auth, 'Content-Type': 'application/fhir+json' },
        requests: [{ setupRequest: (req) => ({ ...req, body: patientBody(randomNir('1')) }) }],
      }),
    ]);
    const { rows } = await db.query<{ id: string; value: string }>(
      `SELECT p.id, i.value FROM patient p JOIN resource_identifier i ON i.resource_type = 'Patient' AND i.resource_id = p.id AND i.system = $1 ORDER BY random() LIMIT 20000`,
      [NIR]
    );
    const pick = (): { id: string; value: string } => rows[Math.floor(Math.random() * rows.length)];
    const slice = Math.max(1, Math.round(DURATION / ROUNDS));
    const runs: Record<'ceiling' | 'read' | 'search', Result[]> = { ceiling: [], read: [], search: [] };
    for (let round = 0; round < ROUNDS; round++) {
      runs.ceiling.push(await fire({ url: `${base}/bench/ping`, duration: slice }));
      runs.read.push(await fire({ url: base, duration: slice, headers: auth, requests: [{ setupRequest: (req) => ({ ...req, path: `/fhir/Patient/${pick().id}` }) }] }));
      runs.search.push(
        await fire({
          url: base,
          duration: slice,
          headers: auth,
          requests: [{ setupRequest: (req) => ({ ...req, path: `/fhir/Patient?identifier=${encodeURIComponent(`${NIR}|${pick().value}`)}` }) }],
        })
      );
    }
    const result = {
      ceiling: figures('ceiling: trivial Hono route', runs.ceiling),
      create,
      read: figures('read Patient by id', runs.read),
      search: figures('search Patient by identifier', runs.search),
      patients: (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM patient')).rows[0].n,
    };
    const share = (f: Figures): string => `${((f.rate / result.ceiling.rate) * 100).toFixed(1)} %`;
    process.stderr.write(
      `  ceiling ${Math.round(result.ceiling.rate)} req/s; read by id ${Math.round(result.read.rate)} req/s (${share(result.read)} of it; rounds ${result.read.rounds.map((r, i) => `${((r / result.ceiling.rounds[i]) * 100).toFixed(0)} %`).join(', ')}); create ${Math.round(create.rate)} (${share(create)}); search ${Math.round(result.search.rate)} (${share(result.search)})\n`
    );
    return result;
  } finally {
    await server.stop();
  }
}

/** Runs the suite; returns its report (markdown). */
export async function benchCore(): Promise<string> {
  const one = await measure(1);
  const several = PROCESSES > 1 ? await measure(PROCESSES) : undefined;
  const percent = (f: Figures, ceiling: Figures): string => `${((f.rate / ceiling.rate) * 100).toFixed(1)} %`;
  const line = (f: Figures, ceiling: Figures, target = ''): string =>
    `| ${f.name.padEnd(28)} | ${String(Math.round(f.rate)).padStart(7)} | ${String(f.p50).padStart(5)} | ${String(f.p99).padStart(5)} | ${percent(f, ceiling).padStart(10)} | ${String(f.errors).padStart(6)} | ${target}`;
  const table = (m: Awaited<ReturnType<typeof measure>>, processes: number): string[] => [
    '',
    `### ${processes} process${processes > 1 ? 'es' : ''} (${m.patients} patients after the create run)`,
    '',
    '| scenario                     |   req/s | p50ms | p99ms | of ceiling | errors | target',
    '| ---------------------------- | ------- | ----- | ----- | ---------- | ------ | ------',
    line(m.ceiling, m.ceiling),
    line(m.create, m.ceiling, processes === 1 ? '≥ 1,500 req/s, p99 < 50 ms' : ''),
    line(m.read, m.ceiling, processes === 1 ? '≥ 20 % of ceiling; p99 < 50 ms' : ''),
    line(m.search, m.ceiling),
  ];
  const gain = (f: (m: Awaited<ReturnType<typeof measure>>) => Figures): string => (several ? `×${(f(several).rate / f(one).rate).toFixed(2)}` : '');
  return [
    '',
    `## core: HTTP + FHIR on PostgreSQL (${CONNECTIONS} connections; create ${DURATION}s; ceiling, read and search in ${ROUNDS} rounds of ${Math.max(1, Math.round(DURATION / ROUNDS))}s each)`,
    ...table(one, 1),
    ...(several ? table(several, PROCESSES) : []),
    '',
    `read by id, 1 process: ${percent(one.read, one.ceiling)} of the ceiling measured in turns with it (target ≥ 20 %)`,
    ...(several
      ? [
          `${PROCESSES} processes over 1: read by id ${gain((m) => m.read)}, create ${gain((m) => m.create)}, search ${gain((m) => m.search)}, ceiling ${gain((m) => m.ceiling)} (${PROCESSES} processes: read by id at ${percent(several.read, several.ceiling)} of their ceiling)`,
        ]
      : []),
    '',
  ].join('\n');
}

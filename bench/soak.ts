/**
 * Soak (issue 6, "Trust"): the mixed load of `soak-mix.ts` on a world of
 * admission requests, first as fast as the gateway answers (closed loop, the
 * calibration), then held at 70 % of that maximum for BENCH_SOAK_DURATION
 * seconds with arrivals evenly paced, sampled every BENCH_SOAK_INTERVAL
 * seconds: rate, p50/p99, errors, and the gateway's RSS. It fails (exit code
 * 1) on any error, on memory that grows, or on a rate not held.
 */
import os from 'node:os';
import { percentile, startBenchServer, type BenchServer } from './harness.js';
import { LoadClient, LoadRecorder, mergeFigures, type LoadFigures } from './paced-load.js';
import { createUnits, HOSPITAL } from './referral-fixtures.js';
import { MIX, SoakMix } from './soak-mix.js';

const CALIBRATION = Number(process.env.BENCH_SOAK_CALIBRATION ?? 30);
const DURATION = Number(process.env.BENCH_SOAK_DURATION ?? 600);
const INTERVAL = Number(process.env.BENCH_SOAK_INTERVAL ?? 30);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const LOAD = 0.7;
const UNITS = 8;
const SEEDED_REQUESTS = 300;
const WARM_UP_SECONDS = 5;
/**
 * Memory is flat when, after warm-up, the floor RSS (the lowest sample of each
 * minute: where the process returns after a collection) of the last third is
 * less than 10 % above the first third's, and the floors' slope (Theil–Sen,
 * so that one odd minute does not tilt it) is under 2 MB/min (about 6 % of the
 * gateway's RSS over ten minutes). A leak raises the floor; the mean RSS
 * mostly tells when the collector last ran (it swings by 100 MB and more
 * within a minute), so it is reported, not judged.
 */
const MAX_GROWTH = 0.1;
const MAX_SLOPE = 2;
/** The rate is held when at least 95 % of the target was answered and the gateway never fell more than 1 s behind. */
const MIN_HELD = 0.95;
const MAX_BEHIND_SECONDS = 1;

interface RssSample {
  /** Seconds since the soak began. */
  t: number;
  mb: number;
}

/** One interval of the soak. */
interface SoakWindow {
  /** Seconds since the soak began. */
  end: number;
  figures: LoadFigures;
  /** Mean RSS of the gateway, MB. */
  rss: number;
  /** CPU the gateway used, % of one core. */
  cpu: number;
  /** The machine's 1-minute load average (other work on it slows the gateway down too). */
  load: number;
  /** Where the interval began: seconds since the soak began, and the gateway's CPU seconds then. */
  start: { t: number; cpu: number };
}

const mean = (values: number[]): number => values.reduce((s, v) => s + v, 0) / values.length;
const ms = (sorted: number[], p: number): string => (sorted.length ? percentile(sorted, p).toFixed(1) : '–');
const until = (seconds: number): (() => boolean) => {
  const end = performance.now() + seconds * 1000;
  return () => performance.now() >= end;
};

/** Least-squares slope of RSS, MB per minute. */
function slope(samples: RssSample[]): number {
  const t = mean(samples.map((s) => s.t));
  const mb = mean(samples.map((s) => s.mb));
  const num = samples.reduce((s, x) => s + (x.t - t) * (x.mb - mb), 0);
  const den = samples.reduce((s, x) => s + (x.t - t) ** 2, 0);
  return den > 0 ? (num / den) * 60 : 0;
}

/** Theil–Sen slope (the median of the slopes between every two samples), MB per minute: one odd minute does not tilt it. */
function robustSlope(samples: RssSample[]): number {
  const slopes: number[] = [];
  for (let i = 0; i < samples.length; i++) {
    for (let j = i + 1; j < samples.length; j++) if (samples[j].t > samples[i].t) slopes.push(((samples[j].mb - samples[i].mb) / (samples[j].t - samples[i].t)) * 60);
  }
  slopes.sort((a, b) => a - b);
  const mid = Math.floor(slopes.length / 2);
  return slopes.length % 2 ? slopes[mid] : (slopes[mid - 1] + slopes[mid]) / 2;
}

/** The lowest sample of each minute: the RSS the process comes back to after a collection. */
function floors(samples: RssSample[]): RssSample[] {
  const byMinute = new Map<number, RssSample>();
  for (const s of samples) {
    const minute = Math.floor(s.t / 60);
    const low = byMinute.get(minute);
    if (!low || s.mb < low.mb) byMinute.set(minute, s);
  }
  return [...byMinute.values()].sort((a, b) => a.t - b.t);
}

function thirds(samples: RssSample[]): { first: number; last: number; growth: number } {
  const third = Math.max(1, Math.floor(samples.length / 3));
  const first = mean(samples.slice(0, third).map((s) => s.mb));
  const last = mean(samples.slice(-third).map((s) => s.mb));
  return { first, last, growth: (last - first) / first };
}

/** The memory verdict over the samples after warm-up: on the minute floors, first third against last third, and the slope. */
function memoryVerdict(samples: RssSample[], warmUp: number): { flat: boolean; line: string } {
  const after = samples.filter((s) => s.t >= warmUp);
  const low = floors(after);
  if (low.length < 3) return { flat: false, line: `too few minutes after the ${warmUp} s warm-up to judge` };
  const floor = thirds(low);
  const floorSlope = robustSlope(low);
  const all = thirds(after);
  const flat = floor.growth < MAX_GROWTH && floorSlope < MAX_SLOPE;
  const pct = (g: number): string => `${g >= 0 ? '+' : ''}${(g * 100).toFixed(1)} %`;
  const line =
    `RSS after the ${warmUp} s warm-up (${after.length} samples, one a second; ${low.length} minute floors): ` +
    `floors ${low.map((s) => s.mb.toFixed(0)).join(', ')} MB; first third of the floors ${floor.first.toFixed(1)} MB, last third ${floor.last.toFixed(1)} MB (${pct(floor.growth)}), Theil–Sen slope ${floorSlope.toFixed(2)} MB/min. ` +
    `Mean RSS (not judged): first third ${all.first.toFixed(1)} MB, last third ${all.last.toFixed(1)} MB (${pct(all.growth)}), slope ${slope(after).toFixed(2)} MB/min, range ${Math.min(...after.map((s) => s.mb)).toFixed(0)}–${Math.max(...after.map((s) => s.mb)).toFixed(0)} MB. ` +
    `Criterion: flat when the floors grow under ${MAX_GROWTH * 100} % and their slope is under ${MAX_SLOPE} MB/min.`;
  return { flat, line };
}

function kindTable(figures: LoadFigures): string[] {
  const rows = [...figures.byKind].sort((a, b) => b[1].length - a[1].length);
  return [
    '| request | share | p50 ms | p99 ms |',
    '| --- | --- | --- | --- |',
    ...rows.map(([kind, values]) => `| ${kind} | ${((values.length / figures.requests) * 100).toFixed(1)} % | ${ms(values, 50)} | ${ms(values, 99)} |`),
  ];
}

/**
 * Holds `rate` for DURATION seconds, closing a window every INTERVAL seconds
 * (the last answers, in after the last interval, join it) and sampling the
 * gateway's RSS every second.
 */
async function hold(server: BenchServer, client: LoadClient, recorder: LoadRecorder, mix: SoakMix, rate: number): Promise<{ windows: SoakWindow[]; samples: RssSample[]; unsent: number; maxBacklog: number }> {
  const started = performance.now();
  const elapsed = (): number => (performance.now() - started) / 1000;
  const samples: RssSample[] = [];
  const windows: SoakWindow[] = [];
  let start = { t: 0, cpu: server.cpuSeconds() };
  recorder.take();
  const closeWindow = (last = false): void => {
    let figures = recorder.take();
    const previous = last && figures.seconds < INTERVAL / 2 ? windows.pop() : undefined;
    if (previous) {
      figures = mergeFigures([previous.figures, figures]);
      start = previous.start;
    }
    const end = elapsed();
    const cpu = server.cpuSeconds();
    const inWindow = samples.filter((s) => s.t > start.t).map((s) => s.mb);
    const w: SoakWindow = { end, figures, rss: inWindow.length ? mean(inWindow) : server.rss(), cpu: ((cpu - start.cpu) / (end - start.t)) * 100, load: os.loadavg()[0], start };
    windows.push(w);
    start = { t: end, cpu };
    if (previous) return; // already shown, but for the last answers
    process.stderr.write(`  ${end.toFixed(0).padStart(5)} s: ${(figures.requests / figures.seconds).toFixed(0)} req/s, p50 ${ms(figures.latencies, 50)} ms, p99 ${ms(figures.latencies, 99)} ms, ${figures.errors} errors, RSS ${w.rss.toFixed(0)} MB, CPU ${w.cpu.toFixed(0)} %, load ${w.load.toFixed(1)}\n`);
    for (const sample of figures.errorSamples) process.stderr.write(`    ${sample}\n`);
  };
  const rssTimer = setInterval(() => samples.push({ t: elapsed(), mb: server.rss() }), 1_000);
  const windowTimer = setInterval(() => closeWindow(), INTERVAL * 1_000);
  const { unsent, maxBacklog } = await client.paced(() => mix.next(), rate, DURATION);
  clearInterval(windowTimer);
  clearInterval(rssTimer);
  closeWindow(true);
  return { windows, samples, unsent, maxBacklog };
}

/** Runs the suite; returns its report (markdown); sets the exit code to 1 when the soak fails. */
export async function benchSoak(): Promise<string> {
  // Tokens are issued once, before the load: they must outlive it.
  const server = await startBenchServer({ AIGUILLAGE_TOKEN_TTL: String(CALIBRATION + DURATION + 3_600) });
  const recorder = new LoadRecorder();
  const client = new LoadClient(server.base, CONNECTIONS, recorder);
  try {
    const units = await createUnits(server, UNITS);
    const receivers = await Promise.all(units.map(async (u) => [u.id, `Bearer ${await server.token(['receiver'], u.organization)}`] as const));
    const mix = new SoakMix({ prescriber: `Bearer ${await server.token(['prescriber'], HOSPITAL)}`, units: Object.fromEntries(receivers) });
    const seedingTimeout = until(120);
    await client.closed(() => mix.seed(), () => mix.pooled >= SEEDED_REQUESTS || recorder.errors > 0 || seedingTimeout());
    const seeding = recorder.take();
    if (mix.pooled < SEEDED_REQUESTS) throw new Error(`seeding the world failed (${mix.pooled} requests in 120 s): ${seeding.errorSamples.join('; ')}`);
    await server.db.query('ANALYZE');

    process.stderr.write(`soak: calibration ${CALIBRATION} s (closed loop, ${CONNECTIONS} connections), PostgreSQL ${server.dbName}\n`);
    await client.closed(() => mix.next(), until(WARM_UP_SECONDS));
    recorder.take();
    await client.closed(() => mix.next(), until(CALIBRATION));
    const ceiling = recorder.take();
    const max = ceiling.requests / ceiling.seconds;
    const target = Math.round(max * LOAD);
    process.stderr.write(`  max ${max.toFixed(0)} req/s, p50 ${ms(ceiling.latencies, 50)} ms, p99 ${ms(ceiling.latencies, 99)} ms, ${ceiling.errors} errors; holding ${target} req/s for ${DURATION} s\n`);

    const { windows, samples, unsent, maxBacklog } = await hold(server, client, recorder, mix, target);
    const soak = mergeFigures(windows.map((w) => w.figures));
    const achieved = soak.requests / DURATION;
    const behind = maxBacklog / target;
    const memory = memoryVerdict(samples, Math.max(INTERVAL, DURATION / 10));
    const held = achieved >= target * MIN_HELD && behind <= MAX_BEHIND_SECONDS;
    const verdict = (ok: boolean, what: string, detail: string): string => `**${ok ? 'PASS' : 'FAIL'}** ${what}: ${detail}`;
    if (soak.errors > 0 || !memory.flat || !held) process.exitCode = 1;
    return [
      '',
      `## soak: ${LOAD * 100} % of the measured maximum mixed load for ${DURATION} s (${CONNECTIONS} connections)`,
      '',
      `Mix: ${MIX.read} % reads by id (Patient, ServiceRequest, Task), ${MIX.search} % searches (a unit's Task work list by owner and status, ServiceRequest by patient, Patient by name, Task by focus), ` +
        `${MIX.submission} % submissions (transaction: Patient + 3 volets + ServiceRequest to 3 of ${UNITS} units), ${MIX.move} % status moves (Task PUT with If-Match by the unit, or the prescriber's confirmation). ` +
        `World before calibration: ${SEEDED_REQUESTS} requests with their tasks and patients.`,
      '',
      `Calibration, closed loop for ${CALIBRATION} s: **max ${max.toFixed(0)} req/s**, p50 ${ms(ceiling.latencies, 50)} ms, p99 ${ms(ceiling.latencies, 99)} ms, ${ceiling.errors} errors, ${ceiling.tolerated} lost If-Match races (412).`,
      '',
      ...kindTable(ceiling),
      '',
      `Soak, open loop paced evenly (latency from when each request was due): target **${target} req/s**, achieved **${achieved.toFixed(0)} req/s** (${((achieved / target) * 100).toFixed(1)} %), ` +
        `${soak.requests} requests (${unsent} due but not sent by the end), at most ${behind.toFixed(1)} s behind (${maxBacklog} requests waiting for a connection), p50 ${ms(soak.latencies, 50)} ms, p99 ${ms(soak.latencies, 99)} ms.`,
      '',
      `| time s | req/s | p50 ms | p99 ms | errors | 412 | RSS MB (mean) | gateway CPU % | load (${os.cpus().length} cores) |`,
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...windows.map(
        ({ end, figures: f, rss, cpu, load }) =>
          `| ${end.toFixed(0)} | ${(f.requests / f.seconds).toFixed(0)} | ${ms(f.latencies, 50)} | ${ms(f.latencies, 99)} | ${f.errors} | ${f.tolerated} | ${rss.toFixed(0)} | ${cpu.toFixed(0)} | ${load.toFixed(1)} |`
      ),
      '',
      ...kindTable(soak),
      '',
      memory.line,
      '',
      verdict(soak.errors === 0, 'no errors', `${soak.errors} errors (non-2xx but 412 on a move, timeouts, socket errors); ${soak.tolerated} lost If-Match races (412) counted apart`),
      ...soak.errorSamples.map((s) => `  - ${s}`),
      '',
      verdict(memory.flat, 'flat memory', 'see the criterion above'),
      '',
      verdict(held, 'rate held', `${achieved.toFixed(0)} of ${target} req/s (at least ${MIN_HELD * 100} %), at most ${behind.toFixed(1)} s behind (at most ${MAX_BEHIND_SECONDS} s)`),
      '',
    ].join('\n');
  } finally {
    client.close();
    await server.stop();
  }
}

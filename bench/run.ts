/**
 * `npm run bench [-- core directory referrals decisions soak]`: each suite starts the gateway on a
 * fresh PostgreSQL database (a child process: API + workers, with Redis, rate
 * limiting off) and prints its figures; all but `soak` run by default. Environment:
 * BENCH_DURATION (s per HTTP scenario, default 10), BENCH_CONNECTIONS (default 16),
 * BENCH_ROUNDS (core: turns of ceiling, read and search, default 5),
 * BENCH_CORE_PROCESSES (core: the second run's processes, default 2; 1: none),
 * BENCH_POSTGRES_URL, BENCH_DIRECTORY_SCALE (1 = 100,000 units, 30,000
 * structures and places), BENCH_PENDING_DEADLINES (default 1,000,000),
 * BENCH_DECISION_ROWS (default 1,000,000); for `soak`, BENCH_SOAK_CALIBRATION
 * (s at full load, default 30), BENCH_SOAK_DURATION (s at 70 % of it, default
 * 600), BENCH_SOAK_INTERVAL (s between samples, default 30). A suite that
 * fails its own check (the soak) sets the exit code to 1.
 */
import { benchCore } from './core.js';
import { benchDecisions } from './decisions.js';
import { benchDirectory } from './directory.js';
import { benchReferrals } from './referrals.js';
import { benchSoak } from './soak.js';

const SUITES: Record<string, () => Promise<string>> = { core: benchCore, directory: benchDirectory, referrals: benchReferrals, decisions: benchDecisions, soak: benchSoak };
/** Run when no suite is named: the soak takes over ten minutes, so it runs only when asked for. */
const DEFAULT_SUITES = ['core', 'directory', 'referrals', 'decisions'];

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = wanted.length > 0 ? wanted : DEFAULT_SUITES;
  for (const name of names) {
    const suite = SUITES[name];
    if (!suite) throw new Error(`unknown suite "${name}"; suites: ${Object.keys(SUITES).join(', ')}`);
    process.stdout.write(await suite());
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

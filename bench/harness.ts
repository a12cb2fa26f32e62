/** Benchmark harness: a fresh PostgreSQL database, the gateway in a child process, tokens, and RSS sampling. */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createClient } from '../src/auth/clients.js';
import type { Role } from '../src/core/principal.js';
import { openDatabase, type Database } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';

/** A gateway running for a benchmark. */
export interface BenchServer {
  base: string;
  db: Database;
  dbName: string;
  pid: number;
  token(roles: Role[], organization?: string): Promise<string>;
  /** The server's resident memory now, in MB (VmRSS of the gateway process). */
  rss(): number;
  /** CPU time the gateway process has used so far (user + system), in seconds. */
  cpuSeconds(): number;
  /** Samples the server's resident memory every 250 ms; returns a function giving the peak in MB and stopping. */
  sampleRss(): () => number;
  /** Stops the gateway process only (the database stays, for measurements after it). */
  stopGateway(): Promise<void>;
  stop(): Promise<void>;
}

const ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : 0;
}

/** Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`: 100 on Linux). */
const CLOCK_TICKS = 100;

function cpuSeconds(pid: number): number {
  // The fields after the command name (in parentheses, and it may hold spaces) start at the state; utime and stime are the 12th and 13th.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Starts the gateway (API + workers) on a fresh database. */
export async function startBenchServer(env: Record<string, string> = {}): Promise<BenchServer> {
  const dbName = `aiguillage_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  const db = await openDatabase({ databaseUrl, dataDir: '' });
  await migrate(db);

  const port = 18_000 + Math.floor(Math.random() * 1000);
  const server: ChildProcess = fork(fileURLToPath(new URL('./server.js', import.meta.url)), {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      AIGUILLAGE_QUEUE_PREFIX: `bench-${dbName}`,
      AIGUILLAGE_DB_POOL_SIZE: '16',
      // A bench drives one client far beyond any per-client limit: it would measure the limiter.
      AIGUILLAGE_RATE_LIMIT: '0',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [],
  });
  await new Promise<void>((resolve, reject) => {
    server.once('message', () => resolve());
    server.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  // A benchmark stopped half-way (Ctrl-C, kill) takes its gateway with it.
  const orphanGuard = (): void => {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  };
  process.once('exit', orphanGuard);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      orphanGuard();
      process.exit(130);
    });
  }
  const base = `http://127.0.0.1:${port}`;
  const stopGateway = async (): Promise<void> => {
    if (server.exitCode !== null || server.signalCode !== null) return;
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
  };
  return {
    base,
    db,
    dbName,
    pid: server.pid as number,
    async token(roles, organization) {
      const client = await createClient(db, { name: 'bench', roles, organization });
      const res = await fetch(`${base}/oauth2/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret }),
      });
      return ((await res.json()) as { access_token: string }).access_token;
    },
    rss: () => rssMb(server.pid as number),
    cpuSeconds: () => cpuSeconds(server.pid as number),
    sampleRss() {
      let peak = rssMb(server.pid as number);
      const timer = setInterval(() => {
        try {
          peak = Math.max(peak, rssMb(server.pid as number));
        } catch {
          // the process is gone
        }
      }, 250);
      return () => {
        clearInterval(timer);
        return peak;
      };
    },
    stopGateway,
    async stop() {
      await stopGateway();
      await db.close();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** Percentile of sorted numbers. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Services a fault test may stop, kill and restart without hurting the test
 * files running beside it: its own redis-server, its own PostgreSQL cluster
 * (initdb in a temporary directory, run as the `postgres` user when the tests
 * run as root), and gateway workers in child processes that can be SIGKILLed.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { freePort, waitFor } from './helpers.js';

/** A redis-server of the test's own. */
export interface PrivateRedis {
  url: string;
  /** Kills the server (SIGKILL: nothing saved, as with --save ""), and starts an empty one on the same port. */
  restart(): Promise<void>;
  kill(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Starts one, or only picks its port with `{ started: false }` (nothing listens there until `start()`). */
export async function startPrivateRedis(options: { started?: boolean } = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
    probe.on('error', () => undefined);
    await waitFor('redis-server', async () => (await probe.ping().catch(() => '')) === 'PONG');
    probe.disconnect();
  };
  const kill = async (): Promise<void> => {
    const running = child;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGKILL');
    });
  };
  if (options.started ?? true) await start();
  return { url, start, kill, restart: async () => (await kill(), start()), close: kill };
}

const PG_BIN = (() => {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).sort() : [];
  return versions.length > 0 ? path.join(root, versions[versions.length - 1], 'bin') : '';
})();

/** A PostgreSQL cluster of the test's own, that it may stop and start. */
export interface PrivatePostgres {
  /** URL of its `postgres` database. */
  url: string;
  /** Stops the server (`immediate`: as a crash, every connection dropped at once). */
  stop(): void;
  start(): void;
  close(): void;
  /** Stops every process of the server (SIGSTOP): connections stay open and nothing answers, as with a hung server. */
  freeze(): void;
  /** Lets them run again (SIGCONT). */
  thaw(): void;
}

function asPostgres(command: string, args: string[]): string {
  const file = path.join(PG_BIN, command);
  if (process.getuid?.() === 0) return execFileSync('runuser', ['-u', 'postgres', '--', file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  if (!PG_BIN) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiguillage-pg-'));
  fs.chmodSync(dir, 0o777);
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres', dir]);
  const data = path.join(dir, 'data');
  const port = await freePort();
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale', 'C']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
  const start = (): void => void asPostgres('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'log'), '-w', 'start']);
  const stop = (): void => void asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await waitFor('private PostgreSQL', async () => {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return true;
    } catch {
      return false;
    }
  });
  const signalAll = (signal: NodeJS.Signals): void => {
    const postmaster = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const children = execFileSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    for (const pid of [postmaster, ...children]) process.kill(pid, signal);
  };
  return {
    url,
    stop,
    start,
    freeze: () => signalAll('SIGSTOP'),
    thaw: () => signalAll('SIGCONT'),
    close: () => {
      try {
        stop();
      } catch {
        // already stopped
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A gateway worker process (`aiguillage worker`), to be killed with SIGKILL. */
export interface WorkerProcess {
  child: ChildProcess;
  kill(): Promise<void>;
}

export function spawnWorker(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'worker'], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return {
    child,
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

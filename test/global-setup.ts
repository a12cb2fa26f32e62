/**
 * Once per test run: a fresh PostgreSQL database, migrated, that each test
 * file clones as a template (so files run in parallel without sharing rows),
 * and a Redis of the run's own: a redis-server started on a free port (no
 * persistence), or, when `TEST_REDIS_BASE_URL` names a Redis to use, a
 * database number of it, flushed before and after. Both go at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';

const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SHARED_REDIS_URL = process.env.TEST_REDIS_BASE_URL;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A redis-server of the run's own, or undefined when there is no redis-server to start. */
async function startOwnRedis(): Promise<{ url: string; stop(): Promise<void> } | undefined> {
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const started = await new Promise<boolean>((resolve) => {
    child.once('error', () => resolve(false));
    child.once('spawn', () => resolve(true));
  });
  if (!started) return undefined;
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  probe.on('error', () => undefined);
  for (let i = 0; i < 200 && (await probe.ping().catch(() => '')) !== 'PONG'; i++) await new Promise((r) => setTimeout(r, 25));
  probe.disconnect();
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const template = `aiguillage_test_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not answering at ${ADMIN_URL} (${(err as Error).message}); start it (see README)`);
  }
  await admin.query(`CREATE DATABASE ${template}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${template}`;
  const db = await openDatabase({ databaseUrl: url.toString(), dataDir: '' });
  await migrate(db);
  await db.close();
  // No connection may stay on a template that is being cloned.
  await admin.query(`ALTER DATABASE ${template} WITH ALLOW_CONNECTIONS false`);

  const own = SHARED_REDIS_URL ? undefined : await startOwnRedis();
  const base = own?.url ?? SHARED_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const redisUrl = own ? `${base}/0` : `${base}/${1 + (randomBytes(1)[0] % 15)}`;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    await redis.ping();
  } catch (err) {
    throw new Error(`Redis is not answering at ${base} (${(err as Error).message}); install redis-server, or set TEST_REDIS_BASE_URL (see README)`);
  }
  await redis.flushdb();
  redis.disconnect();

  project.provide('postgresAdminUrl', ADMIN_URL);
  project.provide('templateDatabase', template);
  project.provide('redisUrl', redisUrl);

  return async () => {
    const { rows } = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`${template}%`]);
    for (const row of rows) await admin.query(`DROP DATABASE IF EXISTS ${row.datname} WITH (FORCE)`);
    await admin.end();
    if (own) return own.stop();
    const r = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    await r.flushdb();
    r.disconnect();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
    templateDatabase: string;
    redisUrl: string;
  }
}

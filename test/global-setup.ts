/**
 * Once per test run: a fresh PostgreSQL database, migrated, that each test
 * file clones as a template (so files run in parallel without sharing rows),
 * and a Redis database number of its own. Both are dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';

const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_BASE_URL ?? 'redis://127.0.0.1:6379';

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

  const redisDb = 1 + (randomBytes(1)[0] % 15);
  const redis = new Redis(`${REDIS_URL}/${redisDb}`, { maxRetriesPerRequest: 1 });
  try {
    await redis.ping();
  } catch (err) {
    throw new Error(`Redis is not answering at ${REDIS_URL} (${(err as Error).message}); start it (see README)`);
  }
  await redis.flushdb();
  redis.disconnect();

  project.provide('postgresAdminUrl', ADMIN_URL);
  project.provide('templateDatabase', template);
  project.provide('redisUrl', `${REDIS_URL}/${redisDb}`);

  return async () => {
    const { rows } = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`${template}%`]);
    for (const row of rows) await admin.query(`DROP DATABASE IF EXISTS ${row.datname} WITH (FORCE)`);
    await admin.end();
    const r = new Redis(`${REDIS_URL}/${redisDb}`, { maxRetriesPerRequest: 1 });
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

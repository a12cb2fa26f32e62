/**
 * The relational store: PostgreSQL through `pg` when a URL is configured,
 * embedded PostgreSQL (PGlite, a data directory on disk) otherwise. Both run
 * the same SQL; callers only see `Queryable` and `Database`.
 *
 * Conventions that keep the two drivers interchangeable:
 * - JSON goes in as text (`$1::text::jsonb` with `JSON.stringify`), never as
 *   an object, because the drivers serialise objects differently;
 * - timestamps go in as ISO strings and come back as `Date`.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { PGlite } from '@electric-sql/pglite';

/** Result rows of a query. */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/** Anything that runs a parameterised statement: the database or a transaction. */
export interface Queryable {
  /** Which driver runs it: PostgreSQL's (node-postgres) or the embedded one (PGlite). */
  readonly kind: 'postgres' | 'embedded';
  /**
   * Runs one statement. `name` makes it a prepared statement, parsed and
   * planned once per connection (a generic plan): for the hot, fixed-shape
   * statements only, whose best plan does not depend on their values.
   */
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[], name?: string): Promise<QueryResult<R>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(text: string): Promise<void>;
}

/** A connection pool (or the embedded database) that also opens transactions. */
export interface Database extends Queryable {
  /** Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Whether the database answers a trivial statement (readiness probes). */
export async function isAnswering(q: Queryable): Promise<boolean> {
  return q.query('SELECT 1').then(
    () => true,
    () => false
  );
}

/**
 * Runs `fn` under a savepoint of the open transaction `q`: released when it
 * resolves; rolled back to when it throws (undoing `fn`'s writes only), and
 * the error rethrown. Without a transaction, just runs `fn`.
 */
export async function underSavepoint<T>(q: Queryable | undefined, name: string, fn: () => Promise<T>): Promise<T> {
  if (!q) return fn();
  if (!/^[a-z_]+$/.test(name)) throw new Error(`a savepoint name is lowercase letters, got "${name}"`);
  await q.query(`SAVEPOINT ${name}`);
  let value: T;
  try {
    value = await fn();
  } catch (err) {
    // A lost connection fails the rollback too: the caller gets the first error.
    await q.query(`ROLLBACK TO SAVEPOINT ${name}`).catch(() => undefined);
    throw err;
  }
  await q.query(`RELEASE SAVEPOINT ${name}`);
  return value;
}

/** Settings a transaction may change for itself (`SET LOCAL`): memory, JIT, commit durability, plans. */
export interface LocalSettings {
  work_mem?: `${number}MB`;
  jit?: 'on' | 'off';
  /** Off: a commit returns before its WAL is flushed (a crash may lose it, never half of it). */
  synchronous_commit?: 'on' | 'off';
  plan_cache_mode?: 'auto' | 'force_generic_plan' | 'force_custom_plan';
}

/** Changes settings for the rest of the open transaction `q`. */
export async function setLocal(q: Queryable, settings: LocalSettings): Promise<void> {
  const statements = Object.entries(settings)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `SET LOCAL ${name} = '${String(value)}'`);
  if (statements.length > 0) await q.exec(statements.join('; '));
}

// Large integers and numerics come back as strings from both drivers unless told otherwise.
pg.types.setTypeParser(20, (v) => Number(v));

/**
 * PostgreSQL through two pools. Prepared statements outside transactions run
 * on connections of their own whose plans are generic
 * (`plan_cache_mode=force_generic_plan`): planned once per connection, as
 * preparing them means. In the default mode PostgreSQL plans a statement
 * again at every execution while a plan made for its values looks cheaper
 * than the generic one, and for the batched reads by id (`id = ANY($1)` with a
 * few ids) it always does: planning was about 40 % of PostgreSQL's time in a
 * read by id (bench `core`). Other statements keep plans made for their
 * values (a search's best plan depends on them).
 */
class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  constructor(
    private readonly pool: pg.Pool,
    private readonly prepared: pg.Pool
  ) {}

  async query<R>(text: string, params?: readonly unknown[], name?: string): Promise<QueryResult<R>> {
    const result = await (name ? this.prepared : this.pool).query({ text, values: params as unknown[] | undefined, name });
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
  }

  async exec(text: string): Promise<void> {
    await this.pool.query(text);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx: Queryable = {
      kind: 'postgres',
      query: async <R>(text: string, params?: readonly unknown[], name?: string) => {
        const result = await client.query({ text, values: params as unknown[] | undefined, name });
        return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
      },
      exec: async (text: string) => {
        await client.query(text);
      },
    };
    let broken = false;
    // A connection lost mid-transaction is reported on the client: mark it broken (not thrown as uncaught).
    const onError = (): void => {
      broken = true;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const value = await fn(tx);
      await client.query('COMMIT');
      return value;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true; // the connection itself failed: do not give it back to the pool
      }
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.prepared.end()]);
  }
}

// PGlite reports affectedRows = 0 for a SELECT: count the rows then, as pg does.
function embeddedResult<R>(result: { rows: R[]; affectedRows?: number }): QueryResult<R> {
  return { rows: result.rows, rowCount: result.rows.length > 0 ? result.rows.length : (result.affectedRows ?? 0) };
}

class EmbeddedDatabase implements Database {
  readonly kind = 'embedded' as const;
  constructor(
    private readonly db: PGlite,
    private readonly releaseLock: () => void
  ) {}

  async query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    return embeddedResult(await this.db.query<R>(text, params as unknown[] | undefined));
  }

  async exec(text: string): Promise<void> {
    await this.db.exec(text);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    // PGlite runs one transaction at a time and queues every other query behind it.
    return this.db.transaction(async (t) =>
      fn({
        kind: 'embedded',
        query: async <R>(text: string, params?: readonly unknown[]) => {
          return embeddedResult(await t.query<R>(text, params as unknown[] | undefined));
        },
        exec: async (text: string) => {
          await t.exec(text);
        },
      })
    );
  }

  async close(): Promise<void> {
    try {
      await this.db.close();
    } finally {
      this.releaseLock();
    }
  }
}

/**
 * The embedded database is one process's: a second process opening the same
 * directory would corrupt it. A lock file holding the owner's pid keeps it
 * out (a lock left by a dead process is taken over).
 */
function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, 'aiguillage.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(fs.readFileSync(file, 'utf8'));
      if (owner && isAlive(owner)) {
        throw new Error(
          `The embedded database in ${dataDir} is in use by process ${owner}. Stop that gateway first, or set DATABASE_URL to share a PostgreSQL server between processes.`
        );
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new Error(`Could not lock ${file}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Where the data lives: a PostgreSQL URL, or a directory for the embedded database. */
export interface DatabaseOptions {
  databaseUrl?: string;
  dataDir: string;
  /** Connections for statements; the prepared ones outside transactions have a quarter more (at least 2) of their own. */
  poolSize?: number;
  /** Longest a single statement may run on PostgreSQL, in ms (0: no limit). */
  statementTimeoutMs?: number;
}

/** Why PostgreSQL at DATABASE_URL cannot be used, said for the operator (the variable named, no stack). */
export function databaseUrlError(databaseUrl: string, err: unknown): Error {
  const e = err as Error & { code?: string };
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    return new Error('DATABASE_URL is not a URL: expected postgres://USER@HOST:PORT/DATABASE');
  }
  const host = `${url.hostname}:${url.port || 5432}`;
  const database = decodeURIComponent(url.pathname.slice(1)) || decodeURIComponent(url.username) || 'postgres';
  const user = decodeURIComponent(url.username) || 'the current user';
  switch (e.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new Error(`DATABASE_URL: cannot resolve the host "${url.hostname}" (${e.code}); expected postgres://USER@HOST:PORT/DATABASE`);
    case 'ECONNREFUSED':
      return new Error(`DATABASE_URL: nothing answers at ${host}: is PostgreSQL running there?`);
    case '3D000':
      return new Error(`DATABASE_URL names the database "${database}", which does not exist on ${host}: create it (createdb -h ${url.hostname} -p ${url.port || 5432} ${database}) or name another`);
    case '28P01':
    case '28000':
      return new Error(`DATABASE_URL: PostgreSQL at ${host} refused ${user} (${e.message})`);
    default:
      return new Error(`DATABASE_URL: cannot use PostgreSQL at ${host}: ${e.message}`);
  }
}

/** Opens the configured database. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    const size = options.poolSize ?? 10;
    const poolOf = (max: number, settings?: string): pg.Pool => {
      const pool = new pg.Pool({
        connectionString: options.databaseUrl,
        max,
        connectionTimeoutMillis: 5_000,
        statement_timeout: options.statementTimeoutMs || undefined,
        ...(settings ? { options: settings } : {}),
      });
      // An idle client losing its connection must not crash the process; the pool replaces it.
      pool.on('error', () => undefined);
      return pool;
    };
    const pool = poolOf(size);
    const prepared = poolOf(Math.max(2, Math.ceil(size / 4)), '-c plan_cache_mode=force_generic_plan');
    const db = new PostgresDatabase(pool, prepared);
    try {
      await db.query('SELECT 1');
    } catch (err) {
      await db.close().catch(() => undefined);
      throw databaseUrlError(options.databaseUrl, err);
    }
    return db;
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm');
  fs.mkdirSync(options.dataDir, { recursive: true });
  const release = lockDataDir(options.dataDir);
  try {
    return new EmbeddedDatabase(await PGlite.create(options.dataDir, { extensions: { pg_trgm } }), release);
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * Versioned SQL migrations: `src/store/migrations/NNN_name.sql`, applied in
 * order, each in its own transaction, under an advisory lock so that several
 * processes starting together apply each one exactly once.
 */
import fs from 'node:fs';
import { fromRoot } from '../paths.js';
import type { Database } from './db.js';

const MIGRATIONS_DIR = fromRoot('src', 'store', 'migrations');
const LOCK_KEY = 7_246_110_001; // any constant shared by every gateway process

/** A migration file. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migrations shipped with the gateway, in order. */
export function listMigrations(): Migration[] {
  return fs
    .readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d+_[\w-]+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, file.indexOf('_'))),
      name: file.replace(/\.sql$/, ''),
      sql: fs.readFileSync(`${MIGRATIONS_DIR}/${file}`, 'utf8'),
    }));
}

/** Applies the migrations not yet applied; returns their names. */
export async function migrate(db: Database): Promise<string[]> {
  await db.exec(`CREATE TABLE IF NOT EXISTS schema_migration (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const applied: string[] = [];
  for (const migration of listMigrations()) {
    const done = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
      const { rowCount } = await tx.query('SELECT 1 FROM schema_migration WHERE version = $1', [migration.version]);
      if (rowCount > 0) return false;
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migration (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      return true;
    });
    if (done) applied.push(migration.name);
  }
  return applied;
}

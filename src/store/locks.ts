/**
 * Transaction-scoped advisory locks on keys that are not rows yet: the
 * criteria of a conditional create, the national identifiers of a directory
 * push or of an import, the keys of a `$claim` lockout. Two writers of the
 * same key serialise; taken in numeric order, in one statement, many keys
 * cannot deadlock two writers.
 */
import { createHash } from 'node:crypto';
import type { Queryable } from './db.js';
import { run, sql } from './sql.js';

/** A deterministic advisory-lock key of a key within a namespace. */
export function lockKey(namespace: string, key: string): string {
  return createHash('sha256').update(`${namespace}?${key}`).digest().readBigInt64BE(0).toString();
}

/** Takes the advisory locks of these keys, in one statement and in numeric order. */
export async function lockKeys(q: Queryable, namespace: string, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const ids = [...new Set(keys.map((k) => lockKey(namespace, k)))];
  if (ids.length === 1) {
    await run(q, sql`SELECT pg_advisory_xact_lock(${ids[0]}::bigint)`, { prepare: true });
    return;
  }
  await run(q, sql`SELECT pg_advisory_xact_lock(k) FROM (SELECT k FROM unnest(${ids}::bigint[]) AS k ORDER BY k) AS ordered`, { prepare: true });
}

/** The `claim_failure` table: failed `$claim`s, by key (a client, a hashed individual number), for the lockout. */
import type { Queryable } from '../db.js';
import { run, sql } from '../sql.js';

/** Failures per key since a date, with the oldest. */
export async function claimFailures(q: Queryable, keys: readonly string[], since: Date): Promise<{ key: string; failures: number; oldest: Date }[]> {
  const { rows } = await run<{ key: string; failures: number; oldest: Date }>(
    q,
    sql`SELECT key, count(*)::int AS failures, min(at) AS oldest FROM claim_failure WHERE key = ANY(${keys}::text[]) AND at > ${since.toISOString()} GROUP BY key`
  );
  return rows;
}

/** Records a failure against each key, drops those out of every window (at or before `since`), and returns the counts since. */
export async function recordClaimFailures(q: Queryable, keys: readonly string[], at: Date, since: Date): Promise<{ key: string; failures: number }[]> {
  await run(q, sql`INSERT INTO claim_failure (key, at) SELECT k, ${at.toISOString()} FROM unnest(${keys}::text[]) AS k`);
  await run(q, sql`DELETE FROM claim_failure WHERE key = ANY(${keys}::text[]) AND at <= ${since.toISOString()}`);
  return (await claimFailures(q, keys, since)).map(({ key, failures }) => ({ key, failures }));
}

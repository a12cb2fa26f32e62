/**
 * The lockout of `ServiceRequest/$claim`: a claim is a guess at a person's
 * birth date from an individual number, so failed claims are counted per
 * client and per individual number (hashed) in PostgreSQL, shared by every
 * process. Past `maxFailures` within `window`, either key is locked out (429
 * with `Retry-After`, even for a right guess) until its oldest failure leaves
 * the window; the failure that locks a key out is recorded as an AuditEvent
 * (subtype `lockout`).
 */
import { createHash } from 'node:crypto';
import { parseDuration, type Duration } from '../../mappings/duration.js';
import { tooManyRequests } from '../fhir/outcomes.js';
import type { Queryable } from '../store/db.js';
import { audit, flushAudit, type AuditTrail } from './audit.js';
import { lockKeys } from './resources.js';

/** Failed claims allowed per client and per individual number within a window. */
export interface ClaimLimit {
  maxFailures: number;
  window: Duration;
}

/** A handful an hour (issue 13: 202 guesses found a birth date in under 2 s). */
export const DEFAULT_CLAIM_LIMIT: ClaimLimit = { maxFailures: 5, window: parseDuration('1h') };

/** The keys a claim counts against: its client, and the individual number it names. */
export function claimKeys(clientId: string, individual: string): { client: string; individual: string } {
  return { client: `client|${clientId}`, individual: `individual|${createHash('sha256').update(individual.trim()).digest('base64url')}` };
}

/**
 * Locks the claim's keys for the rest of the transaction (concurrent guesses
 * queue, so that none slips past the count), then refuses with 429 when
 * either is locked out.
 */
export async function checkClaimLimit(q: Queryable, keys: { client: string; individual: string }, limit: ClaimLimit, now: Date): Promise<void> {
  await lockKeys(q, 'claim', [keys.client, keys.individual]);
  const since = new Date(now.getTime() - limit.window.ms);
  const { rows } = await q.query<{ key: string; failures: number; oldest: Date }>(
    `SELECT key, count(*)::int AS failures, min(at) AS oldest FROM claim_failure WHERE key = ANY($1::text[]) AND at > $2 GROUP BY key`,
    [[keys.client, keys.individual], since.toISOString()]
  );
  const locked = rows.filter((r) => r.failures >= limit.maxFailures);
  if (locked.length === 0) return;
  const until = Math.max(...locked.map((r) => new Date(r.oldest).getTime() + limit.window.ms));
  const what = locked.map((r) => (r.key === keys.client ? 'this client' : 'this individual number')).join(' and ');
  throw tooManyRequests(`Too many failed claims for ${what}: ${limit.maxFailures} within ${limit.window.text}; retry after ${new Date(until).toISOString()}`, Math.max(1, Math.ceil((until - now.getTime()) / 1000)));
}

/** Records a failed claim against both keys; the one that reaches the limit is recorded on the audit trail as a lockout. */
export async function recordClaimFailure(
  q: Queryable,
  keys: { client: string; individual: string },
  individual: string,
  limit: ClaimLimit,
  now: Date,
  trail: AuditTrail | undefined
): Promise<void> {
  await q.query(`INSERT INTO claim_failure (key, at) SELECT k, $2 FROM unnest($1::text[]) AS k`, [[keys.client, keys.individual], now.toISOString()]);
  const since = new Date(now.getTime() - limit.window.ms);
  const { rows } = await q.query<{ key: string; failures: number }>(
    `SELECT key, count(*)::int AS failures FROM claim_failure WHERE key = ANY($1::text[]) AND at > $2 GROUP BY key`,
    [[keys.client, keys.individual], since.toISOString()]
  );
  // The lockout's own event, apart from whatever else the request's trail holds (a Bundle's other entries).
  const lockouts: AuditTrail | undefined = trail ? { ...trail, pending: [] } : undefined;
  for (const row of rows.filter((r) => r.failures === limit.maxFailures)) {
    const who = row.key === keys.client ? 'this client' : `individual number ${individual}`;
    audit(lockouts, {
      action: 'E',
      interaction: 'lockout',
      status: 429,
      resourceType: 'ServiceRequest',
      entities: [],
      query: '$claim',
      detail: `$claim locked out for ${who}: ${limit.maxFailures} failed claims within ${limit.window.text}`,
    });
  }
  // Old failures are of no use once out of every window.
  await q.query(`DELETE FROM claim_failure WHERE key = ANY($1::text[]) AND at <= $2`, [[keys.client, keys.individual], since.toISOString()]);
  await flushAudit(q, lockouts, now);
}

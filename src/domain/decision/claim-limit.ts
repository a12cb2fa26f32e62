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
import { tooManyRequests } from '../../core/outcomes.js';
import type { Queryable } from '../../store/db.js';
import { lockKeys } from '../../store/locks.js';
import { claimFailures, recordClaimFailures } from '../../store/tables/claim-failure.js';
import type { CallContext, DomainEvent } from '../kind.js';
import { flushEvents } from '../repository.js';
import type { ClaimLimit } from '../settings.js';

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
  const rows = await claimFailures(q, [keys.client, keys.individual], new Date(now.getTime() - limit.window.ms));
  const locked = rows.filter((r) => r.failures >= limit.maxFailures);
  if (locked.length === 0) return;
  const until = Math.max(...locked.map((r) => new Date(r.oldest).getTime() + limit.window.ms));
  const what = locked.map((r) => (r.key === keys.client ? 'this client' : 'this individual number')).join(' and ');
  throw tooManyRequests(`Too many failed claims for ${what}: ${limit.maxFailures} within ${limit.window.text}; retry after ${new Date(until).toISOString()}`, Math.max(1, Math.ceil((until - now.getTime()) / 1000)));
}

/**
 * Records a failed claim against both keys; the one that reaches the limit
 * is a security event (a lockout), stored with the failure.
 */
export async function recordClaimFailure(ctx: CallContext, q: Queryable, keys: { client: string; individual: string }, individual: string, limit: ClaimLimit): Promise<void> {
  const now = ctx.clock.now();
  const rows = await recordClaimFailures(q, [keys.client, keys.individual], now, new Date(now.getTime() - limit.window.ms));
  const events: DomainEvent[] = rows
    .filter((r) => r.failures === limit.maxFailures)
    .map((row) => ({
      event: 'security',
      interaction: 'lockout',
      action: 'E',
      status: 429,
      resourceType: 'ServiceRequest',
      query: '$claim',
      detail: `$claim locked out for ${row.key === keys.client ? 'this client' : `individual number ${individual}`}: ${limit.maxFailures} failed claims within ${limit.window.text}`,
    }));
  // Stored now, apart from whatever else the request's trail holds (a Bundle's other entries, which may yet be undone).
  await flushEvents({ clock: ctx.clock, audit: ctx.audit ? { ...ctx.audit, pending: [] } : undefined }, q, events);
}

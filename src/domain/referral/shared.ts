/** What the rules of admission requests share: the caller's organization keys, a task's sides, the deadlines' durations. */
import { canonicalJson } from '../../../mappings/canonical-json.js';
import { DEFAULT_REFERRAL_DURATIONS, type ReferralDurations } from '../../../mappings/duration.js';
import type { Side } from '../../../mappings/referral.js';
import { forbidden } from '../../core/outcomes.js';
import type { Queryable } from '../../store/db.js';
import type { TaskParties } from '../../store/tables/task.js';
import type { CallContext } from '../kind.js';
import { organizationKeys, principalKey } from '../parties.js';
import { GATEWAY, hasAnyRole, type Principal, type Role } from '../../core/principal.js';

/** The deadlines' durations of a call (seed 002's by default). */
export function durations(ctx: Pick<CallContext, 'durations'>): ReferralDurations {
  return ctx.durations ?? DEFAULT_REFERRAL_DURATIONS;
}

/** The gateway acting within the caller's transaction. */
export function asGateway(ctx: CallContext, q: Queryable): CallContext & { tx: Queryable } {
  return { ...ctx, tx: q, principal: GATEWAY };
}

/** The keys of the caller's organization (403 when its token names none); looked up once per request. */
export async function callerKeys(ctx: CallContext, q: Queryable): Promise<string[]> {
  const key = principalKey(ctx.principal);
  if (!key) throw forbidden('This action needs a token that names the caller’s organization');
  // One look-up per request, however many resources a Bundle writes.
  const memo = ctx.memo?.get(`keys|${key}`) as string[] | undefined;
  if (memo) return memo;
  const keys = await organizationKeys(q, key);
  ctx.memo?.set(`keys|${key}`, keys);
  return keys;
}

/**
 * Who acts as the prescriber of a request its organization made: moves its
 * tasks on the prescriber's side, cancels and reactivates it. A person-facing
 * portal does so for the person (Grand Âge).
 */
export const PRESCRIBER_SIDE: readonly Role[] = ['prescriber', 'portal'];

/** Which sides of a task the caller is on: the unit (role receiver) and/or the prescriber (role prescriber, or a portal for its requests). */
export function sidesOf(principal: Principal | undefined, row: Pick<TaskParties, 'owner_keys' | 'requester_keys'>): Side[] {
  const key = principalKey(principal);
  if (!key) return [];
  const sides: Side[] = [];
  if (row.owner_keys.includes(key) && hasAnyRole(principal, ['receiver'])) sides.push('unit');
  if (row.requester_keys.includes(key) && hasAnyRole(principal, PRESCRIBER_SIDE)) sides.push('prescriber');
  return sides;
}

/** Whether two JSON values say the same (absent and null alike). */
export function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a ?? null) === canonicalJson(b ?? null);
}

/** The prescriber of a request, as the operations only it may call require. */
import { forbidden } from '../../core/outcomes.js';
import type { Queryable } from '../../store/db.js';
import { referralState } from '../../store/tables/referral.js';
import type { CallContext } from '../kind.js';
import { principalKey } from '../parties.js';
import { hasAnyRole } from '../../core/principal.js';
import { readResource } from '../repository.js';
import { PRESCRIBER_SIDE } from './shared.js';

/** Checks that the caller is the request's prescriber (404 unless visible, 403 for another party); locks the request. */
export async function requireRequester(ctx: CallContext & { tx: Queryable }, requestId: string): Promise<{ archived: boolean; cancelled_at: Date | null }> {
  await readResource(ctx, 'ServiceRequest', requestId); // 404 unless visible
  const state = await referralState(ctx.tx, requestId, true);
  const key = principalKey(ctx.principal);
  if (!state || !key || !state.requester_keys.includes(key) || !hasAnyRole(ctx.principal, PRESCRIBER_SIDE)) {
    throw forbidden(`Only the prescriber (role ${PRESCRIBER_SIDE.join(' or ')}) of this request may do this`);
  }
  return state;
}

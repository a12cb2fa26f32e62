/**
 * The parties of a decision's file (DocumentReference) or consent (the SDO
 * guide's, recorded by an ESMS): the decision they name, when the gateway
 * can tell which, gives their readers: its MDPH always, and the ESMS it
 * targets when the MDPH (or an admin) wrote it (an ESMS's file is between it
 * and the MDPH). The types themselves: domain/document/.
 */
import type { DecisionIdentifier } from '../../../mappings/decision/sdo-documents.js';
import { hasAnyRole } from '../../core/principal.js';
import { decisionsNamed } from '../../store/tables/sdo-document.js';
import type { Prepared, WriteEvent } from '../kind.js';
import { principalKey } from '../parties.js';

/**
 * What a decision's file or consent stores: the decision named, among the
 * caller's own (any for an admin), gives its readers.
 */
export async function prepareForDecision(e: WriteEvent, identifier: DecisionIdentifier | undefined): Promise<Prepared> {
  const admin = hasAnyRole(e.ctx.principal, ['admin']);
  const found = identifier ? await decisionsNamed(e.q, identifier, admin ? undefined : principalKey(e.ctx.principal)) : [];
  // None, or several (an idDecision without system is unique within one MDPH only): its writer alone reads it.
  const decision = found.length === 1 ? found[0] : undefined;
  const forEsms = hasAnyRole(e.ctx.principal, ['mdph', 'admin']);
  const parties = decision ? [...new Set([...decision.requester_keys, ...(forEsms ? decision.esms_keys : [])])] : [];
  return { resource: e.resource, row: { decision_id: decision?.id ?? null, party_keys: parties } };
}

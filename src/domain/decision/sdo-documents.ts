/**
 * The SDO guide's Consent (a person's agreement recorded by an ESMS, profile
 * esms-consent): stored as sent, read by its writer and by the parties of
 * the decision it names, when the gateway can tell which: its MDPH always,
 * and the ESMS it targets when the MDPH (or an admin) wrote it (an ESMS's
 * consent is between it and the MDPH). Others are told it does not exist,
 * as for any patient data. A decision's file (DocumentReference) follows
 * the same rule: domain/document/document-reference.ts.
 */
import type { Consent } from '@medplum/fhirtypes';
import { SDO_PROFILES } from '../../../mappings/decision/codes.js';
import { decisionOfConsent, sdoConsentRow, type DecisionIdentifier } from '../../../mappings/decision/sdo-documents.js';
import { hasAnyRole, type Role } from '../../core/principal.js';
import { sql } from '../../store/sql.js';
import { decisionsNamed, SDO_CONSENT_COLUMNS } from '../../store/tables/sdo-document.js';
import { COMMON_PARAMS } from '../common-params.js';
import type { AccessRule, Prepared, ResourceKind, WriteEvent } from '../kind.js';
import { principalKey } from '../parties.js';

const SDO_ROLES: readonly Role[] = ['esms', 'mdph', 'admin'];

const ACCESS: AccessRule = {
  read: SDO_ROLES,
  write: SDO_ROLES,
  ownerColumn: 'owner_org',
  visibleTo: (key) => sql`t.party_keys @> ARRAY[${key}]::text[]`,
  partiesWrite: false,
};

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

const SEARCH = [...COMMON_PARAMS, { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'The status' }] as const;

/** Consent: a person's agreement recorded by an ESMS (profile esms-consent). */
export const CONSENT: ResourceKind<Consent> = {
  type: 'Consent',
  table: 'sdo_consent',
  columns: SDO_CONSENT_COLUMNS,
  toRow: sdoConsentRow,
  profiles: [SDO_PROFILES.consent],
  searchParams: SEARCH,
  includes: [],
  access: ACCESS,
  patientData: true,
  subscribable: false,
  clientIds: false,
  rules: { prepare: (e) => prepareForDecision(e, decisionOfConsent(e.resource as Consent)) },
};

/**
 * The SDO guide's DocumentReference (sdo-document-reference) and Consent
 * (esms-consent) as pure mappings: the decision each names, and their rows.
 */
import type { Consent, DocumentReference, Identifier } from '@medplum/fhirtypes';
import { citedBinaries } from '../document.js';
import { referenceId } from '../reference.js';
import type { Row } from '../resource-rows.js';
import { ID_DECISION_SYSTEM_PREFIX, ID_NAT_DECISION_SYSTEM } from './codes.js';

/** How a decision is looked up: by its identifier's system when given, else by the systems its use implies. */
export interface DecisionIdentifier {
  system?: string;
  systemPrefix: string;
  value: string;
}

/**
 * The decision an identifier names: `official` is its idNat_Decision, any
 * other use its MDPH's idDecision (the guide's examples give no system).
 */
function decisionIdentifier(identifier: Identifier | undefined): DecisionIdentifier | undefined {
  if (!identifier?.value) return undefined;
  const official = identifier.use === 'official' || identifier.system === ID_NAT_DECISION_SYSTEM;
  return { ...(identifier.system ? { system: identifier.system } : {}), systemPrefix: official ? ID_NAT_DECISION_SYSTEM : ID_DECISION_SYSTEM_PREFIX, value: identifier.value };
}

/** The decision an SDO DocumentReference is about: its official identifier (idNat_Decision), else its first (idDecision). */
export function decisionOfDocument(document: DocumentReference): DecisionIdentifier | undefined {
  const identifiers = document.identifier ?? [];
  return decisionIdentifier(identifiers.find((i) => i.use === 'official' && i.value) ?? identifiers.find((i) => i.value));
}

/** The decision an ESMS Consent is about: provision.data's reference, by its official identifier (idNat_Decision). */
export function decisionOfConsent(consent: Consent): DecisionIdentifier | undefined {
  return decisionIdentifier(consent.provision?.data?.[0]?.reference?.identifier);
}

/** DocumentReference → `sdo_document` columns read from the resource. */
export function sdoDocumentRow(document: DocumentReference): Row {
  return {
    status: document.status ?? null,
    binary_ids: [...new Set(citedBinaries(document).map((b) => b.id))],
    patient_id: referenceId(document.subject, 'Patient'),
  };
}

/** Consent → `sdo_consent` columns read from the resource. */
export function sdoConsentRow(consent: Consent): Row {
  return { status: consent.status ?? null, patient_id: referenceId(consent.patient, 'Patient') };
}

/**
 * Consent: the patient's agreement to the orientation a request asks
 * (issue 16; who gives it: mappings/consent.ts), cited by the request in
 * `supportingInfo` and required to send it; or the SDO guide's consent of a
 * person to a decision, recorded by an ESMS (profile esms-consent, checked
 * when claimed). A request's consent is read by the parties of the requests
 * citing it; a decision's, as the decision's file is (document-reference.ts).
 */
import type { Consent } from '@medplum/fhirtypes';
import { SDO_PROFILES } from '../../../mappings/decision/codes.js';
import { decisionOfConsent, sdoConsentRow } from '../../../mappings/decision/sdo-documents.js';
import { ruleViolation } from '../../core/outcomes.js';
import { documentReadBy, SDO_CONSENT_COLUMNS } from '../../store/tables/sdo-document.js';
import { COMMON_PARAMS, REQUEST_ROLES } from '../common-params.js';
import { prepareForDecision } from '../decision/sdo-documents.js';
import type { Prepared, ResourceKind, WriteEvent } from '../kind.js';
import { DOCUMENT_WRITERS, forDecision, prepareForRequest } from './document-reference.js';

async function prepareConsent(e: WriteEvent): Promise<Prepared> {
  const consent = e.resource as Consent;
  if (!forDecision(e, consent.patient)) return prepareForRequest(e, (r) => (r as Consent | undefined)?.patient, 'Consent.patient');
  const decision = decisionOfConsent(consent);
  if (!decision) throw ruleViolation('An ESMS Consent names its decision: provision.data[0].reference.identifier (idNat_Decision)', 'Consent.provision.data');
  return prepareForDecision(e, decision);
}

export const CONSENT: ResourceKind<Consent> = {
  type: 'Consent',
  table: 'sdo_consent',
  columns: SDO_CONSENT_COLUMNS,
  toRow: sdoConsentRow,
  profiles: [],
  supportedProfiles: [SDO_PROFILES.consent],
  searchParams: [
    ...COMMON_PARAMS,
    { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'draft | proposed | active | rejected | inactive | entered-in-error' },
    { code: 'patient', type: 'reference', kind: 'reference', column: 'patient_id', target: 'Patient', documentation: 'The patient of a request’s consent' },
  ],
  includes: [],
  access: {
    read: REQUEST_ROLES,
    write: DOCUMENT_WRITERS,
    ownerColumn: 'owner_org',
    visibleTo: (key) => documentReadBy('t', key, 'consent_ids'),
    partiesWrite: false,
  },
  patientData: true,
  subscribable: false,
  clientIds: false,
  rules: { prepare: prepareConsent },
};

/**
 * DocumentReference: a document of an admission request (issue 16), or the
 * SDO guide's file of an orientation decision (profile
 * sdo-document-reference, checked when claimed). Its content is inline or
 * in Binaries of the writer's own (`attachment.url` = `Binary/{id}`).
 *
 * A request's document is about a patient the writer sees; the parties of
 * the requests citing it (`ServiceRequest.supportingInfo`) read it, as they
 * read its volets. A decision's file is read by its writer and by the
 * parties of the decision it names, when the gateway can tell which: its
 * MDPH always, and the ESMS it targets when the MDPH (or an admin) wrote it
 * (an ESMS's file is between it and the MDPH). Others are told it does not
 * exist, as for any patient data.
 */
import type { DocumentReference, Reference, Resource } from '@medplum/fhirtypes';
import { SDO_PROFILES } from '../../../mappings/decision/codes.js';
import { decisionOfDocument, sdoDocumentRow } from '../../../mappings/decision/sdo-documents.js';
import { citedBinaries } from '../../../mappings/document.js';
import { parseReference } from '../../../mappings/reference.js';
import { hasAnyRole, type Role } from '../../core/principal.js';
import { ruleViolation } from '../../core/outcomes.js';
import { sql } from '../../store/sql.js';
import { binariesAmong } from '../../store/tables/binary.js';
import { patientVisible } from '../../store/tables/patient.js';
import { documentReadBy, SDO_DOCUMENT_COLUMNS } from '../../store/tables/sdo-document.js';
import { visibleRows } from '../access.js';
import { COMMON_PARAMS, REQUEST_ROLES } from '../common-params.js';
import { prepareForDecision } from '../decision/sdo-documents.js';
import type { Prepared, ResourceKind, WriteEvent } from '../kind.js';
import { principalKey } from '../parties.js';
import { baseType } from './content-type.js';

/** Who attaches documents to requests (the sending side), and who files a decision's. */
const REQUEST_WRITERS: readonly Role[] = ['prescriber', 'care-team', 'admin-social', 'non-medical-manager', 'portal'];
const DECISION_WRITERS: readonly Role[] = ['esms', 'mdph'];
/** Who writes documents (and their content, Binary). */
export const DOCUMENT_WRITERS: readonly Role[] = [...REQUEST_WRITERS, ...DECISION_WRITERS, 'admin'];

/** The Binaries cited must be the writer's organization's (citing one gives its readers access to it), of the type the attachment says. */
async function checkBinaries(e: WriteEvent, document: DocumentReference): Promise<void> {
  const cited = citedBinaries(document);
  if (cited.length === 0) return;
  const p = e.ctx.principal;
  const everyone = p?.gateway || hasAnyRole(p, ['admin']);
  const key = principalKey(p) ?? '';
  const found = await binariesAmong(e.q, [...new Set(cited.map((c) => c.id))], everyone ? sql`TRUE` : sql`t.owner_org = ${key}`);
  for (const c of cited) {
    const binary = found.find((b) => b.id === c.id);
    const at = `DocumentReference.content[${c.index}].attachment`;
    if (!binary) throw ruleViolation(`Binary/${c.id} does not exist among your organization’s documents`, `${at}.url`);
    const declared = document.content[c.index].attachment.contentType;
    if (declared && baseType(declared) !== baseType(binary.content_type)) throw ruleViolation(`Binary/${c.id} is ${binary.content_type}, not ${declared}`, `${at}.contentType`);
  }
}

/**
 * What a request's document or consent stores: about a patient the writer
 * sees (`element`: where the resource names it), and keeping it.
 */
export async function prepareForRequest(e: WriteEvent, patientOf: (r: Resource | undefined) => Reference | undefined, element: string): Promise<Prepared> {
  const patient = parseReference(patientOf(e.resource)?.reference);
  if (patient?.type !== 'Patient') throw ruleViolation(`What goes with a request is about its patient: ${element} Patient/{id}`, element);
  if (e.previous && parseReference(patientOf(e.previous.content)?.reference)?.id !== patient.id) throw ruleViolation(`It keeps its patient (${element})`, element);
  if (!e.previous && !e.ctx.principal?.gateway && !(await patientVisible(e.q, patient.id, visibleRows(e.ctx.principal, e.repo.kind('Patient'))))) {
    throw ruleViolation(`Patient/${patient.id} does not exist`, element);
  }
  return { resource: e.resource, row: { decision_id: null, party_keys: [] } };
}

/** Whether a write is a decision's (SDO) rather than a request's: by the writer's side, else by what names the patient. */
export function forDecision(e: WriteEvent, patient: Reference | undefined): boolean {
  const p = e.ctx.principal;
  return hasAnyRole(p, DECISION_WRITERS) || (!hasAnyRole(p, REQUEST_WRITERS) && parseReference(patient?.reference)?.type !== 'Patient');
}

async function prepareDocument(e: WriteEvent): Promise<Prepared> {
  const document = e.resource as DocumentReference;
  await checkBinaries(e, document);
  if (!forDecision(e, document.subject)) return prepareForRequest(e, (r) => (r as DocumentReference | undefined)?.subject, 'DocumentReference.subject');
  if (!document.identifier?.some((i) => i.value)) {
    throw ruleViolation('An SDO DocumentReference names its decision: identifier idDecision (use usual), then idNat_Decision (use official)', 'DocumentReference.identifier');
  }
  return prepareForDecision(e, decisionOfDocument(document));
}

export const DOCUMENT_REFERENCE: ResourceKind<DocumentReference> = {
  type: 'DocumentReference',
  table: 'sdo_document',
  columns: SDO_DOCUMENT_COLUMNS,
  toRow: sdoDocumentRow,
  profiles: [],
  supportedProfiles: [SDO_PROFILES.documentReference],
  searchParams: [
    ...COMMON_PARAMS,
    { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'current | superseded | entered-in-error' },
    { code: 'patient', type: 'reference', kind: 'reference', column: 'patient_id', target: 'Patient', documentation: 'The patient of a request’s document' },
  ],
  includes: [],
  access: {
    read: REQUEST_ROLES,
    write: DOCUMENT_WRITERS,
    ownerColumn: 'owner_org',
    visibleTo: (key) => documentReadBy('t', key),
    partiesWrite: false,
  },
  patientData: true,
  subscribable: false,
  clientIds: false,
  rules: { prepare: prepareDocument },
};

/**
 * QuestionnaireResponse: the volets of an admission request (medical, care
 * and plan, administrative and social). Who writes which volet, who
 * validates the medical one, and who may change one: the organization that
 * wrote it.
 */
import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { parseReference } from '../../../mappings/reference.js';
import { questionnaireResponseRow, VALIDATED_VOLET_STATUSES, voletOf, type Volet } from '../../../mappings/referral.js';
import { forbidden, issue, ruleViolation, unprocessable } from '../../core/outcomes.js';
import { responseIssues } from '../../../mappings/form-check.js';
import { FORMS } from '../../../mappings/forms.js';
import { sql } from '../../store/sql.js';
import { patientVisible } from '../../store/tables/patient.js';
import { mayChangeVolet, VOLET_COLUMNS } from '../../store/tables/volet.js';
import { visibleRows } from '../access.js';
import { COMMON_PARAMS, REFERRAL_ROLES } from '../common-params.js';
import type { Prepared, ResourceKind, WriteEvent } from '../kind.js';
import { principalKey } from '../parties.js';
import { DOCTOR, hasAnyRole, type Principal, type Role } from '../../core/principal.js';
import { callerKeys } from './shared.js';

/**
 * Who writes each volet (seeds 001 and 004): the prescriber all of them; the
 * care team all of them, the medical one without validating it; the
 * administrative and social manager the administrative one; the non-medical
 * manager all but the medical one, which it reads. The admin and the gateway
 * write any.
 */
export const VOLET_WRITERS: Record<Volet, readonly Role[]> = {
  medical: ['prescriber', 'care-team', 'portal'],
  care: ['prescriber', 'care-team', 'non-medical-manager', 'portal'],
  administrative: ['prescriber', 'care-team', 'admin-social', 'non-medical-manager', 'portal'],
};

/** Who validates the medical volet (status completed or amended). */
export const MEDICAL_VALIDATORS: readonly Role[] = ['prescriber'];

/**
 * Why the caller may not validate a medical volet (undefined: it may). A
 * professional named by the token validates only as a doctor, whatever the
 * software's roles; a portal, only with the person's doctor acting through
 * it; otherwise the validators' roles decide.
 */
function medicalValidationRefusal(p: Principal | undefined): string | undefined {
  if (p?.practitioner && p.practitioner.profession !== DOCTOR) {
    return `Only a doctor (profession ${DOCTOR}, médecin) validates the medical volet; ${p.practitioner.name ?? p.practitioner.id} acts as profession ${p.practitioner.profession ?? '(none given)'}`;
  }
  if (hasAnyRole(p, MEDICAL_VALIDATORS) || (hasAnyRole(p, ['portal']) && p?.practitioner)) return undefined;
  return `Only ${MEDICAL_VALIDATORS.join(', ')} (or a doctor acting through a portal) validates the medical volet (status completed or amended); others save it in-progress`;
}

/** 422 unless a volet answers its form: in progress as it goes, completed with every required item asked. */
function checkAnswers(volet: Volet, response: QuestionnaireResponse): void {
  const problems = responseIssues(FORMS[volet], response, VALIDATED_VOLET_STATUSES.includes(response.status));
  if (problems.length > 0) throw unprocessable(problems.map((p) => issue(p.message.endsWith('is required') ? 'required' : 'business-rule', p.message, p.expression)));
}

async function prepareVolet(e: WriteEvent): Promise<Prepared> {
  const response = e.resource as QuestionnaireResponse;
  const volet = voletOf(response);
  if (!volet) {
    throw ruleViolation(
      'A volet names its questionnaire: https://aiguillage.org/fhir/Questionnaire/volet-medical, volet-soins or volet-administratif',
      'QuestionnaireResponse.questionnaire'
    );
  }
  const previous = e.previous?.content as QuestionnaireResponse | undefined;
  if (previous && voletOf(previous) !== volet) throw ruleViolation('A volet keeps its questionnaire', 'QuestionnaireResponse.questionnaire');
  if (parseReference(response.subject?.reference)?.type !== 'Patient') throw ruleViolation('A volet needs a subject Patient/{id}', 'QuestionnaireResponse.subject');
  const p = e.ctx.principal;
  if (!p?.gateway && !hasAnyRole(p, ['admin'])) {
    if (!hasAnyRole(p, VOLET_WRITERS[volet])) {
      throw forbidden(`The ${volet} volet is written by ${VOLET_WRITERS[volet].join(', ')}; not by role(s) ${p?.roles.join(', ')}`, 'QuestionnaireResponse.questionnaire');
    }
    const refusal = volet === 'medical' && VALIDATED_VOLET_STATUSES.includes(response.status) ? medicalValidationRefusal(p) : undefined;
    if (refusal) throw forbidden(refusal, 'QuestionnaireResponse.status');
  }
  if (previous) {
    // The author's organization, or the requester of a request the volet was written for; citing another
    // organization's volet makes no one its requester.
    if (!p?.gateway && !hasAnyRole(p, ['admin']) && !(await mayChangeVolet(e.q, e.id, principalKey(p) ?? ''))) {
      throw forbidden('A volet is changed by the organization that wrote it or sent the request; a receiving unit reads it', 'QuestionnaireResponse');
    }
    if (parseReference(response.subject?.reference)?.id !== parseReference(previous.subject?.reference)?.id) throw ruleViolation('A volet keeps its subject', 'QuestionnaireResponse.subject');
    checkAnswers(volet, response);
    return { resource: response };
  }
  if (!p?.gateway) {
    // As a request's subject: a patient the caller may see (another organization's is answered as a missing one).
    const subject = parseReference(response.subject?.reference)?.id as string;
    if (!(await patientVisible(e.q, subject, visibleRows(p, e.repo.kind('Patient'))))) throw ruleViolation(`Patient/${subject} does not exist`, 'QuestionnaireResponse.subject');
  }
  checkAnswers(volet, response);
  return { resource: response, row: { author_keys: p?.gateway ? [] : await callerKeys(e.ctx, e.q) } };
}

export const QUESTIONNAIRE_RESPONSE: ResourceKind<QuestionnaireResponse> = {
  type: 'QuestionnaireResponse',
  table: 'volet',
  columns: VOLET_COLUMNS,
  toRow: questionnaireResponseRow,
  profiles: [],
  searchParams: [
    ...COMMON_PARAMS,
    { code: 'patient', type: 'reference', kind: 'reference', column: 'patient_id', target: 'Patient', documentation: 'The patient' },
    { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'in-progress | completed | amended | entered-in-error | stopped' },
  ],
  includes: [],
  access: {
    read: REFERRAL_ROLES,
    write: ['prescriber', 'care-team', 'admin-social', 'non-medical-manager', 'portal', 'admin'],
    visibleTo: (key) =>
      sql`(t.author_keys @> ARRAY[${key}]::text[] OR EXISTS (SELECT 1 FROM referral r JOIN task x ON x.referral_id = r.id WHERE r.module = 'referral' AND r.volet_ids @> ARRAY[t.id] AND (x.owner_keys @> ARRAY[${key}]::text[] OR r.requester_keys @> ARRAY[${key}]::text[])))`,
    partiesWrite: true,
  },
  patientData: true,
  subscribable: true,
  clientIds: false,
  rules: { prepare: prepareVolet },
};

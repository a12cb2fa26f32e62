/** Patient (FR Core): recorded by a client's organization, visible to the parties of the requests about it. */
import type { Patient } from '@medplum/fhirtypes';
import { patientRow } from '../../../mappings/resource-rows.js';
import { sql } from '../../store/sql.js';
import { ACTIVE_PARAM, COMMON_PARAMS } from '../common-params.js';
import { PATIENT_COLUMNS } from '../../store/tables/patient.js';
import type { ResourceKind } from '../kind.js';
import type { Role } from '../../core/principal.js';
import { issue, unprocessable } from '../../core/outcomes.js';
import { insProblems } from '../../../mappings/ins.js';
import type { Prepared, WriteEvent } from '../kind.js';

/**
 * The roles that handle patient identities, and record or change them: the
 * administrative and social manager creates the patient record (seed 001:
 * "Création de la demande"), as the non-medical manager does.
 */
const PATIENT_ROLES: readonly Role[] = ['prescriber', 'care-team', 'admin-social', 'non-medical-manager', 'portal', 'receiver', 'mdph', 'esms', 'admin'];

/** An INS is checked (structure, key) and carried only on a qualified identity (mappings/ins.ts): else 422 naming each problem. */
async function preparePatient(e: WriteEvent): Promise<Prepared> {
  const problems = insProblems(e.resource as Patient);
  if (problems.length > 0) throw unprocessable(problems.map((p) => issue('value', p.message, p.expression)));
  return { resource: e.resource };
}

export const PATIENT: ResourceKind<Patient> = {
  type: 'Patient',
  columns: PATIENT_COLUMNS,
  table: 'patient',
  toRow: patientRow,
  profiles: ['https://aiguillage.org/fhir/StructureDefinition/aiguillage-patient'],
  searchParams: [
    ...COMMON_PARAMS,
    { code: 'family', type: 'string', kind: 'string-array', column: 'family', documentation: 'Family name, accent/case-insensitive starts-with; :contains', sort: "coalesce(t.name_sort, '')" },
    { code: 'given', type: 'string', kind: 'string-array', column: 'given', documentation: 'Given name, accent/case-insensitive starts-with; :contains' },
    { code: 'name', type: 'string', kind: 'string-array', column: 'name_words', documentation: 'Any part of the name; :contains', sort: "coalesce(t.name_sort, '')" },
    { code: 'birthdate', type: 'date', kind: 'date-range', low: 'birth_date_low', high: 'birth_date_high', documentation: 'Birth date (eq, ne, gt, lt, ge, le, sa, eb, ap)', sort: "coalesce(t.birth_date_low, '-infinity'::date)" },
    { code: 'gender', type: 'token', kind: 'code', column: 'gender', documentation: 'male | female | other | unknown' },
    ACTIVE_PARAM,
  ],
  includes: [],
  access: {
    read: PATIENT_ROLES,
    write: PATIENT_ROLES,
    ownerColumn: 'owner_org',
    // and the parties of a request about the patient
    visibleTo: (key) => sql`EXISTS (SELECT 1 FROM task x WHERE x.patient_id = t.id AND (x.owner_keys @> ARRAY[${key}]::text[] OR x.requester_keys @> ARRAY[${key}]::text[]))`,
  },
  patientData: true,
  subscribable: false,
  clientIds: false,
  rules: { prepare: preparePatient },
};

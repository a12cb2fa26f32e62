/**
 * Questionnaire: the ROR's instruction sheets ("fiches de consignes"), the
 * forms that say how an offer of a category is described, and the gateway's
 * own forms of the volets (published at start: domain/referral/forms.ts).
 * Read by anyone, written by the ROR like the rest of the directory (the
 * volets' forms by the gateway alone); its search parameters are the R4
 * ones the ROR server declares, by their FHIRPath expressions.
 */
import type { Questionnaire } from '@medplum/fhirtypes';
import { questionnaireRow } from '../../../mappings/resource-rows.js';
import type { SearchParamDef } from '../../core/search/model.js';
import { QUESTIONNAIRE_COLUMNS } from '../../store/tables/questionnaire.js';
import { COMMON_PARAMS, DIRECTORY_ACCESS, expression, FHIR_SP, TAG_PARAM, withSearchValues } from '../common-params.js';
import type { Prepared, ResourceKind, WriteEvent } from '../kind.js';
import { FORMS } from '../../../mappings/forms.js';
import { FHIR_BASE } from '../../../mappings/referral.js';
import { forbidden } from '../../core/outcomes.js';

const PARAMS: readonly SearchParamDef[] = [
  ...COMMON_PARAMS,
  { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'draft | active | retired | unknown', definition: `${FHIR_SP}Questionnaire-status` },
  expression('context', 'token', 'token', 'Questionnaire.useContext.value', 'A use context of the sheet, e.g. the category of offer it describes', `${FHIR_SP}Questionnaire-context`),
  expression('name', 'string', 'string', 'Questionnaire.name', 'Computable name: accent- and case-insensitive starts-with; :contains, :exact', `${FHIR_SP}Questionnaire-name`),
  expression('title', 'string', 'string', 'Questionnaire.title', 'Title: accent- and case-insensitive starts-with; :contains, :exact', `${FHIR_SP}Questionnaire-title`),
  expression('description', 'string', 'string', 'Questionnaire.description', 'Description: accent- and case-insensitive starts-with; :contains, :exact', `${FHIR_SP}Questionnaire-description`),
  expression('version', 'token', 'token', 'Questionnaire.version', 'Business version of the sheet', `${FHIR_SP}Questionnaire-version`),
  expression('url', 'uri', 'token', 'Questionnaire.url', 'Canonical URL (exact), e.g. https://aiguillage.org/fhir/Questionnaire/volet-medical', `${FHIR_SP}Questionnaire-url`),
  expression('date', 'date', 'date', 'Questionnaire.date', 'Publication date (eq, ne, gt, lt, ge, le, sa, eb, ap)', `${FHIR_SP}Questionnaire-date`),
  TAG_PARAM,
];

const FORM_IDS: ReadonlySet<string> = new Set(Object.values<Questionnaire>(FORMS).map((f) => f.id as string));

/** The gateway's own forms (the volets) are the gateway's to write. */
async function prepareQuestionnaire(e: WriteEvent): Promise<Prepared> {
  const own = (q: Questionnaire | undefined): boolean => (q?.url ?? '').startsWith(`${FHIR_BASE}/Questionnaire/`);
  if (!e.ctx.principal?.gateway && (FORM_IDS.has(e.id) || own(e.resource as Questionnaire) || own(e.previous?.content as Questionnaire | undefined))) {
    throw forbidden('The volets’ forms (https://aiguillage.org/fhir/Questionnaire/…) are published by the gateway itself', 'Questionnaire.url');
  }
  return { resource: e.resource };
}

/** Questionnaire (ROR instruction sheets, and the gateway's forms). */
export const QUESTIONNAIRE: ResourceKind<Questionnaire> = {
  type: 'Questionnaire',
  columns: QUESTIONNAIRE_COLUMNS,
  table: 'questionnaire',
  toRow: withSearchValues(questionnaireRow, PARAMS),
  profiles: [],
  searchParams: PARAMS,
  includes: [],
  access: DIRECTORY_ACCESS,
  patientData: false,
  subscribable: false,
  clientIds: true,
  upsertOnNationalKeys: true,
  rules: { prepare: prepareQuestionnaire },
};

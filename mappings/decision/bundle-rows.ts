/**
 * The same decisions sent as a FHIR Bundle: read back into the rows of a
 * decisions file, so that both go through one import pipeline.
 */
import type { Extension, Patient, ServiceRequest } from '@medplum/fhirtypes';
import { EXT_CRETON, EXT_LEVEL_ESMS, EXT_LEVEL_PRO, ID_DECISION_SYSTEM_PREFIX, ID_NAT_DECISION_SYSTEM, INDIVIDUAL_SYSTEM_PREFIX } from './codes.js';
import { COLUMNS, type Column } from './file.js';

/** Where each column of the file lives in a decision sent as FHIR (for reports on Bundle imports). */
export const COLUMN_PATHS: Record<Column, string> = {
  numero_individu: 'Patient.identifier',
  date_naissance: 'Patient.birthDate',
  nom: 'Patient.name.family',
  prenom: 'Patient.name.given',
  sexe: 'Patient.gender',
  id_decision: 'ServiceRequest.identifier',
  id_nat_decision: 'ServiceRequest.identifier',
  categorie_esms: 'ServiceRequest.code',
  date_debut_validite: 'ServiceRequest.occurrencePeriod.start',
  date_fin_validite: 'ServiceRequest.occurrencePeriod.end',
  caracterisation_esms: `ServiceRequest.extension('${EXT_LEVEL_ESMS}')`,
  caracterisation_pro: `ServiceRequest.extension('${EXT_LEVEL_PRO}')`,
  creton: `ServiceRequest.extension('${EXT_CRETON}')`,
  finess_esms: 'ServiceRequest.performer.identifier',
};

const GENDERS: Record<string, string> = { male: 'M', female: 'F', other: 'I', unknown: 'I' };

/**
 * The file rows of a Bundle of decisions (a ServiceRequest per decision, as
 * the gateway renders them, with its person as a contained Patient or a
 * Patient entry of the Bundle): one row per target, each with the index of
 * its entry. Cells are taken as they are; `parseRow` checks them as for a file.
 */
export function bundleRows(bundle: { entry?: { fullUrl?: string; resource?: unknown }[] }, dept: string): { entry: number; cells: Partial<Record<Column, string>> }[] {
  const entries = bundle.entry ?? [];
  const byUrl = new Map(entries.filter((e) => e.fullUrl).map((e) => [e.fullUrl as string, e.resource as Patient]));
  const rows: { entry: number; cells: Partial<Record<Column, string>> }[] = [];
  entries.forEach((e, index) => {
    const request = e.resource as ServiceRequest | undefined;
    if (request?.resourceType !== 'ServiceRequest') return;
    const ref = request.subject?.reference ?? '';
    const person: Patient | undefined = ref.startsWith('#')
      ? ((request.contained ?? []).find((c) => c.resourceType === 'Patient' && c.id === ref.slice(1)) as Patient | undefined)
      : byUrl.get(ref);
    const name = person?.name?.[0];
    const ext = (url: string): Extension | undefined => request.extension?.find((x) => x.url === url);
    const cells: Partial<Record<Column, string>> = {
      numero_individu: person?.identifier?.find((i) => i.system === `${INDIVIDUAL_SYSTEM_PREFIX}${dept}`)?.value ?? person?.identifier?.[0]?.value ?? '',
      date_naissance: person?.birthDate ?? '',
      nom: name?.family ?? '',
      prenom: name?.given?.[0] ?? '',
      sexe: person?.gender ? (GENDERS[person.gender] ?? '') : '',
      id_decision: request.identifier?.find((i) => i.system === `${ID_DECISION_SYSTEM_PREFIX}${dept}`)?.value ?? '',
      id_nat_decision: request.identifier?.find((i) => i.system === ID_NAT_DECISION_SYSTEM)?.value ?? '',
      categorie_esms: request.code?.coding?.[0]?.code ?? '',
      date_debut_validite: request.occurrencePeriod?.start ?? '',
      date_fin_validite: request.occurrencePeriod?.end ?? '',
      caracterisation_esms: ext(EXT_LEVEL_ESMS)?.valueInteger?.toString() ?? '',
      caracterisation_pro: ext(EXT_LEVEL_PRO)?.valueInteger?.toString() ?? '',
      creton: ext(EXT_CRETON)?.valueBoolean === undefined ? '' : String(ext(EXT_CRETON)?.valueBoolean),
    };
    const targets = (request.performer ?? []).map((p) => p.identifier?.value ?? '').filter((v) => v !== '');
    for (const finess of targets.length > 0 ? targets : ['']) rows.push({ entry: index, cells: { ...cells, finess_esms: finess } });
  });
  return rows;
}

/** The rows of a Bundle as a decisions file (CSV, `;`, with quotes where needed), for the import pipeline. */
export function rowsToCsv(rows: { cells: Partial<Record<Column, string>> }[]): string {
  const quote = (v: string): string => (/[;"\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return [COLUMNS.join(';'), ...rows.map((r) => COLUMNS.map((c) => quote(r.cells[c] ?? '')).join(';'))].join('\n') + '\n';
}

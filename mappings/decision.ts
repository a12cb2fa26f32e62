/**
 * Orientation decisions (module Handicap), the declarative part: the MDPH
 * file's columns, the national codes (TRE_R357 statuses, JDV_J252/J253), who
 * may set which status, and the pure mappings of a decision to its FHIR
 * resources (Patient, ServiceRequest, one Task per targeted ESMS) and rows.
 *
 * The decisions file (CSV, `;`-separated, UTF-8, one header line, one row
 * per decision and target ESMS; a decision without target has an empty
 * `finess_esms`):
 *
 * | column | required | format |
 * | --- | --- | --- |
 * | numero_individu | yes | the MDPH's individual number: 1–30 letters, digits, `-` |
 * | date_naissance | yes | YYYY-MM-DD or DD/MM/YYYY |
 * | nom, prenom | yes | text |
 * | sexe | no | M, F or I |
 * | id_decision | yes | the MDPH's decision id (idDecision): 1–50 letters, digits, `-_.` |
 * | id_nat_decision | no | national id (idNat_Decision); assigned by the gateway when empty |
 * | categorie_esms | yes | ESMS category wanted (FINESS category, TRE_R66): 1–4 digits |
 * | date_debut_validite, date_fin_validite | yes | dates, start ≤ end |
 * | caracterisation_esms | no | 1–5 (scale ESMS children/adults) |
 * | caracterisation_pro | no | 1–5 (vocational scale) |
 * | creton | no | 0/1, oui/non, true/false |
 * | finess_esms | no | FINESS of a targeted ESMS: 9 characters, digits (2A/2B allowed) |
 */
import { createHash } from 'node:crypto';
import type { CodeableConcept, Extension, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';

export const FHIR_BASE = 'https://aiguillage.org/fhir';
/** The organization key of an MDPH: this system and its department code (75, 2A, 971…). */
export const MDPH_SYSTEM = `${FHIR_BASE}/NamingSystem/mdph`;
export const ID_DECISION_SYSTEM_PREFIX = 'urn:oid:1.2.250.1.213.7.';
export const ID_NAT_DECISION_SYSTEM = 'urn:oid:1.2.250.1.213.8.1';
export const INDIVIDUAL_SYSTEM_PREFIX = `${FHIR_BASE}/NamingSystem/mdph-individu/`;
export const FINESS_SYSTEM = 'https://finess.esante.gouv.fr';
export const R357_SYSTEM = 'https://mos.esante.gouv.fr/NOS/TRE_R357-StatutPersonnePriseCharge/FHIR/TRE-R357-StatutPersonnePriseCharge';
export const J252_SYSTEM = 'https://mos.esante.gouv.fr/NOS/JDV_J252-StatutPersonnePriseChargeESMS/';
export const CATEGORY_SYSTEM = 'https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement';
export const DECISION_CATEGORY = { system: `${FHIR_BASE}/CodeSystem/request-kind`, code: 'orientation-decision', display: 'Décision d’orientation CDAPH' };
export const EXT_CRETON = `${FHIR_BASE}/StructureDefinition/creton`;
export const EXT_LEVEL_ESMS = `${FHIR_BASE}/StructureDefinition/characterisation-esms`;
export const EXT_LEVEL_PRO = `${FHIR_BASE}/StructureDefinition/characterisation-vocational`;
export const SDO_TASK_PROFILE = 'https://interop.esante.gouv.fr/ig/fhir/sdo/StructureDefinition/sdo-task';

/** The ESMS-level statuses of a person (TRE_R357, JDV_J252), with who may set each. */
export const ESMS_STATUSES = {
  '39': { display: 'Notification envoyée', taskStatus: 'requested' },
  '40': { display: 'Lue', taskStatus: 'received' },
  '41': { display: 'Contact effectué', taskStatus: 'in-progress' },
  '42': { display: 'Liste d’attente – en cours d’analyse', taskStatus: 'in-progress' },
  '72': { display: 'Admissible', taskStatus: 'in-progress' },
  '71': { display: 'Admis', taskStatus: 'accepted' },
  '43': { display: 'Période d’essai', taskStatus: 'in-progress' },
  '44': { display: 'Essai non concluant', taskStatus: 'in-progress' },
  '45': { display: 'Admission impossible signalée', taskStatus: 'on-hold' },
  '46': { display: 'Admission impossible entérinée', taskStatus: 'rejected' },
  '47': { display: 'Usager entré', taskStatus: 'in-progress' },
  '48': { display: 'Usager sorti', taskStatus: 'completed' },
  '49': { display: 'Notification annulée', taskStatus: 'cancelled' },
  '51': { display: 'Demande de réorientation', taskStatus: 'on-hold' },
  '54': { display: 'Notification réactivée', taskStatus: 'requested' },
  '37': { display: 'Décision annulée', taskStatus: 'cancelled' },
} as const satisfies Record<string, { display: string; taskStatus: Task['status'] }>;
export type EsmsStatus = keyof typeof ESMS_STATUSES;

export function isEsmsStatus(code: string | undefined): code is EsmsStatus {
  return code !== undefined && Object.hasOwn(ESMS_STATUSES, code);
}

/** Who sets a status: the targeted ESMS, or the decision's MDPH (46, 54, 37 are the MDPH's only). */
export type DecisionSide = 'esms' | 'mdph';

const OPEN_ESMS = ['39', '40', '41', '42', '72', '71', '43', '44', '47', '54'];

/** Where each side may move a decision's task from each status. */
export const DECISION_MOVES: Record<EsmsStatus, Partial<Record<DecisionSide, readonly EsmsStatus[]>>> = {
  '39': { esms: ['40', '41', '42', '45', '49', '51'], mdph: ['37'] },
  '40': { esms: ['41', '42', '45', '49', '51'], mdph: ['37'] },
  '41': { esms: ['42', '72', '45', '49', '51'], mdph: ['37'] },
  '42': { esms: ['41', '72', '71', '45', '49', '51'], mdph: ['37'] },
  '72': { esms: ['42', '71', '45', '49'], mdph: ['37'] },
  '71': { esms: ['43', '47', '45'], mdph: ['37'] },
  '43': { esms: ['44', '47'], mdph: ['37'] },
  '44': { esms: ['42', '45', '51'], mdph: ['37'] },
  '45': { mdph: ['46', '54', '37'] },
  '46': { mdph: ['54', '37'] },
  '47': { esms: ['48', '51'] },
  '48': { mdph: ['54'] },
  '49': { mdph: ['54', '37'] },
  '51': { mdph: ['54', '37'] },
  '54': { esms: ['40', '41', '42', '45', '49', '51'], mdph: ['37'] },
  '37': { mdph: ['54'] },
};

export function decisionMoves(from: EsmsStatus, side: DecisionSide): readonly EsmsStatus[] {
  return DECISION_MOVES[from][side] ?? [];
}

/** Statuses where the person waits on the ESMS's list (waiting-list indicators). */
export const WAITING_STATUSES: readonly EsmsStatus[] = ['42', '72'];
/** Statuses that mean an admission happened. */
export const ADMITTED_STATUSES: readonly EsmsStatus[] = ['71', '43', '47', '48'];
/** Statuses of an admission impossible. */
export const IMPOSSIBLE_STATUSES: readonly EsmsStatus[] = ['45', '46'];
export { OPEN_ESMS };

export function esmsStatusConcept(code: EsmsStatus): CodeableConcept {
  return { coding: [{ system: R357_SYSTEM, code, display: ESMS_STATUSES[code].display }] };
}

/** The status code of a Task: from TRE_R357 or JDV_J252 (any spelling of their systems). */
export function esmsStatusOf(task: Task): string | undefined {
  return task.businessStatus?.coding?.find((c) => /TRE_R357|JDV_J252/.test(c.system ?? ''))?.code;
}

// ---------------------------------------------------------------- the file

export const COLUMNS = [
  'numero_individu',
  'date_naissance',
  'nom',
  'prenom',
  'sexe',
  'id_decision',
  'id_nat_decision',
  'categorie_esms',
  'date_debut_validite',
  'date_fin_validite',
  'caracterisation_esms',
  'caracterisation_pro',
  'creton',
  'finess_esms',
] as const;
export type Column = (typeof COLUMNS)[number];
export const REQUIRED: readonly Column[] = ['numero_individu', 'date_naissance', 'nom', 'prenom', 'id_decision', 'categorie_esms', 'date_debut_validite', 'date_fin_validite'];

/** One decision row, checked. */
export interface DecisionRow {
  individual: string;
  birthDate: string;
  family: string;
  given: string;
  gender?: Patient['gender'];
  idDecision: string;
  idNatDecision?: string;
  category: string;
  validFrom: string;
  validTo: string;
  levelEsms?: number;
  levelPro?: number;
  creton: boolean;
  finess?: string;
}

/** A rejected cell: which column and why. */
export interface RowError {
  column: Column | '';
  reason: string;
}

/** Checks the header line: every required column present, none unknown (the unknown ones named). */
export function checkHeader(header: string[]): string | undefined {
  const names = header.map((h) => h.trim().toLowerCase());
  const unknown = names.filter((n) => !(COLUMNS as readonly string[]).includes(n));
  const missing = REQUIRED.filter((c) => !names.includes(c));
  if (missing.length > 0) return `missing column(s): ${missing.join(', ')}`;
  if (unknown.length > 0) return `unknown column(s): ${unknown.join(', ')}; the columns are ${COLUMNS.join(', ')}`;
  return undefined;
}

function parseDate(text: string): string | undefined {
  const iso = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const french = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(text);
  const [y, mo, d] = iso ? [iso[1], iso[2], iso[3]] : french ? [french[3], french[2], french[1]] : [];
  if (!y || !mo || !d) return undefined;
  const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (date.getUTCFullYear() !== Number(y) || date.getUTCMonth() !== Number(mo) - 1 || date.getUTCDate() !== Number(d)) return undefined;
  return `${y}-${mo}-${d}`;
}

const BOOLEANS: Record<string, boolean> = { '': false, '0': false, '1': true, oui: true, non: false, true: true, false: false, o: true, n: false };

/** Reads one data row (cells by column name); returns the decision or the errors of its cells. */
export function parseRow(cells: Partial<Record<Column, string>>, today: string): { row?: DecisionRow; errors: RowError[] } {
  const errors: RowError[] = [];
  const get = (c: Column): string => (cells[c] ?? '').trim();
  for (const c of REQUIRED) if (get(c) === '') errors.push({ column: c, reason: 'required' });
  const text = (c: Column, pattern: RegExp, what: string): string | undefined => {
    const v = get(c);
    if (v === '') return undefined;
    if (!pattern.test(v)) {
      errors.push({ column: c, reason: `expected ${what}, got "${v.slice(0, 60)}"` });
      return undefined;
    }
    return v;
  };
  const date = (c: Column): string | undefined => {
    const v = get(c);
    if (v === '') return undefined;
    const d = parseDate(v);
    if (!d) errors.push({ column: c, reason: `expected a date YYYY-MM-DD or DD/MM/YYYY, got "${v.slice(0, 30)}"` });
    return d;
  };
  const level = (c: Column): number | undefined => {
    const v = text(c, /^[1-5]$/, 'a characterisation level from 1 to 5');
    return v ? Number(v) : undefined;
  };
  const individual = text('numero_individu', /^[A-Za-z0-9-]{1,30}$/, 'an individual number (1–30 letters, digits, -)');
  const birthDate = date('date_naissance');
  if (birthDate && birthDate > today) errors.push({ column: 'date_naissance', reason: `birth date ${birthDate} is in the future` });
  const family = text('nom', /^[^\u0000-\u001f<>]{1,100}$/u, 'a name (1–100 characters)');
  const given = text('prenom', /^[^\u0000-\u001f<>]{1,100}$/u, 'a given name (1–100 characters)');
  const sex = text('sexe', /^[MFImfi]$/, 'M, F or I');
  const idDecision = text('id_decision', /^[A-Za-z0-9._-]{1,50}$/, 'a decision id (1–50 letters, digits, . _ -)');
  const idNatDecision = text('id_nat_decision', /^[A-Za-z0-9._-]{1,64}$/, 'a national decision id (1–64 letters, digits, . _ -)');
  const category = text('categorie_esms', /^\d{1,4}$/, 'an ESMS category code (1–4 digits)');
  const validFrom = date('date_debut_validite');
  const validTo = date('date_fin_validite');
  if (validFrom && validTo && validTo < validFrom) errors.push({ column: 'date_fin_validite', reason: `validity ends (${validTo}) before it starts (${validFrom})` });
  const levelEsms = level('caracterisation_esms');
  const levelPro = level('caracterisation_pro');
  const cretonText = get('creton').toLowerCase();
  if (!Object.hasOwn(BOOLEANS, cretonText)) errors.push({ column: 'creton', reason: `expected 0/1, oui/non or true/false, got "${cretonText.slice(0, 20)}"` });
  const finess = text('finess_esms', /^\d{2}\d{7}$|^2[AB]\d{7}$/, 'a FINESS number (9 characters)');
  if (errors.length > 0) return { errors };
  return {
    row: {
      individual: individual as string,
      birthDate: birthDate as string,
      family: family as string,
      given: given as string,
      ...(sex ? { gender: ({ m: 'male', f: 'female', i: 'unknown' } as const)[sex.toLowerCase() as 'm' | 'f' | 'i'] } : {}),
      idDecision: idDecision as string,
      ...(idNatDecision ? { idNatDecision } : {}),
      category: category as string,
      validFrom: validFrom as string,
      validTo: validTo as string,
      ...(levelEsms ? { levelEsms } : {}),
      ...(levelPro ? { levelPro } : {}),
      creton: BOOLEANS[cretonText] ?? false,
      ...(finess ? { finess } : {}),
    },
    errors,
  };
}

// ---------------------------------------------------------------- resources

function hash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 22).replace(/_/g, '.');
}

/**
 * Deterministic ids: a re-import finds what an earlier one wrote, and a
 * resumed chunk rewrites the same rows. They read as the MDPH's own numbers
 * (`d-59-D123`, `p-59-I456`, `t-59-D123-590000001`), which also keeps them in
 * the file's order in the indexes; a number with characters an id cannot
 * hold, or too long, is hashed instead, under another prefix (`dh-`, `th-`).
 */
export const decisionIds = {
  patient: (dept: string, individual: string): string => `p-${dept}-${individual}`,
  decision: (dept: string, idDecision: string): string => (/^[A-Za-z0-9.-]{1,45}$/.test(idDecision) ? `d-${dept}-${idDecision}` : `dh-${dept}-${hash(idDecision)}`),
  /** A decision's task for one ESMS (targeted or claiming: one task per decision and ESMS). */
  task: (decisionId: string, finess: string): string => `t${decisionId.slice(1)}-${finess}`,
};

/** Whether an id is an orientation decision's. */
export function isDecisionId(id: string | undefined): boolean {
  return /^dh?-/.test(id ?? '');
}

/** The national decision id the gateway assigns when the file has none (stable across re-imports). */
export function assignedNationalId(dept: string, idDecision: string): string {
  return `${dept}-${hash(idDecision).slice(0, 16)}`;
}

export function mdphKey(dept: string): string {
  return `${MDPH_SYSTEM}|${dept}`;
}

export function patientOf(dept: string, row: DecisionRow): Patient {
  return {
    resourceType: 'Patient',
    identifier: [{ system: `${INDIVIDUAL_SYSTEM_PREFIX}${dept}`, value: row.individual }],
    name: [{ use: 'official', family: row.family, given: [row.given] }],
    ...(row.gender ? { gender: row.gender } : {}),
    birthDate: row.birthDate,
  };
}

/** The decision as a ServiceRequest; `targets` are the FINESS of the ESMS it targets. */
export function decisionOf(dept: string, row: DecisionRow, patientId: string, targets: string[]): ServiceRequest {
  const extension: Extension[] = [{ url: EXT_CRETON, valueBoolean: row.creton }];
  if (row.levelEsms) extension.push({ url: EXT_LEVEL_ESMS, valueInteger: row.levelEsms });
  if (row.levelPro) extension.push({ url: EXT_LEVEL_PRO, valueInteger: row.levelPro });
  return {
    resourceType: 'ServiceRequest',
    extension,
    identifier: [
      { system: `${ID_DECISION_SYSTEM_PREFIX}${dept}`, value: row.idDecision },
      { system: ID_NAT_DECISION_SYSTEM, value: row.idNatDecision ?? assignedNationalId(dept, row.idDecision) },
    ],
    status: 'active',
    intent: 'order',
    category: [{ coding: [DECISION_CATEGORY] }],
    code: { coding: [{ system: CATEGORY_SYSTEM, code: row.category }] },
    subject: { reference: `Patient/${patientId}` },
    occurrencePeriod: { start: row.validFrom, end: row.validTo },
    requester: { type: 'Organization', identifier: { system: MDPH_SYSTEM, value: dept }, display: `MDPH ${dept}` },
    performer: [...targets].sort().map((finess) => ({ type: 'Organization' as const, identifier: { system: FINESS_SYSTEM, value: finess } })),
  };
}

/** The task of one targeted ESMS, at its first status. */
export function decisionTaskOf(decisionId: string, patientId: string, dept: string, finess: string, now: string, claimed = false): Task {
  return {
    resourceType: 'Task',
    ...(claimed ? { meta: { tag: [{ system: `${FHIR_BASE}/CodeSystem/decision-flag`, code: 'claimed', display: 'Notification déclarée par l’ESMS' }] } } : {}),
    status: 'requested',
    intent: 'order',
    businessStatus: esmsStatusConcept('39'),
    focus: { reference: `ServiceRequest/${decisionId}` },
    for: { reference: `Patient/${patientId}` },
    requester: { type: 'Organization', identifier: { system: MDPH_SYSTEM, value: dept } },
    owner: { type: 'Organization', identifier: { system: FINESS_SYSTEM, value: finess } },
    authoredOn: now,
    lastModified: now,
  };
}

// ---------------------------------------------------------------- the same decisions as a FHIR Bundle

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

/**
 * The colour codes that flag decisions nearing the end of their validity on
 * ESMS dashboards (seed 000: "des codes couleurs pour permettre d'identifier
 * rapidement les DO arrivant prochainement en fin de validité"). The seeds
 * give no thresholds; these are the gateway's, in days from today: red within
 * 30 days, orange within 90 (the indicators' horizon), green beyond, and
 * expired once the last day has passed. Searched with `validity-alert`.
 */
export const VALIDITY_ALERTS = {
  expired: { display: 'Validité échue', from: undefined, to: -1 },
  red: { display: 'Fin de validité dans 30 jours ou moins', from: 0, to: 30 },
  orange: { display: 'Fin de validité dans 31 à 90 jours', from: 31, to: 90 },
  green: { display: 'Fin de validité dans plus de 90 jours', from: 91, to: undefined },
} as const satisfies Record<string, { display: string; from: number | undefined; to: number | undefined }>;

export type ValidityAlert = keyof typeof VALIDITY_ALERTS;

export function isValidityAlert(code: string): code is ValidityAlert {
  return Object.hasOwn(VALIDITY_ALERTS, code);
}

/** The colour of a validity ending on `validTo` (YYYY-MM-DD), seen on `today`. */
export function validityAlertOf(validTo: string, today: string): ValidityAlert {
  const days = Math.round((Date.parse(`${validTo}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / 86_400_000);
  return (Object.keys(VALIDITY_ALERTS) as ValidityAlert[]).find((code) => {
    const { from, to } = VALIDITY_ALERTS[code];
    return (from === undefined || days >= from) && (to === undefined || days <= to);
  }) as ValidityAlert;
}

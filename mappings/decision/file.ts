/**
 * The MDPH decisions file, read row by row: its columns, the header check
 * and the checks of each row's cells.
 *
 * The file (CSV, `;`-separated, UTF-8, one header line, one row
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
import type { Patient } from '@medplum/fhirtypes';

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
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  const family = text('nom', /^[^\u0000-\u001f<>]{1,100}$/u, 'a name (1–100 characters)');
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
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

import { describe, expect, it } from 'vitest';
import { checkHeader, COLUMNS, parseRow, type Column } from './decision/file.js';
import { decisionIds, isDecisionId } from './decision/resources.js';
import { decisionMoves, DECISION_MOVES, validityAlertOf } from './decision/statuses.js';

const row = (over: Partial<Record<Column, string>> = {}): Partial<Record<Column, string>> => ({
  numero_individu: 'I1',
  date_naissance: '2001-02-03',
  nom: 'Nom',
  prenom: 'Prénom',
  id_decision: 'D1',
  categorie_esms: '255',
  date_debut_validite: '2025-01-01',
  date_fin_validite: '2028-01-01',
  ...over,
});

describe('decision file', () => {
  it('reads a row, with French dates and optional columns', () => {
    expect(parseRow(row({ date_naissance: '03/02/2001', creton: 'oui', caracterisation_pro: '4', sexe: 'f', finess_esms: '2A0000001' }), '2026-11-23').row).toEqual({
      individual: 'I1',
      birthDate: '2001-02-03',
      family: 'Nom',
      given: 'Prénom',
      gender: 'female',
      idDecision: 'D1',
      category: '255',
      validFrom: '2025-01-01',
      validTo: '2028-01-01',
      levelPro: 4,
      creton: true,
      finess: '2A0000001',
    });
  });
  it('names every bad cell', () => {
    const { row: parsed, errors } = parseRow(row({ nom: '', date_naissance: '31/02/2001', caracterisation_esms: '0', creton: 'x', finess_esms: '1' }), '2026-11-23');
    expect(parsed).toBeUndefined();
    expect(errors.map((e) => e.column).sort()).toEqual(['caracterisation_esms', 'creton', 'date_naissance', 'finess_esms', 'nom']);
  });
  it('checks the header', () => {
    expect(checkHeader([...COLUMNS])).toBeUndefined();
    expect(checkHeader(['nom'])).toContain('missing column(s): numero_individu');
    expect(checkHeader([...COLUMNS, 'extra'])).toContain('unknown column(s): extra');
  });
});

describe('decision ids', () => {
  it('read as the MDPH numbers, hashed when they cannot be an id', () => {
    expect(decisionIds.decision('59', 'D-123.4')).toBe('d-59-D-123.4');
    expect(decisionIds.task('d-59-D-123.4', '590000001')).toBe('t-59-D-123.4-590000001');
    const hashed = decisionIds.decision('59', 'D_123');
    expect(hashed).toMatch(/^dh-59-[A-Za-z0-9.-]{22}$/);
    expect(decisionIds.decision('59', 'D_124')).not.toBe(hashed);
    expect(decisionIds.decision('59', 'X'.repeat(46))).toMatch(/^dh-/);
    for (const id of [decisionIds.task(decisionIds.decision('971', 'X'.repeat(45)), '2A0000001'), decisionIds.task(hashed, '590000001')]) expect(id.length).toBeLessThanOrEqual(64);
    expect(isDecisionId(hashed)).toBe(true);
    expect(isDecisionId('0d-1')).toBe(false);
  });
});

describe('status moves', () => {
  it('reserve 46, 54 and 37 to the MDPH', () => {
    for (const from of Object.keys(DECISION_MOVES) as (keyof typeof DECISION_MOVES)[]) {
      for (const reserved of ['46', '54', '37'] as const) expect(decisionMoves(from, 'esms')).not.toContain(reserved);
    }
  });
});

describe('validity colour codes', () => {
  it('red within 30 days (today included), orange up to 90, green beyond, expired once the last day has passed', () => {
    const today = '2026-03-01';
    const at = (days: number): string => new Date(Date.parse(`${today}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
    expect([-400, -1, 0, 30, 31, 90, 91, 2000].map((d) => validityAlertOf(at(d), today))).toEqual(['expired', 'expired', 'red', 'red', 'orange', 'orange', 'green', 'green']);
  });
});

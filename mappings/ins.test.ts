import { describe, expect, it } from 'vitest';
import { IDENTITY_RELIABILITY_URL, IDENTITY_STATUS_SYSTEM, insKey, insProblems, insValueProblem, isQualified, V2_0445_SYSTEMS } from './ins.js';

describe('INS key', () => {
  it('is 97 minus the first 13 characters modulo 97, Corsica read as 19 (2A) and 18 (2B)', () => {
    expect(insKey('1234567890122')).toBe(12);
    expect(insKey('1477204253674')).toBe(30);
    expect(insKey('180122A001123')).toBe(97 - (1801219001123 % 97));
    expect(insKey('180122B001123')).toBe(97 - (1801218001123 % 97));
    expect(insKey('580122A001123')).toBeUndefined();
  });

  it('refuses a wrong key and a wrong structure, saying which', () => {
    expect(insValueProblem('123456789012212')).toBeUndefined();
    expect(insValueProblem('123456789012244')).toMatch(/key is 44 where its first 13 characters give 12/);
    expect(insValueProblem('147720425367411')).toMatch(/give 30/);
    expect(insValueProblem('123456789012201')).toMatch(/give 12/);
    expect(insValueProblem('12345')).toMatch(/15 characters/);
    expect(insValueProblem('923456789012212')).toMatch(/15 characters/);
    // a key below 10 is written with its leading zero
    const first13 = Array.from({ length: 200 }, (_, i) => String(1000000000000 + i * 7919)).find((d) => (insKey(d) as number) < 10) as string;
    const key = insKey(first13) as number;
    expect(insValueProblem(`${first13}0${key}`)).toBeUndefined();
    expect(insValueProblem(`${first13}${key}0`)).toMatch(/give 0/);
  });
});

describe('identity status', () => {
  const withStatus = (system: string, code: string, use?: 'official' | 'old' | 'temp') => ({
    resourceType: 'Patient' as const,
    extension: [{ url: IDENTITY_RELIABILITY_URL, extension: [{ url: 'identityStatus', valueCoding: { system, code } }] }],
    identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '123456789012212', ...(use ? { use } : {}) }],
  });

  it('qualified: QUAL of FR Core’s RNIV statuses, or VALI of table 0445 (FR Core’s fr-core-1)', () => {
    expect(isQualified({ system: IDENTITY_STATUS_SYSTEM, code: 'QUAL' })).toBe(true);
    expect(isQualified({ system: IDENTITY_STATUS_SYSTEM, code: 'VALI' })).toBe(false);
    expect(isQualified({ system: V2_0445_SYSTEMS[0], code: 'VALI' })).toBe(true);
    expect(isQualified({ system: V2_0445_SYSTEMS[0], code: 'PROV' })).toBe(false);
    expect(isQualified({ code: 'QUAL' })).toBe(false);
    expect(isQualified(undefined)).toBe(false);
  });

  it('an INS in force only on a qualified identity; a former one (use old) on any', () => {
    expect(insProblems(withStatus(IDENTITY_STATUS_SYSTEM, 'QUAL', 'official'))).toEqual([]);
    for (const code of ['PROV', 'RECUP', 'VALI']) {
      expect(insProblems(withStatus(IDENTITY_STATUS_SYSTEM, code, 'official')).map((p) => p.expression), code).toEqual(['Patient.identifier[0]']);
      expect(insProblems(withStatus(IDENTITY_STATUS_SYSTEM, code, 'old')), code).toEqual([]);
    }
    expect(insProblems(withStatus(IDENTITY_STATUS_SYSTEM, 'PROV')).map((p) => p.message).join()).toMatch(/only on a qualified identity/);
    expect(insProblems({ resourceType: 'Patient', identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.9', value: '123456789012212', use: 'temp' }] })).toHaveLength(1);
    expect(insProblems({ resourceType: 'Patient', identifier: [{ system: 'urn:x:ipp', value: 'anything' }] })).toEqual([]);
  });

  it('a status FR Core does not know is named', () => {
    const problems = insProblems(withStatus(IDENTITY_STATUS_SYSTEM, 'SURE', 'old'));
    expect(problems).toHaveLength(1);
    expect(problems[0].message).toMatch(/not one FR Core knows/);
    expect(insProblems(withStatus('urn:x', 'QUAL', 'official'))).toHaveLength(2);
  });
});

import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { HealthcareService, Location, Organization, Resource } from '@medplum/fhirtypes';
import { locationRow } from './resource-rows.js';
import { ageInYears, ageRange, capacities, codeTokens, communeCog, nationalKeys, regionOf } from './ror.js';

const read = <T>(path: URL | string): T => JSON.parse(fs.readFileSync(path, 'utf8')) as T;
const ROR_HS = read<HealthcareService>(new URL('../fixtures/ror/ror-HealthcareService-1234564.json', import.meta.url));
const ROR_LOCATION = read<Location>(new URL('../fixtures/ror/ror-Location-ror-location-exemple.json', import.meta.url));
const CAPACITIES = read<Location>('fixtures/ror-location-capacities.json');

describe('ROR readings of the national examples and fixtures', () => {
  it.each<[string, () => unknown, unknown]>([
    ['HealthcareService age range (15–150 years)', () => ageRange(ROR_HS), { low: 15, high: 150 }],
    ['HealthcareService region', () => regionOf(ROR_HS.meta), '06'],
    ['HealthcareService offer id without system', () => nationalKeys(ROR_HS), ['ror-offer|06/0099999']],
    ['HealthcareService specialty tokens', () => codeTokens(ROR_HS.specialty), ['022', 'https://mos.esante.gouv.fr/NOS/TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle|022']],
    ['Location commune (COG)', () => communeCog(ROR_LOCATION), '78646'],
    ['Location without capacities', () => capacities(ROR_LOCATION), []],
    [
      'Location capacities',
      () => capacities(CAPACITIES),
      [
        { type: '01', status: '01', temporality: '01', count: 42, updated: '2025-02-28T10:00:00Z' },
        { type: '02', status: '03', temporality: '02', count: 5, updated: null },
      ],
    ],
    ['Location region and keys', () => [regionOf(CAPACITIES.meta), nationalKeys(CAPACITIES)], ['84', ['https://ror.esante.gouv.fr/lieu|84/L-1']]],
  ])('%s', (_label, read, expected) => {
    expect(read()).toEqual(expected);
  });

  it('maps a place to its domain columns', () => {
    expect(locationRow(CAPACITIES)).toMatchObject({
      commune_cog: '69123',
      postal_code: '69003',
      city: 'lyon',
      latitude: 45.7578,
      longitude: 4.832,
      region: '84',
      source_updated_at: '2025-03-01T07:00:00.000Z',
      capacities: { json: capacities(CAPACITIES) },
    });
  });

  it.each([
    [{ value: 18, code: 'a' }, 18],
    [{ value: 6, code: 'mo' }, 0.5],
    [{ value: 3 }, 3],
    [{ value: 3, code: 'parsec' }, undefined],
    [undefined, undefined],
  ])('age %j in years is %s', (quantity, years) => {
    expect(ageInYears(quantity)).toBe(years);
  });

  it('keeps only FINESS and idNat_Struct as national keys of a structure', () => {
    const org: Organization = {
      resourceType: 'Organization',
      identifier: [
        { system: 'http://finess.esante.gouv.fr', value: '458174839' },
        { system: 'urn:oid:1.2.250.1.71.4.2.2', value: '1458174839' },
        { system: 'https://sirene.fr', value: '12345687900034' },
      ],
    };
    expect(nationalKeys(org as Resource)).toEqual(['https://finess.esante.gouv.fr|458174839', 'urn:oid:1.2.250.1.71.4.2.2|1458174839']);
  });

  it('takes the union of several publics’ age ranges', () => {
    const publicOf = (low: number, high: number) => ({
      url: 'https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-patient-type',
      extension: [{ url: 'ageRange', valueRange: { low: { value: low, code: 'a' }, high: { value: high, code: 'a' } } }],
    });
    expect(ageRange({ resourceType: 'HealthcareService', extension: [publicOf(0, 18), publicOf(60, 120)] })).toEqual({ low: 0, high: 120 });
  });
});

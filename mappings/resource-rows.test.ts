import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { HealthcareService, Location, Patient } from '@medplum/fhirtypes';
import { healthcareServiceRow, identifierKeys, locationRow, organizationRow, patientRow } from './resource-rows.js';
import { parseReference } from './reference.js';

/** A national guide's example, from its copy in fixtures/ (named by guide: ror-…, tddui-…; each folder's SOURCES.md names its commit). */
const example = <T>(file: string): T => JSON.parse(fs.readFileSync(new URL(`../fixtures/${file.split('-')[0]}/${file}`, import.meta.url), 'utf8')) as T;

describe('domain rows of the national examples', () => {
  it('TDDUI Patient INS → patient columns', () => {
    const row = patientRow(example<Patient>('tddui-Patient-tddui-patient-ins-example.json'));
    expect(row).toMatchObject({ family: ['dupont', 'dupont'], given: ['jean'], name_sort: 'dupont jean', gender: 'male', birth_date_low: '1947-04-03', birth_date_high: '1947-04-03' });
    expect(row.name_words).toEqual(expect.arrayContaining(['dupont', 'jean']));
  });

  it('ROR HealthcareService → unit columns (organization and location ids)', () => {
    const row = healthcareServiceRow(example<HealthcareService>('ror-HealthcareService-1234564.json'));
    expect(row).toMatchObject({ organization_id: '999999', location_ids: ['888888'] });
  });

  it('ROR Location → place columns', () => {
    const location = example<Location>('ror-Location-ror-location-exemple.json');
    const row = locationRow(location);
    expect(row.status).toBe(location.status ?? null);
    expect(row.name).toBe(location.name ?? null);
  });
});

describe('identifiers and references', () => {
  it.each([
    [[{ system: 'http://finess.esante.gouv.fr', value: '750000001' }], [{ system: 'https://finess.esante.gouv.fr', value: '750000001' }]],
    [[{ value: 'x' }, { value: 'x' }, { system: 's' }], [{ system: '', value: 'x' }]],
  ])('canonicalises and deduplicates %j', (input, expected) => {
    expect(identifierKeys(input)).toEqual(expected);
  });

  it.each([
    ['Organization/1', { type: 'Organization', id: '1' }],
    ['https://x.fr/fhir/Location/888888/_history/2', { type: 'Location', id: '888888' }],
    ['urn:uuid:1234', undefined],
    ['#contained', undefined],
  ])('reads %s', (reference, expected) => {
    expect(parseReference(reference)).toEqual(expected);
  });

  it('keeps the EG → EJ link of an Organization', () => {
    expect(organizationRow({ resourceType: 'Organization', name: 'Hôpital Saint-Éloi', partOf: { reference: 'Organization/ej' } })).toMatchObject({
      name_sort: 'hopital saint-eloi',
      part_of: 'ej',
    });
  });
});

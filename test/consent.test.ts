/**
 * The patient's agreement to the orientation (issue 16; seeds 002 and 003):
 * a request is sent only with a Consent that holds for its patient: the
 * patient's own or their trusted person's for an adult, a parent's or
 * guardian's for a minor, the legal representative's for a protected adult.
 */
import type { Consent, Patient, RelatedPerson, ServiceRequest } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consentProblem } from '../mappings/consent.js';
import { startTestGateway, testPatient, type TestGateway } from './helpers.js';
import { as, consentOf, makeWorld, SMR_CATEGORY, volet, type World } from './referral-world.js';

let t: TestGateway;
let w: World;

beforeAll(async () => {
  t = await startTestGateway();
  w = await makeWorld(t);
});
afterAll(() => t.close());

const FR_CORE = 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-contact-relationship';
const V3 = 'http://terminology.hl7.org/CodeSystem/v3-RoleCode';

/** A consent given by a relative of `patient` (contained RelatedPerson with this relationship). */
function byRelative(patient: string, system: string, code: string): Consent {
  const relative: RelatedPerson = { resourceType: 'RelatedPerson', id: 'giver', patient: { reference: patient }, relationship: [{ coding: [{ system, code }] }], name: [{ family: 'Durand', given: ['Marie'] }] };
  return { ...consentOf(patient, '#giver'), contained: [relative] };
}

/** A request for a new patient with validated volets and the consents given; the answer to sending it. */
async function send(patient: Partial<Patient>, consents: (subject: string) => Consent[]) {
  const created = await as(w, w.prescriber).post('Patient', testPatient(patient));
  expect(created.status).toBe(201);
  const subject = `Patient/${created.body.id}`;
  const refs: { reference: string }[] = [];
  for (const body of [volet('medical', subject), volet('administrative', subject), ...consents(subject)]) {
    const res = await as(w, w.prescriber).post(body.resourceType, body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    refs.push({ reference: `${body.resourceType}/${res.body.id}` });
  }
  const request: ServiceRequest = {
    resourceType: 'ServiceRequest',
    status: 'active',
    intent: 'order',
    category: SMR_CATEGORY,
    subject: { reference: subject },
    performer: [{ reference: 'HealthcareService/smr' }],
    supportingInfo: refs,
  };
  return as(w, w.prescriber).post('ServiceRequest', request);
}

const minor = { birthDate: '2015-06-01' };
const protectedAdult: Partial<Patient> = { contact: [{ relationship: [{ coding: [{ system: FR_CORE, code: 'GRD' }] }], name: { family: 'Tutelle', given: ['Association'] } }] };

describe('sending a request needs the patient’s agreement', () => {
  it('an adult agrees themselves or through their trusted person; without a consent nothing is sent', async () => {
    const none = await send({}, () => []);
    expect(none.status).toBe(422);
    expect(none.body.issue[0].diagnostics).toBe('A request is sent with the patient’s agreement (Consent): none is cited in supportingInfo');
    expect((await send({}, (s) => [consentOf(s)])).status).toBe(201);
    expect((await send({}, (s) => [byRelative(s, FR_CORE, 'K')])).status).toBe(201);
    // A relative who is not the trusted person does not agree for an adult.
    const cousin = await send({}, (s) => [byRelative(s, V3, 'COUSN')]);
    expect(cousin.status).toBe(422);
    expect(cousin.body.issue[0].diagnostics).toMatch(/an adult agrees for themselves, or through their trusted person/);
  });

  it('a minor’s orientation is agreed by a parent or guardian, not by the minor alone', async () => {
    const alone = await send(minor, (s) => [consentOf(s)]);
    expect(alone.status).toBe(422);
    expect(alone.body.issue[0].diagnostics).toMatch(/Consent\/[^:]+: the patient is a minor: a parent or the legal guardian agrees/);
    expect((await send(minor, (s) => [byRelative(s, V3, 'MTH')])).status).toBe(201);
    expect((await send(minor, (s) => [byRelative(s, FR_CORE, 'GRD')])).status).toBe(201);
    // One consent that holds is enough among several.
    expect((await send(minor, (s) => [consentOf(s), byRelative(s, V3, 'FTH')])).status).toBe(201);
  });

  it('a protected adult’s is agreed by their legal representative', async () => {
    const alone = await send(protectedAdult, (s) => [consentOf(s)]);
    expect(alone.status).toBe(422);
    expect(alone.body.issue[0].diagnostics).toMatch(/protection measure with representation/);
    expect((await send(protectedAdult, (s) => [byRelative(s, FR_CORE, 'GRD')])).status).toBe(201);
  });

  it('a consent that is not active, refuses, or names no one does not count', async () => {
    for (const [change, reason] of [
      [{ status: 'draft' }, /it is draft, not active/],
      [{ provision: { type: 'deny' } }, /it refuses/],
      [{ performer: undefined }, /does not say who gave it/],
    ] as const) {
      const res = await send({}, (s) => [{ ...consentOf(s), ...change } as Consent]);
      expect(res.status).toBe(422);
      expect(res.body.issue[0].diagnostics).toMatch(reason);
    }
  });

  it('a request cites its own organization’s consents of its patient; the units it goes to read them, no one else', async () => {
    const patient = (await as(w, w.prescriber).post('Patient', testPatient())).body as Patient;
    const other = (await as(w, w.prescriber).post('Patient', testPatient())).body as Patient;
    const foreign = await t.tokenFor(['prescriber'], 'https://finess.esante.gouv.fr|750000888');
    const foreignPatient = (await as(w, foreign).post('Patient', testPatient())).body as Patient;
    const theirs = (await as(w, foreign).post('Consent', consentOf(`Patient/${foreignPatient.id}`))).body as Consent;
    // A consent about a patient the writer does not see is refused.
    expect((await as(w, foreign).post('Consent', consentOf(`Patient/${patient.id}`))).status).toBe(422);
    const ofOther = (await as(w, w.prescriber).post('Consent', consentOf(`Patient/${other.id}`))).body as Consent;
    for (const consent of [theirs, ofOther]) {
      const res = await as(w, w.prescriber).post('ServiceRequest', {
        resourceType: 'ServiceRequest',
        status: 'draft',
        intent: 'order',
        subject: { reference: `Patient/${patient.id}` },
        supportingInfo: [{ reference: `Consent/${consent.id}` }],
      });
      expect(res.status).toBe(422);
      expect(res.body.issue[0].diagnostics).toBe(`Consent/${consent.id} is not a consent of this patient recorded by your organization`);
    }
    const sent = await send({}, (s) => [consentOf(s)]);
    const consentRef = (sent.body as ServiceRequest).supportingInfo?.[2].reference as string;
    expect((await as(w, w.unit.smr).get(consentRef)).status).toBe(200);
    expect((await as(w, w.unit.had).get(consentRef)).status).toBe(404);
    expect((await as(w, foreign).get(consentRef)).status).toBe(404);
  });
});

describe('the consent rule (mappings/consent.ts)', () => {
  const patient: Patient = { resourceType: 'Patient', id: 'p1', birthDate: '2008-12-10' };
  it('counts age on the day of the consent', () => {
    const own = consentOf('Patient/p1');
    expect(consentProblem({ ...own, dateTime: '2026-12-09' }, patient, '2026-12-20')).toMatch(/minor/);
    expect(consentProblem({ ...own, dateTime: '2026-12-10' }, patient, '2026-12-20')).toBeUndefined();
    expect(consentProblem({ ...own, dateTime: undefined }, patient, '2026-12-09')).toMatch(/minor/);
  });

  it('reads a relative only from the consent’s own contained RelatedPerson of the same patient', () => {
    const adult: Patient = { resourceType: 'Patient', id: 'p1', birthDate: '1950-01-01' };
    const elsewhere = byRelative('Patient/p2', FR_CORE, 'K');
    expect(consentProblem({ ...elsewhere, patient: { reference: 'Patient/p1' } }, adult, '2026-12-01')).toMatch(/does not say who gave it/);
    expect(consentProblem(byRelative('Patient/p1', 'http://example.org/other', 'K'), adult, '2026-12-01')).toMatch(/trusted person/);
    expect(consentProblem(byRelative('Patient/p1', FR_CORE, 'K'), adult, '2026-12-01')).toBeUndefined();
  });
});

/**
 * Professionals acting through their software (issue 16): an EHR calls with
 * the token of an identity provider that names the professional, as Pro
 * Santé Connect does (SubjectNameID, SubjectRole, given and family names).
 * The audit trail names them beside the software; only a doctor validates
 * a medical volet, whatever the software's roles.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuditEvent, Bundle, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, testPatient, type TestGateway } from './helpers.js';
import { as, consentOf, makeWorld, message, move, volet, type World } from './referral-world.js';

const HOSPITAL = 'https://finess.esante.gouv.fr|750000001';

let t: TestGateway;
let w: World;
let idp: http.Server;
let sign: (claims: Record<string, unknown>) => Promise<string>;

beforeAll(async () => {
  // A stand-in identity provider (Pro Santé Connect's claims), a real HTTP server publishing its keys.
  const pair = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'psc-1', alg: 'RS256', use: 'sig' };
  idp = http.createServer((_req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  const port = (idp.address() as AddressInfo).port;
  t = await startTestGateway({
    config: { externalIdp: { jwksUrl: `http://127.0.0.1:${port}/jwks`, issuer: 'https://psc.test', audience: 'aiguillage', rolesClaim: 'roles', organizationClaim: 'organization' } },
  });
  w = await makeWorld(t);
  sign = (claims) =>
    new SignJWT({ organization: HOSPITAL, ...claims }).setProtectedHeader({ alg: 'RS256', kid: 'psc-1' }).setIssuer('https://psc.test').setAudience('aiguillage').setSubject('ehr-chu').setExpirationTime('5m').sign(pair.privateKey);
});
afterAll(async () => {
  await t.close();
  idp.close();
});

const doctor = { SubjectNameID: '810101234567', SubjectRole: ['10^1.2.250.1.213.1.1.5.5'], given_name: 'Claire', family_name: 'MARTIN' };
const nurse = { SubjectNameID: '810107654321', SubjectRole: ['60^1.2.250.1.213.1.1.5.5'], given_name: 'Paul', family_name: 'DURAND' };

describe('a professional acting through the EHR', () => {
  it('a doctor validates the medical volet; a nurse, even with the prescriber role, saves it in progress only', async () => {
    const asDoctor = await sign({ roles: ['prescriber'], ...doctor });
    const asNurse = await sign({ roles: ['prescriber'], ...nurse });
    const patient = (await as(w, asDoctor).post('Patient', testPatient())).body;
    const subject = `Patient/${patient.id}`;
    const byNurse = await as(w, asNurse).post('QuestionnaireResponse', volet('medical', subject, 'completed'));
    expect(byNurse.status).toBe(403);
    expect(byNurse.body.issue[0].diagnostics).toBe('Only a doctor (profession 10, médecin) validates the medical volet; Paul DURAND acts as profession 60');
    const draft = (await as(w, asNurse).post('QuestionnaireResponse', volet('medical', subject, 'in-progress'))).body as QuestionnaireResponse;
    expect(draft.id).toBeDefined();
    const validated = await as(w, asDoctor).put(`QuestionnaireResponse/${draft.id}`, { ...draft, status: 'completed' });
    expect(validated.status).toBe(200);
    // A token naming a professional without a profession validates nothing.
    const unknown = await sign({ roles: ['prescriber'], SubjectNameID: '810100000000' });
    expect((await as(w, unknown).post('QuestionnaireResponse', volet('medical', subject, 'completed'))).status).toBe(403);

    // The audit trail names the doctor (national identifier, name, profession) beside the software.
    const events = (await as(w, w.admin).get(`AuditEvent?entity=QuestionnaireResponse/${draft.id}&action=U`)).body as Bundle<AuditEvent>;
    const agents = events.entry?.[0]?.resource?.agent ?? [];
    const human = agents.find((a) => a.type?.coding?.[0]?.code === 'humanuser');
    expect(human?.who).toEqual({ identifier: { system: 'urn:oid:1.2.250.1.71.4.2.1', value: '810101234567' }, display: 'Claire MARTIN' });
    expect(human?.role?.[0]?.coding?.[0]?.code).toBe('10');
    expect(agents.find((a) => a.type?.coding?.[0]?.code === 'dataprocessor')?.who?.identifier?.value).toBe('ehr-chu');
  });

  it('a person-facing portal makes Grand Âge requests for the person, the person’s doctor validating the medical volet through it', async () => {
    const PORTAL = 'https://finess.esante.gouv.fr|750000777';
    const portal = await t.tokenFor(['portal'], PORTAL);
    const doctorOnPortal = await sign({ roles: ['portal'], organization: PORTAL, ...doctor });
    const person = (await as(w, portal).post('Patient', testPatient({ birthDate: '1933-04-02' }))).body;
    const subject = `Patient/${person.id}`;
    // The portal writes the person's volets; it validates the medical one only when the doctor acts through it.
    expect((await as(w, portal).post('QuestionnaireResponse', volet('medical', subject, 'completed', 'EHPAD'))).status).toBe(403);
    const medical = (await as(w, portal).post('QuestionnaireResponse', volet('medical', subject, 'in-progress', 'EHPAD'))).body as QuestionnaireResponse;
    expect((await as(w, doctorOnPortal).put(`QuestionnaireResponse/${medical.id}`, { ...medical, status: 'completed' })).status).toBe(200);
    const cited = [{ reference: `QuestionnaireResponse/${medical.id}` }];
    for (const body of [volet('administrative', subject), volet('care', subject), consentOf(subject)]) {
      const res = await as(w, portal).post(body.resourceType, body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      cited.push({ reference: `${body.resourceType}/${res.body.id}` });
    }
    const request = (care: string) => ({
      resourceType: 'ServiceRequest',
      status: 'active',
      intent: 'order',
      category: [{ coding: [{ system: 'https://aiguillage.org/fhir/CodeSystem/care-wanted', code: care }] }],
      subject: { reference: subject },
      performer: ['smr', 'had', 'usp'].map((u) => ({ reference: `HealthcareService/${u}` })),
      supportingInfo: cited,
    });
    // Grand Âge only: EHPAD or USLD.
    const smr = await as(w, portal).post('ServiceRequest', request('SMR'));
    expect(smr.status).toBe(422);
    expect(smr.body.issue[0].diagnostics).toBe('A person-facing portal asks for EHPAD or USLD, not SMR');
    const sent = await as(w, portal).post('ServiceRequest', request('EHPAD'));
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    // Three establishments at once, the same answers and messaging as any request.
    const tasks = ((await as(w, portal).get(`Task?focus=ServiceRequest/${sent.body.id}`)).body as Bundle<Task>).entry?.map((e) => e.resource as Task) ?? [];
    expect(tasks).toHaveLength(3);
    const smrTask = tasks.find((x) => x.owner?.reference === 'HealthcareService/smr') as Task;
    const accepted = await move(w, w.unit.smr, smrTask, 'accepted');
    expect(accepted.status).toBe(200);
    expect((await as(w, portal).post('Communication', message(smrTask.id as string, 'Madame souhaite une visite'))).status).toBe(201);
    expect((await move(w, portal, accepted.body as Task, 'confirmed')).status).toBe(200);
    const after = ((await as(w, portal).get(`Task?focus=ServiceRequest/${sent.body.id}&business-status=cancelled`)).body as Bundle).entry ?? [];
    expect(after).toHaveLength(2);
    // It sees the requests it made, no one else's; another portal sees none of them.
    expect((await as(w, portal).get(`ServiceRequest?_id=${sent.body.id}`)).body.entry).toHaveLength(1);
    const other = await t.tokenFor(['portal'], 'https://finess.esante.gouv.fr|750000778');
    expect((await as(w, other).get(`ServiceRequest/${sent.body.id}`)).status).toBe(404);
    expect((await as(w, other).get(`Patient/${person.id}`)).status).toBe(404);
  });

  it('software without a professional is audited as before, and its roles alone decide', async () => {
    const patient = (await as(w, w.prescriber).post('Patient', testPatient())).body;
    const created = await as(w, w.prescriber).post('QuestionnaireResponse', volet('medical', `Patient/${patient.id}`, 'completed'));
    expect(created.status).toBe(201);
    const events = (await as(w, w.admin).get(`AuditEvent?entity=QuestionnaireResponse/${created.body.id}&action=C`)).body as Bundle<AuditEvent>;
    expect(events.entry?.[0]?.resource?.agent?.some((a) => a.type?.coding?.[0]?.code === 'humanuser')).toBe(false);
  });
});

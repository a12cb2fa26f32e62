/**
 * The gateway as a stranger meets it: two widely used FHIR clients, used as
 * their documentation says, against a gateway listening on a real port.
 * MedplumClient (@medplum/core) logs in with client credentials and does
 * CRUD, searches with paging, history and a transaction; fhir-kit-client
 * finds the token endpoint by SMART discovery, then does the same. Neither
 * is patched or told anything about the gateway beyond its base URL.
 */
import { MedplumClient } from '@medplum/core';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { Client, type FhirResource } from 'fhir-kit-client';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/auth/clients.js';
import { freePort, startTestGateway, testPatient, type TestGateway } from './helpers.js';

let gw: TestGateway;
let root: string;

beforeAll(async () => {
  const port = await freePort();
  root = `http://127.0.0.1:${port}`;
  gw = await startTestGateway({ config: { port, baseUrl: root } });
});
afterAll(async () => gw?.close());

/** A FHIR resource as fhir-kit-client types it. */
const kit = (resource: unknown): FhirResource => resource as FhirResource;
/** What fhir-kit-client answered, as the FHIR type it is. */
const as = <T>(answer: unknown): T => answer as T;

/** A client of the gateway, created as an operator would (CLI or /admin/clients). */
async function newClient(roles: Parameters<typeof createClient>[1]['roles'], organization?: string): Promise<{ client_id: string; client_secret: string }> {
  return createClient(gw.gateway.db, { name: 'third-party', roles, organization });
}

describe('MedplumClient (@medplum/core)', () => {
  it('logs in with client credentials and gets a token with the RFC 9068 claims and SMART system scopes', async () => {
    const { client_id, client_secret } = await newClient(['care-team'], 'https://finess.esante.gouv.fr|750000001');
    const medplum = new MedplumClient({ baseUrl: `${root}/`, fhirUrlPath: 'fhir', tokenUrl: `${root}/oauth2/token`, fetch });
    await medplum.startClientLogin(client_id, client_secret);
    const claims = decodeJwt(medplum.getAccessToken() as string);
    expect(claims).toMatchObject({ client_id, sub: client_id, iss: root, aud: `${root}/fhir` });
    for (const claim of ['iat', 'exp', 'jti', 'scope']) expect(claims[claim], claim).toBeDefined();
    expect(String(claims.scope).split(' ')).toContain('system/Patient.crus');
    expect(String(claims.scope)).not.toContain('AuditEvent');
  });

  it('creates, reads, updates, searches page by page, reads the history and posts a transaction', async () => {
    const { client_id, client_secret } = await newClient(['care-team'], 'https://finess.esante.gouv.fr|750000002');
    const medplum = new MedplumClient({ baseUrl: `${root}/`, fhirUrlPath: 'fhir', tokenUrl: `${root}/oauth2/token`, fetch });
    await medplum.startClientLogin(client_id, client_secret);
    const family = `Medplum${Date.now()}`;
    const created = await medplum.createResource<Patient>(testPatient({ name: [{ family, given: ['Ada'] }] }));
    expect(created.id).toBeTruthy();
    const read = await medplum.readResource('Patient', created.id as string);
    expect(read.name?.[0].family).toBe(family);
    const updated = await medplum.updateResource<Patient>({ ...read, name: [{ family, given: ['Ada', 'Lovelace'] }] });
    expect(updated.meta?.versionId).toBe('2');
    for (let i = 0; i < 4; i++) await medplum.createResource<Patient>(testPatient({ name: [{ family, given: [`N${i}`] }] }));
    // Paging: the client follows the `next` links the gateway writes.
    const seen: string[] = [];
    for await (const page of medplum.searchResourcePages('Patient', { family, _count: '2' })) seen.push(...page.map((p) => p.id as string));
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    const history = await medplum.readHistory('Patient', created.id as string);
    expect(history.entry?.map((e) => e.resource?.meta?.versionId)).toEqual(['2', '1']);
    const transaction = await medplum.executeBatch({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:6f0b3c0e-0d1e-4b8a-9b0f-1a2b3c4d5e6f', resource: testPatient({ name: [{ family, given: ['Tx'] }] }), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: `Patient/${created.id}` } },
      ],
    });
    expect(transaction.type).toBe('transaction-response');
    expect(transaction.entry?.map((e) => e.response?.status.slice(0, 3))).toEqual(['201', '200']);
  });

  it('logs in with a signed assertion (private_key_jwt, SMART Backend Services) and works the same', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES384');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES384', use: 'sig' };
    const { client_id } = await createClient(gw.gateway.db, { name: 'ehr-vendor', roles: ['care-team'], organization: 'https://finess.esante.gouv.fr|750000007', jwks: { keys: [jwk] } });
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES384', kid: 'k1', typ: 'JWT' })
      .setIssuer(client_id)
      .setSubject(client_id)
      .setAudience(`${root}/oauth2/token`)
      .setJti(crypto.randomUUID())
      .setExpirationTime('4m')
      .sign(privateKey);
    const medplum = new MedplumClient({ baseUrl: `${root}/`, fhirUrlPath: 'fhir', tokenUrl: `${root}/oauth2/token`, fetch });
    await medplum.startJwtAssertionLogin(assertion);
    expect(decodeJwt(medplum.getAccessToken() as string)).toMatchObject({ client_id, sub: client_id });
    const created = await medplum.createResource<Patient>(testPatient());
    expect((await medplum.readResource('Patient', created.id as string)).id).toBe(created.id);
    // The same assertion twice is a replay.
    await expect(new MedplumClient({ baseUrl: `${root}/`, fhirUrlPath: 'fhir', tokenUrl: `${root}/oauth2/token`, fetch }).startJwtAssertionLogin(assertion)).rejects.toThrow();
  });

  it('is refused, in OperationOutcome words it can show, what the roles or the scopes asked for do not allow', async () => {
    const { client_id, client_secret } = await newClient(['ror']);
    const medplum = new MedplumClient({ baseUrl: `${root}/`, fhirUrlPath: 'fhir', tokenUrl: `${root}/oauth2/token`, fetch });
    await medplum.startClientLogin(client_id, client_secret);
    await expect(medplum.createResource<Patient>(testPatient())).rejects.toThrow(/Role\(s\) ror may not write Patient/);
  });
});

describe('SMART Backend Services scopes', () => {
  async function token(form: Record<string, string>): Promise<{ status: number; body: Record<string, string> }> {
    const res = await fetch(`${root}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  }

  it('grants what was asked for within the roles, and the token does no more', async () => {
    const { client_id, client_secret } = await newClient(['care-team'], 'https://finess.esante.gouv.fr|750000004');
    const asked = await token({ grant_type: 'client_credentials', client_id, client_secret, scope: 'system/Patient.rs system/AuditEvent.rs' });
    expect(asked.status).toBe(200);
    expect(asked.body.scope).toBe('system/Patient.rs');
    const headers = { authorization: `Bearer ${asked.body.access_token}`, 'content-type': 'application/fhir+json' };
    expect((await fetch(`${root}/fhir/Patient?_count=1`, { headers })).status).toBe(200);
    const write = await fetch(`${root}/fhir/Patient`, { method: 'POST', headers, body: JSON.stringify(testPatient()) });
    expect(write.status).toBe(403);
    expect(((await write.json()) as { issue: { diagnostics: string }[] }).issue[0].diagnostics).toMatch(/scopes do not grant/);
    // v1 scopes are understood too.
    const v1 = await token({ grant_type: 'client_credentials', client_id, client_secret, scope: 'system/*.read' });
    expect(v1.body.scope.split(' ')).toContain('system/Patient.rs');
    expect(v1.body.scope).not.toMatch(/\.c|\.[^ ]*u/);
  });

  it('refuses a request whose scopes are none of the client’s with invalid_scope', async () => {
    const { client_id, client_secret } = await newClient(['receiver'], 'https://finess.esante.gouv.fr|750000005');
    const refused = await token({ grant_type: 'client_credentials', client_id, client_secret, scope: 'system/AuditEvent.rs' });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_scope');
  });
});

describe('fhir-kit-client', () => {
  it('finds the token endpoint by SMART discovery, at the FHIR base and in the CapabilityStatement', async () => {
    const fkc = new Client({ baseUrl: `${root}/fhir` });
    const auth = await fkc.smartAuthMetadata();
    expect(auth.tokenUrl?.toString()).toBe(`${root}/oauth2/token`);
    const wellKnown = (await (await fetch(`${root}/fhir/.well-known/smart-configuration`)).json()) as { token_endpoint: string; capabilities: string[] };
    expect(wellKnown.token_endpoint).toBe(`${root}/oauth2/token`);
    expect(wellKnown.capabilities).toContain('client-confidential-asymmetric');
  });

  it('logs in through the discovered endpoint, then creates, reads, searches with paging, reads history and posts a transaction', async () => {
    const { client_id, client_secret } = await newClient(['care-team'], 'https://finess.esante.gouv.fr|750000006');
    const discovered = await new Client({ baseUrl: `${root}/fhir` }).smartAuthMetadata();
    const res = await fetch(discovered.tokenUrl as URL, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/Patient.crus' }).toString(),
    });
    const { access_token } = (await res.json()) as { access_token: string };
    const fkc = new Client({ baseUrl: `${root}/fhir`, bearerToken: access_token });
    const family = `Kit${Date.now()}`;
    const created = as<Patient>(await fkc.create({ resourceType: 'Patient', body: kit(testPatient({ name: [{ family, given: ['Bo'] }] })) }));
    const read = as<Patient>(await fkc.read({ resourceType: 'Patient', id: created.id as string }));
    expect(read.name?.[0].family).toBe(family);
    await fkc.update({ resourceType: 'Patient', id: read.id as string, body: kit({ ...read, name: [{ family, given: ['Bo', 'Updated'] }] }) });
    for (let i = 0; i < 2; i++) await fkc.create({ resourceType: 'Patient', body: kit(testPatient({ name: [{ family, given: [`K${i}`] }] })) });
    let page = as<Bundle>(await fkc.search({ resourceType: 'Patient', searchParams: { family, _count: 2 } }));
    const ids = (page.entry ?? []).map((e) => e.resource?.id);
    while (page.link?.some((l) => l.relation === 'next')) {
      page = as<Bundle>(await fkc.nextPage({ bundle: as<Parameters<typeof fkc.nextPage>[0]['bundle']>(page) }));
      ids.push(...(page.entry ?? []).map((e) => e.resource?.id));
    }
    expect(new Set(ids).size).toBe(3);
    const history = as<Bundle>(await fkc.history({ resourceType: 'Patient', id: created.id as string }));
    expect(history.entry).toHaveLength(2);
    const tx = as<Bundle>(
      await fkc.transaction({
        body: kit({ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: testPatient({ name: [{ family, given: ['T'] }] }), request: { method: 'POST', url: 'Patient' } }] }),
      })
    );
    expect(tx.entry?.[0].response?.status).toMatch(/^201/);
  });
});

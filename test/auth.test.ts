/** OAuth2 client_credentials, bearer tokens (own and external IdP), 401/403, and per-organization isolation. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import supertest from 'supertest';
import type { Patient } from '@medplum/fhirtypes';
import { createClient } from '../src/auth/clients.js';
import { FHIR_JSON, startTestGateway, testPatient, type TestGateway } from './helpers.js';

const ORG_A = 'https://finess.esante.gouv.fr|750000001';
const ORG_B = 'https://finess.esante.gouv.fr|920000013';

let t: TestGateway;
let idp: http.Server;
let idpKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

beforeAll(async () => {
  // A stand-in external identity provider: a real HTTP server publishing its JWKS.
  const pair = await generateKeyPair('RS256', { extractable: true });
  idpKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
  idp = http.createServer((_req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  const port = (idp.address() as AddressInfo).port;
  t = await startTestGateway({
    config: {
      externalIdp: { jwksUrl: `http://127.0.0.1:${port}/jwks`, issuer: 'https://idp.test/realms/sante', audience: 'aiguillage', rolesClaim: 'realm_access.roles', organizationClaim: 'finess' },
    },
  });
});
afterAll(async () => {
  await t.close();
  idp.close();
});

describe('token endpoint', () => {
  it('issues a bearer token for form and HTTP Basic credentials, and refuses wrong ones', async () => {
    const client = await createClient(t.gateway.db, { name: 'ehr', roles: ['prescriber'], organization: ORG_A });
    const form = await t.http.post('/oauth2/token').type('form').send({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret });
    expect(form.status).toBe(200);
    expect(form.body).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    expect(form.headers['cache-control']).toBe('no-store');
    const basic = await t.http.post('/oauth2/token').auth(client.client_id, client.client_secret).type('form').send({ grant_type: 'client_credentials' });
    expect(basic.status).toBe(200);
    const wrong = await t.http.post('/oauth2/token').auth(client.client_id, `${client.client_secret}x`).type('form').send({ grant_type: 'client_credentials' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
    const grant = await t.http.post('/oauth2/token').auth(client.client_id, client.client_secret).type('form').send({ grant_type: 'password' });
    expect(grant.status).toBe(400);
    expect(grant.body.error).toBe('unsupported_grant_type');
    const json = await t.http.post('/oauth2/token').send({ grant_type: 'client_credentials' });
    expect(json.status).toBe(400);
  });

  it('stores only a hash of the secret', async () => {
    const client = await createClient(t.gateway.db, { name: 'hash-check', roles: ['receiver'] });
    const { rows } = await t.gateway.db.query<{ secret_hash: string }>('SELECT secret_hash FROM oauth_client WHERE id = $1', [client.client_id]);
    expect(rows[0].secret_hash).toMatch(/^scrypt\$/);
    expect(rows[0].secret_hash).not.toContain(client.client_secret);
  });

  it('publishes the SMART configuration and the public keys', async () => {
    const smart = await t.http.get('/.well-known/smart-configuration');
    expect(smart.body.token_endpoint).toBe('http://aiguillage.test/oauth2/token');
    expect(smart.body.grant_types_supported).toEqual(['client_credentials']);
    const jwks = await t.http.get('/.well-known/jwks.json');
    expect(jwks.body.keys[0]).toMatchObject({ kty: 'EC', alg: 'ES256' });
    expect(jwks.body.keys[0].d).toBeUndefined();
  });
});

describe('authentication and roles', () => {
  it('answers 401 without a token on patient data, and serves the directory publicly', async () => {
    const res = await t.http.get('/fhir/Patient');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('Bearer');
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect((await t.http.get('/fhir/Organization')).status).toBe(200);
    expect((await t.http.get('/fhir/metadata')).status).toBe(200);
    const write = await t.http.post('/fhir/Organization').set('Content-Type', FHIR_JSON).send(JSON.stringify({ resourceType: 'Organization', name: 'x' }));
    expect(write.status).toBe(401);
  });

  it('answers 403 when the role may not act on the type', async () => {
    const ror = await t.tokenFor(['ror']);
    const patient = await t.http.post('/fhir/Patient').set('Authorization', `Bearer ${ror}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(testPatient()));
    expect(patient.status).toBe(403);
    const prescriber = await t.tokenFor(['prescriber'], ORG_A);
    const org = await t.http.post('/fhir/Organization').set('Authorization', `Bearer ${prescriber}`).set('Content-Type', FHIR_JSON).send(JSON.stringify({ resourceType: 'Organization', name: 'x' }));
    expect(org.status).toBe(403);
    expect(org.body.issue[0].diagnostics).toContain('allowed: ror, admin');
  });

  it.each([
    ['garbage', 'not-a-jwt'],
    ['a malformed header', null],
  ])('answers 401 for %s', async (_label, token) => {
    const res = await t.http.get('/fhir/Organization').set('Authorization', token === null ? 'Basic abc' : `Bearer ${token}`);
    expect(res.status).toBe(401);
  });

  it('answers 401 for a token signed by another key, an expired one and one for another audience', async () => {
    const { rows } = await t.gateway.db.query<{ private_jwk: JWK }>('SELECT private_jwk FROM signing_key');
    const gatewayKey = await importJWK(rows[0].private_jwk, 'ES256');
    const other = (await generateKeyPair('ES256')).privateKey;
    // (a token must name a live client: one of the gateway's own, with the gateway's key, is the only valid one here)
    const client = await createClient(t.gateway.db, { name: 'signed-by-hand', roles: ['admin'] });
    const sign = (key: typeof other, claims: { exp?: number; aud?: string }) =>
      new SignJWT({ roles: ['admin'] })
        .setProtectedHeader({ alg: 'ES256', kid: rows[0].private_jwk.kid })
        .setIssuer('http://aiguillage.test')
        .setAudience(claims.aud ?? 'http://aiguillage.test/fhir')
        .setSubject(client.client_id)
        .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 60)
        .sign(key);
    const valid = await sign(gatewayKey as typeof other, {});
    expect((await t.http.get('/fhir/Patient').set('Authorization', `Bearer ${valid}`)).status).toBe(200);
    for (const token of [await sign(other, {}), await sign(gatewayKey as typeof other, { exp: Math.floor(Date.now() / 1000) - 10 }), await sign(gatewayKey as typeof other, { aud: 'someone-else' })]) {
      const res = await t.http.get('/fhir/Patient').set('Authorization', `Bearer ${token}`);
      expect(res.status).toBe(401);
    }
  });

  it('accepts tokens of the configured external identity provider, with its role and organization claims', async () => {
    const token = await new SignJWT({ realm_access: { roles: ['prescriber', 'offline_access'] }, finess: ORG_B })
      .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
      .setIssuer('https://idp.test/realms/sante')
      .setAudience('aiguillage')
      .setSubject('dr-house')
      .setExpirationTime('5m')
      .sign(idpKey);
    const created = await t.http.post('/fhir/Patient').set('Authorization', `Bearer ${token}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(testPatient()));
    expect(created.status).toBe(201);
    const { rows } = await t.gateway.db.query<{ owner_org: string }>('SELECT owner_org FROM patient WHERE id = $1', [created.body.id]);
    expect(rows[0].owner_org).toBe(ORG_B);
    const wrongIssuer = await new SignJWT({ realm_access: { roles: ['admin'] } })
      .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
      .setIssuer('https://evil.test')
      .setAudience('aiguillage')
      .setSubject('x')
      .setExpirationTime('5m')
      .sign(idpKey);
    expect((await t.http.get('/fhir/Patient').set('Authorization', `Bearer ${wrongIssuer}`)).status).toBe(401);
  });
});

describe('organization isolation', () => {
  it('hides another organization’s patients on every path, as if they did not exist', async () => {
    const tokenA = await t.tokenFor(['prescriber'], ORG_A);
    const tokenB = await t.tokenFor(['prescriber'], ORG_B);
    const admin = await t.tokenFor(['admin']);
    const patient = testPatient();
    const created = (await t.http.post('/fhir/Patient').set('Authorization', `Bearer ${tokenA}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(patient))).body as Patient;
    const as = (token: string, path: string) => supertest(t.gateway.server as http.Server).get(path).set('Authorization', `Bearer ${token}`);
    const ins = patient.identifier?.[0].value;
    expect((await as(tokenA, `/fhir/Patient/${created.id}`)).status).toBe(200);
    const missing = await as(tokenB, `/fhir/Patient/does-not-exist`);
    for (const path of [`/fhir/Patient/${created.id}`, `/fhir/Patient/${created.id}/_history/1`, `/fhir/Patient/${created.id}/_history`]) {
      const res = await as(tokenB, path);
      expect(res.status, path).toBe(404);
      expect(res.body.issue[0].code).toBe(missing.body.issue[0].code);
    }
    expect((await as(tokenB, `/fhir/Patient?identifier=${ins}`)).body.entry).toBeUndefined();
    expect(((await as(tokenB, `/fhir/Patient/_history?_count=500`)).body.entry ?? []).map((e: { resource: Patient }) => e.resource.id)).not.toContain(created.id);
    const update = await t.http.put(`/fhir/Patient/${created.id}`).set('Authorization', `Bearer ${tokenB}`).set('Content-Type', FHIR_JSON).send(JSON.stringify({ ...created, gender: 'male' }));
    expect(update.status).toBe(404);
    expect((await as(admin, `/fhir/Patient/${created.id}`)).status).toBe(200);
    expect((await as(tokenA, `/fhir/Patient/${created.id}`)).body.gender).toBe('female');
  });
});

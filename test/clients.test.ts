/**
 * The life of OAuth2 clients (issue 13): created, listed, deactivated,
 * reactivated, rotated and deleted by an admin over `/admin/clients`, secret
 * expiry, revocation of issued tokens within seconds, private_key_jwt clients
 * whose keys rotate the same way, and a token endpoint that answers an
 * unknown client as slowly as a known one.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticateClient, createClient } from '../src/auth/clients.js';
import { startTestGateway, waitFor, type TestGateway } from './helpers.js';

let t: TestGateway;
let admin: string;
const REVOCATION_MS = 500;

const token = (id: string, secret: string) => t.http.post('/oauth2/token').type('form').send({ grant_type: 'client_credentials', client_id: id, client_secret: secret });
const api = (method: 'get' | 'post' | 'delete', path: string, body?: object, as = admin) => {
  const r = t.http[method](`/admin/clients${path}`).set('Authorization', `Bearer ${as}`);
  return body ? r.set('Content-Type', 'application/json').send(JSON.stringify(body)) : r;
};
const read = (bearer: string) => t.http.get('/fhir/Patient?_count=1').set('Authorization', `Bearer ${bearer}`);

beforeAll(async () => {
  t = await startTestGateway({ config: { revocationCheckMs: REVOCATION_MS } });
  admin = await t.tokenFor(['admin']);
});
afterAll(() => t?.close());

describe('client lifecycle over the API', () => {
  it('creates, lists, deactivates (tokens refused within seconds), reactivates, rotates and deletes a client, each an AuditEvent', async () => {
    const created = await api('post', '', { client_name: 'DPI CHU', roles: ['prescriber'], organization: 'https://finess.esante.gouv.fr|750000001' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ client_name: 'DPI CHU', roles: ['prescriber'], active: true, token_endpoint_auth_method: 'client_secret_basic', client_secret_expires_at: 0 });
    const { client_id: id, client_secret: secret } = created.body as { client_id: string; client_secret: string };
    expect((await api('get', '')).body.clients.map((c: { client_id: string }) => c.client_id)).toContain(id);
    expect((await api('get', `/${id}`)).body.client_secret).toBeUndefined();

    const first = (await token(id, secret)).body.access_token as string;
    expect((await read(first)).status).toBe(200);
    expect((await api('post', `/${id}/deactivate`)).body.active).toBe(false);
    await waitFor('the deactivated client’s token refused', async () => (await read(first)).status === 401, 5_000);
    expect((await token(id, secret)).status).toBe(401);

    expect((await api('post', `/${id}/activate`)).body.active).toBe(true);
    expect((await read(first)).status).toBe(401); // revoked by the deactivation, for good
    const second = (await token(id, secret)).body.access_token as string;
    await waitFor('the reactivated client’s new token accepted', async () => (await read(second)).status === 200, 5_000);

    // Rotation: the old secret and the tokens issued with it stop working, the new secret works.
    await new Promise((r) => setTimeout(r, 1_000)); // tokens are dated to the second
    const rotated = await api('post', `/${id}/rotate`);
    expect(rotated.status).toBe(200);
    const newSecret = rotated.body.client_secret as string;
    expect(newSecret).not.toBe(secret);
    expect((await token(id, secret)).status).toBe(401);
    await waitFor('the token issued before the rotation refused', async () => (await read(second)).status === 401, 5_000);
    const third = (await token(id, newSecret)).body.access_token as string;
    expect((await read(third)).status).toBe(200);

    expect((await api('delete', `/${id}`)).status).toBe(204);
    expect((await api('get', `/${id}`)).status).toBe(404);
    expect((await token(id, newSecret)).status).toBe(401);
    await waitFor('the deleted client’s token refused', async () => (await read(third)).status === 401, 5_000);

    const events = await t.http.get('/fhir/AuditEvent?subtype=client-create,client-deactivate,client-activate,client-rotate,client-delete&_count=50').set('Authorization', `Bearer ${admin}`);
    const mine = (events.body.entry ?? []).map((e: { resource: { subtype: { code: string }[]; outcomeDesc: string } }) => e.resource).filter((e: { outcomeDesc: string }) => e.outcomeDesc.includes(id));
    expect(mine.map((e: { subtype: { code: string }[] }) => e.subtype[0].code).sort()).toEqual(['client-activate', 'client-create', 'client-deactivate', 'client-delete', 'client-rotate']);
  });

  it('refuses bad input with an OperationOutcome, and non-admins with 403', async () => {
    for (const body of [{ roles: ['prescriber'] }, { client_name: 'x', roles: ['superuser'] }, { client_name: 'x', roles: ['ror'], organization: 'nope' }, { client_name: 'x', roles: ['ror'], client_secret_expires_in: -5 }]) {
      const res = await api('post', '', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
    const prescriber = await t.tokenFor(['prescriber'], 'https://finess.esante.gouv.fr|750000001');
    expect((await api('get', '', undefined, prescriber)).status).toBe(403);
    expect((await t.http.get('/admin/clients')).status).toBe(401);
    expect((await api('post', `/${randomUUID()}/deactivate`)).status).toBe(404);
  });

  it('refuses a secret past its expiry date', async () => {
    const created = await api('post', '', { client_name: 'short-lived', roles: ['ror'], client_secret_expires_in: 3 });
    expect(created.body.client_secret_expires_at).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 2);
    expect((await token(created.body.client_id, created.body.client_secret)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3_100));
    expect((await token(created.body.client_id, created.body.client_secret)).status).toBe(401);
  });
});

describe('private_key_jwt clients', () => {
  async function keyPair(kid: string): Promise<{ privateKey: PrivateKey; jwk: JWK }> {
    const pair = await generateKeyPair('ES384', { extractable: true });
    return { privateKey: pair.privateKey as PrivateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES384', use: 'sig' } };
  }
  const assertion = (clientId: string, key: { privateKey: PrivateKey; jwk: JWK }, jti = randomUUID(), audience = 'http://aiguillage.test/oauth2/token') =>
    new SignJWT({}).setProtectedHeader({ alg: 'ES384', kid: key.jwk.kid, typ: 'JWT' }).setIssuer(clientId).setSubject(clientId).setAudience(audience).setJti(jti).setExpirationTime('4m').sign(key.privateKey);
  const withAssertion = (jwt: string) => t.http.post('/oauth2/token').type('form').send({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt });

  it('authenticates with a signed assertion, once per jti, and its keys rotate like a secret', async () => {
    const first = await keyPair('k1');
    const created = await api('post', '', { client_name: 'EHR vendor', roles: ['prescriber'], jwks: { keys: [first.jwk] } });
    expect(created.status).toBe(201);
    expect(created.body.client_secret).toBeUndefined();
    expect(created.body.token_endpoint_auth_method).toBe('private_key_jwt');
    const id = created.body.client_id as string;
    const jti = randomUUID();
    const ok = await withAssertion(await assertion(id, first, jti));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect((await withAssertion(await assertion(id, first, jti))).status).toBe(401); // replayed
    expect((await withAssertion(await assertion(id, first, randomUUID(), 'https://elsewhere/token'))).status).toBe(401);
    const stranger = await keyPair('k1');
    expect((await withAssertion(await assertion(id, stranger))).status).toBe(401);
    // A private key is not registered.
    expect((await api('post', '', { client_name: 'oops', roles: ['ror'], jwks: { keys: [await exportJWK((await generateKeyPair('ES384', { extractable: true })).privateKey)] } })).status).toBe(400);

    await new Promise((r) => setTimeout(r, 1_000));
    const second = await keyPair('k2');
    expect((await api('post', `/${id}/rotate`, { jwks: { keys: [second.jwk] } })).status).toBe(200);
    expect((await withAssertion(await assertion(id, first))).status).toBe(401);
    await waitFor('the token of the old key refused', async () => (await read(ok.body.access_token)).status === 401, 5_000);
    expect((await withAssertion(await assertion(id, second))).status).toBe(200);
  });
});

describe('token endpoint timing', () => {
  it('takes as long for an unknown client id as for a known one with a wrong secret', async () => {
    const known = await createClient(t.gateway.db, { name: 'timing', roles: ['ror'] });
    const time = async (id: string): Promise<number> => {
      const start = performance.now();
      expect(await authenticateClient(t.gateway.db, id, 'wrong-secret')).toBeUndefined();
      return performance.now() - start;
    };
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 12; i++) {
      unknown.push(await time(randomUUID()));
      wrong.push(await time(known.client_id));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    // Both pay one scrypt (tens of ms); before, an unknown id answered about 15 times faster.
    const ratio = median(unknown) / median(wrong);
    expect(ratio, `unknown ${median(unknown).toFixed(1)} ms, known ${median(wrong).toFixed(1)} ms`).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });
});

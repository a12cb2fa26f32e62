/**
 * Hostile input, part 3: tokens. Forged bearer tokens (alg none, HS256 keyed
 * with the public key, foreign keys, embedded keys, random or reused
 * signatures), expired ones and ones for another issuer or audience, and
 * malformed Authorization headers: 401 with an OperationOutcome and
 * `WWW-Authenticate: Bearer`, on every kind of route. At the token endpoint:
 * wrong, rotated, deactivated and deleted client secrets, malformed HTTP Basic
 * credentials and malformed OAuth2 requests: the RFC 6749 error JSON the
 * endpoint uses (400 invalid_request / unsupported_grant_type, 401
 * invalid_client), never a token. Nothing is stored.
 */
import { createPrivateKey, createPublicKey, randomBytes, randomUUID, sign } from 'node:crypto';
import fc from 'fast-check';
import { CompactSign, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, hashSecret } from '../src/auth/clients.js';
import { describeRequest, expectOAuthError, expectOutcome, hostileWorld, inParallel, SEED, type Answer, type HostileWorld, type RawRequest } from './hostile-kit.js';

const ISSUER = 'http://aiguillage.test';
const AUDIENCE = 'http://aiguillage.test/fhir';

let h: HostileWorld;
let gatewayKey: Awaited<ReturnType<typeof importJWK>>;
let privateJwk: JWK;
let kid: string;
let publicJwk: JWK;
/** An admin client the forged tokens name (a token of no client is refused for that alone). */
let adminClient: string;

beforeAll(async () => {
  h = await hostileWorld();
  adminClient = (await createClient(h.t.gateway.db, { name: 'forged-admin', roles: ['admin'] })).client_id;
  const { rows } = await h.t.gateway.db.query<{ kid: string; private_jwk: JWK; public_jwk: JWK }>('SELECT kid, private_jwk, public_jwk FROM signing_key');
  kid = rows[0].kid;
  publicJwk = rows[0].public_jwk;
  privateJwk = rows[0].private_jwk;
  gatewayKey = await importJWK(rows[0].private_jwk, 'ES256');
}, 120_000);

afterAll(async () => {
  console.log(`hostile-tokens.test.ts: ${h?.client.sent ?? 0} hostile requests sent`);
  await h?.close();
});

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Claims of a token the gateway would issue to an admin. */
function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { roles: ['admin'], scope: 'system/*.*', iss: ISSUER, aud: AUDIENCE, sub: adminClient, jti: randomUUID(), iat: now, exp: now + 300, ...extra };
}

/** A token signed with the gateway's own key (valid unless `extra` breaks it). */
function signed(extra: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const payload = Object.fromEntries(Object.entries(claims(extra)).filter(([, v]) => v !== undefined));
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT', ...header }).sign(gatewayKey);
}

/** A token signed with the gateway's key over any header at all (jose refuses to sign some). */
function rawSigned(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = sign('sha256', Buffer.from(input), { key: createPrivateKey({ key: privateJwk as never, format: 'jwk' }), dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

/** Routes a bad token must be refused on: patient data, the public directory, writes, the dashboard, an import, metadata. */
function routes(token: string): RawRequest[] {
  const auth = { Authorization: `Bearer ${token}` };
  return [
    { method: 'GET', path: '/fhir/Patient', headers: auth },
    { method: 'GET', path: '/fhir/Organization', headers: auth },
    { method: 'GET', path: '/fhir/metadata', headers: auth },
    { method: 'POST', path: '/fhir/Patient', headers: { ...auth, 'Content-Type': 'application/fhir+json' }, body: JSON.stringify(h.valid.Patient) },
    { method: 'POST', path: '/fhir', headers: { ...auth, 'Content-Type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [] }) },
    { method: 'GET', path: '/dashboard/tasks', headers: auth },
    { method: 'POST', path: '/fhir/$import-decisions', headers: { ...auth, 'Content-Type': 'text/csv', Prefer: 'respond-async' }, body: 'numero_individu;date_naissance\n' },
  ];
}

function expectUnauthorized(res: Answer, what: string): void {
  expectOutcome(res, what, [401]);
  expect(res.headers['www-authenticate'], what).toMatch(/^Bearer /);
}

describe('forged and stale bearer tokens', () => {
  it('refuses forged, expired and misdirected tokens with 401 on every kind of route', async () => {
    const valid = await signed();
    const [header, payload, signature] = valid.split('.');
    const other = await generateKeyPair('ES256');
    const rsa = await generateKeyPair('RS256');
    const otherJwk = await exportJWK(other.publicKey);
    const publicPem = createPublicKey({ key: publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    const hs256 = async (secret: string | Uint8Array): Promise<string> => new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid, typ: 'JWT' }).sign(typeof secret === 'string' ? new TextEncoder().encode(secret) : secret);
    const now = Math.floor(Date.now() / 1000);
    const forged: [string, string][] = [
      ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`],
      ['alg None', `${b64({ alg: 'None', typ: 'JWT', kid })}.${payload}.`],
      ['alg none with the real signature', `${b64({ alg: 'none', kid })}.${payload}.${signature}`],
      ['HS256 keyed with the public JWK', await hs256(JSON.stringify(publicJwk))],
      ['HS256 keyed with the public PEM', await hs256(publicPem)],
      ['HS256 keyed with the x coordinate', await hs256(Buffer.from(publicJwk.x as string, 'base64url'))],
      ['HS256 keyed with "secret"', await hs256('secret')],
      ['ES256 by another key, with the gateway kid', await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', kid }).sign(other.privateKey)],
      ['RS256 by another key', await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid }).sign(rsa.privateKey)],
      ['an embedded key (jwk header)', await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', jwk: otherJwk }).sign(other.privateKey)],
      ['a key URL (jku header)', await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', kid: 'evil', jku: 'http://127.0.0.1:9/jwks.json' }).sign(other.privateKey)],
      ['an unknown kid', await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', kid: 'nope' }).sign(other.privateKey)],
      ['a random signature', `${header}.${payload}.${randomBytes(64).toString('base64url')}`],
      ['an empty signature', `${header}.${payload}.`],
      ['a signature of another token', `${header}.${b64(claims({ roles: ['admin'], sub: 'mallory' }))}.${signature}`],
      ['a payload raised to admin of every organization', `${header}.${b64({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), organization: 'Organization/chu', roles: ['admin', 'ror'] })}.${signature}`],
      ['a truncated token', valid.slice(0, -10)],
      ['four segments', `${valid}.${signature}`],
      ['two segments', `${header}.${payload}`],
      ['a critical header the gateway does not know', rawSigned({ alg: 'ES256', kid, crit: ['x-evil'], 'x-evil': true }, claims())],
      ['a well-signed token with alg none in its header', rawSigned({ alg: 'none', kid }, claims())],
      ['a well-signed token whose header names HS256', rawSigned({ alg: 'HS256', kid }, claims())],
      ['an expired token', await signed({ iat: now - 3_600, exp: now - 60 })],
      ['a token not valid yet', await signed({ nbf: now + 3_600 })],
      ['another issuer', await signed({ iss: 'https://evil.example' })],
      ['no issuer', await signed({ iss: undefined })],
      ['another audience', await signed({ aud: 'https://other.example/fhir' })],
      ['audiences without ours', await signed({ aud: ['https://other.example/fhir', 'aiguillage'] })],
      ['no expiry', await signed({ exp: undefined })],
      ['an expiry as text', await signed({ exp: String(now + 300) })],
      ['no subject', await signed({ sub: undefined })],
      ['a payload that is not JSON', `${header}.${b64('not json')}.${signature}`],
      ['a header that is not JSON', `${b64('{"alg":')}.${payload}.${signature}`],
      // The same signature bytes, padded: jose would decode them (and so accept the token whenever the base64 had no '+' or '/').
      ['a padded signature', `${header}.${payload}.${signature}==`],
      ['a signature in base64 (not base64url)', `${header}.${payload}.${Buffer.from(signature, 'base64url').toString('base64')}`],
      ['compact JWS of a non-JWT payload', await new CompactSign(new TextEncoder().encode('hello')).setProtectedHeader({ alg: 'ES256', kid }).sign(gatewayKey)],
    ];
    await h.unchanged(async () => {
      const requests: [RawRequest, string][] = forged.flatMap(([label, token]) => routes(token).map((r): [RawRequest, string] => [r, `${label}: ${describeRequest(r)}`]));
      await inParallel(requests, 4, async ([request, what]) => expectUnauthorized(await h.client.send(request), what));
    });
    // The same key and claims, untouched, are accepted (by jose and by hand): the refusals above are the forgeries'.
    expect((await h.client.send({ method: 'GET', path: '/fhir/Patient', headers: { Authorization: `Bearer ${valid}` } })).status).toBe(200);
    expect((await h.client.send({ method: 'GET', path: '/fhir/Patient', headers: { Authorization: `Bearer ${rawSigned({ alg: 'ES256', kid }, claims())}` } })).status).toBe(200);
  });

  it('refuses malformed Authorization headers with 401', async () => {
    const valid = await signed();
    const headers = [
      'Bearer',
      'Bearer ',
      'bearer',
      'Bearer  ',
      `Bearer ${valid} ${valid}`,
      `Bearer ${valid},${valid}`,
      `Bearer\t${valid}x`,
      `Basic ${Buffer.from('a:b').toString('base64')}`,
      'Basic',
      `Digest username="admin"`,
      `Token ${valid}`,
      `JWT ${valid}`,
      `Bearer ${'a'.repeat(8_000)}`,
      'Bearer a.b',
      'Bearer ....',
      'Bearer ==',
      'Bearer é',
      'Bearer \u00ff\u00fe',
      `Bearer "${valid}"`,
      `Bearer ${valid};`,
      `Bearer${valid}`,
      ',',
      'null',
      'undefined',
      "Bearer ' OR '1'='1",
    ];
    await h.unchanged(async () => {
      const requests: [RawRequest, string][] = [];
      for (const value of headers) {
        for (const path of ['/fhir/Patient', '/fhir/Organization', '/dashboard/tasks']) requests.push([{ method: 'GET', path, headers: { Authorization: value } }, `Authorization ${JSON.stringify(value.slice(0, 80))} on ${path}`]);
      }
      await inParallel(requests, 4, async ([request, what]) => expectUnauthorized(await h.client.send(request), what));
    });
  });

  it('refuses random Authorization headers and random JWT-shaped tokens with 401', async () => {
    const headerChar = fc.oneof(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }), fc.constantFrom('\t', 'é', '\u00ff', '.', '=', '-', '_'));
    const jwtShaped = fc
      .tuple(fc.jsonValue({ maxDepth: 2 }), fc.jsonValue({ maxDepth: 2 }), fc.uint8Array({ maxLength: 80 }), fc.constantFrom('ES256', 'none', 'HS256', 'RS256', 'PS256', 'EdDSA', ''))
      .map(([h1, p, sig, alg]) => `Bearer ${b64(h1 && typeof h1 === 'object' && !Array.isArray(h1) ? { ...h1, alg, kid } : h1)}.${b64(p)}.${Buffer.from(sig).toString('base64url')}`);
    await h.unchanged(async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.string({ unit: headerChar, minLength: 1, maxLength: 60 }).map((s) => `Bearer ${s}`), fc.string({ unit: headerChar, minLength: 1, maxLength: 60 }), jwtShaped), async (value) => {
          if (value.trim() === '') return; // no credentials at all is anonymous, not a bad token
          const request: RawRequest = { method: 'GET', path: '/fhir/Patient', headers: { Authorization: value } };
          expectUnauthorized(await h.client.send(request), `Authorization ${JSON.stringify(value)}`);
        }),
        { seed: SEED, numRuns: 300 }
      );
    });
  });
});

describe('the token endpoint', () => {
  function tokenRequest(form: string | undefined, headers: Record<string, string | undefined> = { 'Content-Type': 'application/x-www-form-urlencoded' }): RawRequest {
    return { method: 'POST', path: '/oauth2/token', headers, body: form };
  }
  const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();
  const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

  it('refuses wrong, rotated, deactivated and deleted client secrets with 401 invalid_client', async () => {
    const db = h.t.gateway.db;
    const rotated = await createClient(db, { name: 'rotated', roles: ['prescriber'], organization: 'Organization/chu' });
    const deactivated = await createClient(db, { name: 'deactivated', roles: ['admin'] });
    const deleted = await createClient(db, { name: 'deleted', roles: ['admin'] });
    const wrong = await createClient(db, { name: 'wrong', roles: ['admin'] });
    const newSecret = randomBytes(32).toString('base64url');
    await db.query('UPDATE oauth_client SET secret_hash = $2 WHERE id = $1', [rotated.client_id, await hashSecret(newSecret)]);
    await db.query('UPDATE oauth_client SET active = false WHERE id = $1', [deactivated.client_id]);
    await db.query('DELETE FROM oauth_client WHERE id = $1', [deleted.client_id]);
    const cases: [string, string, string][] = [
      ['a secret replayed after rotation', rotated.client_id, rotated.client_secret],
      ['the secret of a deactivated client', deactivated.client_id, deactivated.client_secret],
      ['the secret of a deleted client', deleted.client_id, deleted.client_secret],
      ['a wrong secret', wrong.client_id, `${wrong.client_secret}x`],
      ['a truncated secret', wrong.client_id, wrong.client_secret.slice(0, -1)],
      ['an empty-looking secret', wrong.client_id, ' '],
      ['another client’s secret', wrong.client_id, rotated.client_secret],
      ['a secret with a NUL', wrong.client_id, `${wrong.client_secret}\u0000`],
      ['an unknown client', randomUUID(), wrong.client_secret],
      ['a client id with SQL', "x' OR '1'='1", wrong.client_secret],
      ['a client id in capitals', wrong.client_id.toUpperCase(), wrong.client_secret],
      ['a long client id', 'x'.repeat(2_000), 'y'],
    ];
    await h.unchanged(async () => {
      for (const [label, id, secret] of cases) {
        expectOAuthError(await h.client.send(tokenRequest(form({ grant_type: 'client_credentials', client_id: id, client_secret: secret }))), `${label} (form)`, 401, 'invalid_client');
        expectOAuthError(await h.client.send(tokenRequest(form({ grant_type: 'client_credentials' }), { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(id, secret) })), `${label} (Basic)`, 401, 'invalid_client');
      }
    });
    // The rotated client's new secret works: the refusal above is the old secret's.
    const fresh = await h.t.http.post('/oauth2/token').type('form').send({ grant_type: 'client_credentials', client_id: rotated.client_id, client_secret: newSecret });
    expect(fresh.status).toBe(200);
  });

  it('refuses malformed OAuth2 requests with 400 (or 401 for client authentication), as RFC 6749 says', async () => {
    const client = await createClient(h.t.gateway.db, { name: 'malformed', roles: ['admin'] });
    const good = { grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret };
    const type = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const cases: [string, RawRequest, 400 | 401, string?][] = [
      ['JSON', tokenRequest(JSON.stringify(good), { 'Content-Type': 'application/json' }), 400, 'invalid_request'],
      ['no content type', tokenRequest(form(good), {}), 400, 'invalid_request'],
      ['multipart', tokenRequest(form(good), { 'Content-Type': 'multipart/form-data; boundary=x' }), 400, 'invalid_request'],
      ['no body', tokenRequest(undefined, type), 400, 'unsupported_grant_type'],
      ['no grant type', tokenRequest(form({ client_id: client.client_id, client_secret: client.client_secret }), type), 400, 'unsupported_grant_type'],
      ['grant type password', tokenRequest(form({ ...good, grant_type: 'password', username: 'admin', password: 'admin' }), type), 400, 'unsupported_grant_type'],
      ['grant type authorization_code', tokenRequest(form({ ...good, grant_type: 'authorization_code', code: 'x' }), type), 400, 'unsupported_grant_type'],
      ['grant type in capitals', tokenRequest(form({ ...good, grant_type: 'CLIENT_CREDENTIALS' }), type), 400, 'unsupported_grant_type'],
      ['an empty grant type', tokenRequest(form({ ...good, grant_type: '' }), type), 400, 'unsupported_grant_type'],
      ['a body over 4 KiB', tokenRequest(form({ ...good, padding: 'x'.repeat(5_000) }), type), 400, 'invalid_request'],
      ['no credentials', tokenRequest(form({ grant_type: 'client_credentials' }), type), 401, 'invalid_client'],
      ['Basic without a colon', tokenRequest(form({ grant_type: 'client_credentials' }), { ...type, Authorization: `Basic ${Buffer.from(client.client_id).toString('base64')}` }), 401, 'invalid_client'],
      ['Basic of bad base64', tokenRequest(form({ grant_type: 'client_credentials' }), { ...type, Authorization: 'Basic !!!' }), 401, 'invalid_client'],
      ['Basic with bad percent-encoding', tokenRequest(form({ grant_type: 'client_credentials' }), { ...type, Authorization: `Basic ${Buffer.from('%E0%A4%A:%').toString('base64')}` }), 401, 'invalid_client'],
      ['Basic with a bad id and a good form', tokenRequest(form(good), { ...type, Authorization: `Basic ${Buffer.from('%:%').toString('base64')}` }), 401, 'invalid_client'],
      ['Basic of another client', tokenRequest(form(good), { ...type, Authorization: basic(randomUUID(), 'x') }), 401, 'invalid_client'],
    ];
    await h.unchanged(async () => {
      for (const [label, request, status, error] of cases) expectOAuthError(await h.client.send(request), label, status, error);
      const res = await h.client.send({ method: 'GET', path: '/oauth2/token' });
      expectOutcome(res, 'GET /oauth2/token', [404, 405]);
    });
  });

  it('refuses random form bodies with an OAuth2 error', async () => {
    await h.unchanged(async () => {
      const field = fc.oneof(fc.constantFrom('grant_type', 'client_id', 'client_secret', 'scope', 'audience'), fc.string({ unit: 'binary', maxLength: 10 }));
      const value = fc.oneof(fc.constantFrom('client_credentials', randomUUID(), ''), fc.string({ unit: 'binary', maxLength: 40 }));
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(field, value), { maxLength: 5 }), fc.boolean(), async (fields, raw) => {
          const body = raw ? fields.map(([k, v]) => `${k}=${v}`).join('&') : new URLSearchParams(fields).toString();
          const res = await h.client.send(tokenRequest(body));
          expect([400, 401], `${JSON.stringify(body)} → ${res.status} ${res.text}`).toContain(res.status);
          expectOAuthError(res, JSON.stringify(body), res.status as 400 | 401);
        }),
        { seed: SEED, numRuns: 300 }
      );
    });
  });
});

/**
 * OAuth2 for machine clients: `POST /oauth2/token` (client_credentials, with
 * the credentials in the form or in HTTP Basic), the SMART configuration and
 * the gateway's public keys. Errors follow RFC 6749 (`{"error": …}`), which is
 * what OAuth client libraries read.
 */
import { Hono, type Context } from 'hono';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { assertionClient, authenticateClient, useAssertion, type Client } from '../auth/clients.js';
import type { TokenService } from '../auth/tokens.js';
import type { Database } from '../store/db.js';
import { grantScopes } from '../core/scopes.js';
import { allScopes, roleScopes } from '../domain/scopes.js';

function oauthError(c: Context, status: 400 | 401, error: string, description: string): Response {
  const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
  if (status === 401) headers['WWW-Authenticate'] = 'Basic realm="aiguillage"';
  return c.json({ error, error_description: description }, status, headers);
}

function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
  } catch {
    // Bad percent-encoding: credentials that authenticate no one (not a fall-back to the form's).
    return { id: '', secret: '' };
  }
}

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Algorithms of the client assertions accepted (SMART Backend Services asks for RS384 and ES384; the others are as strong). */
const ASSERTION_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];
/** Longest life of a client assertion (SMART: `exp` no more than five minutes ahead). */
const ASSERTION_MAX_SECONDS = 300;

/**
 * Checks a private_key_jwt client assertion (RFC 7523, SMART Backend
 * Services): signed by one of the client's registered keys, issued by and
 * about the client, for this token endpoint, short-lived, used once. Returns
 * the client, or why it is refused.
 */
async function checkAssertion(db: Database, assertion: string, formClientId: string | null, tokenEndpoint: string): Promise<Client | string> {
  let claimed: string | undefined;
  try {
    claimed = decodeJwt(assertion).sub;
  } catch {
    return 'client_assertion is not a JWT';
  }
  if (!claimed || (formClientId !== null && formClientId !== claimed)) return 'client_assertion names no client, or another than client_id';
  const client = await assertionClient(db, claimed);
  if (!client?.jwks) return 'Unknown client, or one without registered keys';
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, createLocalJWKSet(client.jwks), {
      issuer: client.id,
      subject: client.id,
      audience: tokenEndpoint,
      algorithms: ASSERTION_ALGORITHMS,
      requiredClaims: ['exp', 'jti'],
    }));
  } catch (err) {
    return `client_assertion refused: ${(err as Error).message}`;
  }
  const now = Date.now() / 1000;
  if ((payload.exp as number) > now + ASSERTION_MAX_SECONDS) return `client_assertion lives too long: exp is at most ${ASSERTION_MAX_SECONDS} s ahead`;
  if (!(await useAssertion(db, payload.jti as string, client.id, new Date((payload.exp as number) * 1000)))) return 'client_assertion was already used (its jti)';
  return client;
}

/** The OAuth2 and discovery routes. */
export function authRoutes(options: { db: Database; tokens: TokenService; baseUrl: string }): Hono {
  const app = new Hono();

  app.post('/oauth2/token', async function tokenEndpoint(c) {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/x-www-form-urlencoded/i.test(type)) return oauthError(c, 400, 'invalid_request', 'Send the parameters as application/x-www-form-urlencoded');
    const text = await c.req.text();
    if (text.length > 4096) return oauthError(c, 400, 'invalid_request', 'The request is too large');
    const form = new URLSearchParams(text);
    if (form.get('grant_type') !== 'client_credentials') return oauthError(c, 400, 'unsupported_grant_type', 'Only grant_type=client_credentials is supported');
    const basic = basicCredentials(c.req.header('authorization'));
    const assertionType = form.get('client_assertion_type');
    const assertion = form.get('client_assertion');
    let client: Client | undefined;
    if (assertionType !== null || assertion !== null) {
      if (assertionType !== JWT_BEARER || !assertion) return oauthError(c, 400, 'invalid_request', `client_assertion_type is ${JWT_BEARER}, with a client_assertion`);
      if (basic || form.has('client_secret')) return oauthError(c, 400, 'invalid_request', 'Use one client authentication method, not two');
      const checked = await checkAssertion(options.db, assertion, form.get('client_id'), `${options.baseUrl}/oauth2/token`);
      if (typeof checked === 'string') return oauthError(c, 401, 'invalid_client', checked);
      client = checked;
    } else {
      const id = basic?.id ?? form.get('client_id') ?? '';
      const secret = basic?.secret ?? form.get('client_secret') ?? '';
      if (!id || !secret) return oauthError(c, 401, 'invalid_client', 'Client authentication is required (HTTP Basic, client_id/client_secret, or a private_key_jwt client_assertion)');
      client = await authenticateClient(options.db, id, secret);
      if (!client) return oauthError(c, 401, 'invalid_client', 'Unknown client, wrong or expired secret');
    }
    // SMART Backend Services: the client asks for scopes (all its roles allow, when it names none) and gets what its roles allow of them.
    const scope = grantScopes(form.get('scope') ?? undefined, roleScopes(client.roles)).join(' ');
    if (!scope) return oauthError(c, 400, 'invalid_scope', `None of the scopes asked for is allowed to this client; it may have: ${grantScopes(undefined, roleScopes(client.roles)).join(' ')}`);
    const token = await options.tokens.issue(client, scope);
    return c.json({ ...token, token_type: 'Bearer', scope }, 200, { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  });

  // SMART discovery, at the server's root and at the FHIR base (where SMART clients look for it).
  const smartConfiguration = {
    issuer: options.baseUrl,
    jwks_uri: `${options.baseUrl}/.well-known/jwks.json`,
    token_endpoint: `${options.baseUrl}/oauth2/token`,
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    grant_types_supported: ['client_credentials'],
    scopes_supported: allScopes(),
    capabilities: ['client-confidential-symmetric', 'client-confidential-asymmetric', 'permission-v2', 'permission-v1'],
  };
  for (const path of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration']) app.get(path, (c) => c.json(smartConfiguration));

  app.get('/.well-known/jwks.json', (c) => c.json(options.tokens.publicKeys()));
  return app;
}

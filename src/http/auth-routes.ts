/**
 * OAuth2 for machine clients: `POST /oauth2/token` (client_credentials, with
 * the credentials in the form or in HTTP Basic), the SMART configuration and
 * the gateway's public keys. Errors follow RFC 6749 (`{"error": …}`), which is
 * what OAuth client libraries read.
 */
import { Hono, type Context } from 'hono';
import { authenticateClient } from '../auth/clients.js';
import type { TokenService } from '../auth/tokens.js';
import type { Database } from '../store/db.js';

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
    const id = basic?.id ?? form.get('client_id') ?? '';
    const secret = basic?.secret ?? form.get('client_secret') ?? '';
    if (!id || !secret) return oauthError(c, 401, 'invalid_client', 'Client authentication is required (HTTP Basic or client_id/client_secret)');
    const client = await authenticateClient(options.db, id, secret);
    if (!client) return oauthError(c, 401, 'invalid_client', 'Unknown client or wrong secret');
    const token = await options.tokens.issue(client);
    return c.json({ ...token, token_type: 'Bearer', scope: 'system/*.*' }, 200, { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  });

  app.get('/.well-known/smart-configuration', (c) =>
    c.json({
      issuer: options.baseUrl,
      jwks_uri: `${options.baseUrl}/.well-known/jwks.json`,
      token_endpoint: `${options.baseUrl}/oauth2/token`,
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      grant_types_supported: ['client_credentials'],
      scopes_supported: ['system/*.*'],
      capabilities: ['client-confidential-symmetric'],
      code_challenge_methods_supported: [],
    })
  );

  app.get('/.well-known/jwks.json', (c) => c.json(options.tokens.publicKeys()));
  return app;
}

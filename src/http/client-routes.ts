/**
 * `/admin/clients`: the life of OAuth2 clients over the API, for `admin`
 * clients (the CLI's `aiguillage client …` does the same on the database).
 * JSON in and out, with the client metadata names of RFC 7591
 * (`client_id`, `client_name`, `client_secret`, `client_secret_expires_at`,
 * `token_endpoint_auth_method`, `jwks`) and the gateway's `roles` and
 * `organization`; errors are OperationOutcomes.
 *
 *   GET    /admin/clients                  every client
 *   POST   /admin/clients                  create one (its secret is in the answer, once)
 *   GET    /admin/clients/{id}
 *   POST   /admin/clients/{id}/deactivate  its tokens are refused within seconds
 *   POST   /admin/clients/{id}/activate
 *   POST   /admin/clients/{id}/rotate      a new secret (or the new jwks given); earlier tokens revoked
 *   DELETE /admin/clients/{id}
 */
import { Hono, type Context } from 'hono';
import type { JSONWebKeySet } from 'jose';
import {
  activateClient,
  checkClientInput,
  ClientError,
  createClient,
  deactivateClient,
  deleteClient,
  findClient,
  listClients,
  rotateClient,
  type Client,
} from '../auth/clients.js';
import { hasAnyRole } from '../core/principal.js';
import { badRequest, FhirError, forbidden, issue, notFound, outcome, unsupportedMediaType } from '../core/outcomes.js';
import type { Database, Queryable } from '../store/db.js';
import type { AuditTrail } from '../domain/audit/trail.js';
import { trailOf } from './audit-trail.js';

/** A client as the API shows it. */
export function clientJson(client: Client): Record<string, unknown> {
  return {
    client_id: client.id,
    client_name: client.name,
    roles: client.roles,
    ...(client.organization ? { organization: client.organization } : {}),
    active: client.active,
    token_endpoint_auth_method: client.authMethod === 'private_key_jwt' ? 'private_key_jwt' : 'client_secret_basic',
    client_id_issued_at: Math.floor(client.createdAt.getTime() / 1000),
    ...(client.authMethod === 'client_secret' ? { client_secret_expires_at: client.secretExpiresAt ? Math.floor(client.secretExpiresAt.getTime() / 1000) : 0 } : {}),
    ...(client.jwks ? { jwks: client.jwks } : {}),
  };
}

/** The expiry a request asks for: `client_secret_expires_in` seconds from now. */
function expiry(body: Record<string, unknown>): Date | undefined {
  const seconds = body.client_secret_expires_in;
  if (seconds === undefined) return undefined;
  if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds <= 0 || seconds > 20 * 365 * 86_400) {
    throw badRequest('client_secret_expires_in is a number of seconds (a positive integer)', 'client_secret_expires_in');
  }
  return new Date(Date.now() + seconds * 1000);
}

async function jsonBody(c: Context, optional: boolean): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (optional && text.trim() === '') return {};
  if (!/^application\/json\s*(;|$)/i.test(c.req.header('content-type') ?? '')) throw unsupportedMediaType('Send application/json');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw badRequest(`The body is not valid JSON: ${(err as Error).message}`);
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The body is a JSON object');
  return body as Record<string, unknown>;
}

/** Runs a change in a transaction with the request's audit trail; a refused change is 4xx. */
async function changing<T>(db: Database, c: Context, fn: (q: Queryable, trail: AuditTrail) => Promise<T>): Promise<T> {
  try {
    return await db.transaction((q) => fn(q, trailOf(c)));
  } catch (err) {
    if (err instanceof ClientError) throw new FhirError(err.status, outcome(issue(err.status === 404 ? 'not-found' : 'invalid', err.message)));
    throw err;
  }
}

/** The client routes (mounted under `/admin/clients`, behind authentication). */
export function clientRoutes(db: Database): Hono {
  const app = new Hono();
  app.use('*', async function adminOnly(c, next) {
    if (!hasAnyRole(c.get('principal'), ['admin'])) throw forbidden('Only admin clients manage clients');
    return next();
  });
  app.get('/', async (c) => c.json({ clients: (await listClients(db)).map(clientJson) }));
  app.post('/', async (c) => {
    const body = await jsonBody(c, false);
    const created = await changing(db, c, async (q, trail) => {
      const input = checkClientInput({ name: body.client_name, roles: body.roles, organization: body.organization });
      const made = await createClient(q, { ...input, jwks: body.jwks as JSONWebKeySet | undefined, secretExpiresAt: expiry(body) }, trail);
      return { ...clientJson((await findClient(q, made.client_id)) as Client), ...(made.client_secret ? { client_secret: made.client_secret } : {}) };
    });
    return c.json(created, 201, { 'Cache-Control': 'no-store' });
  });
  app.get('/:id', async (c) => {
    const client = await findClient(db, c.req.param('id'));
    if (!client) throw notFound(`No client ${c.req.param('id')}`);
    return c.json(clientJson(client));
  });
  app.post('/:id/deactivate', async (c) => c.json(clientJson(await changing(db, c, (q, trail) => deactivateClient(q, c.req.param('id'), trail)))));
  app.post('/:id/activate', async (c) => c.json(clientJson(await changing(db, c, (q, trail) => activateClient(q, c.req.param('id'), trail)))));
  app.post('/:id/rotate', async (c) => {
    const body = await jsonBody(c, true);
    const rotated = await changing(db, c, (q, trail) => rotateClient(q, c.req.param('id'), { jwks: body.jwks as JSONWebKeySet | undefined, secretExpiresAt: expiry(body) }, trail));
    return c.json({ ...clientJson(rotated.client), ...(rotated.client_secret ? { client_secret: rotated.client_secret } : {}) }, 200, { 'Cache-Control': 'no-store' });
  });
  app.delete('/:id', async (c) => {
    await changing(db, c, (q, trail) => deleteClient(q, c.req.param('id'), trail));
    return c.body(null, 204);
  });
  return app;
}

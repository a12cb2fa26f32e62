/**
 * OAuth2 machine clients and their life: created, listed, deactivated and
 * reactivated, rotated (a new secret, or new public keys), deleted, by the
 * CLI or by an admin over the API. A client authenticates with a secret
 * (stored as an scrypt hash, shown once, with an optional expiry date) or
 * with a signed assertion (`private_key_jwt`, RFC 7523) checked against the
 * public keys (JWKS) it registered. Deactivating, rotating or deleting a
 * client revokes the tokens issued to it before (TokenService checks a
 * client's state every few seconds); every change is an AuditEvent.
 */
import { randomBytes, randomUUID, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { importJWK, type JSONWebKeySet, type JWK } from 'jose';
import type { AuditTrail } from '../domain/audit/trail.js';
import { systemClock } from '../domain/clock.js';
import { flushEvents } from '../domain/repository.js';
import { isRole, ROLES, type Role } from '../core/principal.js';
import type { Queryable } from '../store/db.js';
import { insertClient, recordAssertion, selectClient, selectClients, selectClientState, updateClient, type ClientChange, type ClientRow } from '../store/tables/oauth-client.js';

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number }) => Promise<Buffer>;
const PARAMS = { N: 16384, r: 8, p: 1 };

/** How a client proves who it is at the token endpoint. */
export type AuthMethod = 'client_secret' | 'private_key_jwt';

/** A client as stored (without its secret). */
export interface Client {
  id: string;
  name: string;
  roles: Role[];
  organization?: string;
  active: boolean;
  authMethod: AuthMethod;
  createdAt: Date;
  /** When its secret stops being accepted (none: never). */
  secretExpiresAt?: Date;
  /** Tokens issued before this are refused (set by deactivation and rotation). */
  tokensValidAfter?: Date;
  /** Its registered public keys (private_key_jwt). */
  jwks?: JSONWebKeySet;
}

/** Why a client change was refused (the CLI prints it; the API answers 4xx). */
export class ClientError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string
  ) {
    super(message);
  }
}

/** Hashes a secret: `scrypt$N$r$p$salt$hash` (base64url parts). */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(secret, salt, 32, PARAMS);
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/** Checks a secret against a stored hash, in constant time. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scrypt(secret, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p) });
  return timingSafeEqual(actual, expected);
}

/**
 * A hash no secret matches, checked when the client is unknown (or has no
 * secret), so that the token endpoint does the same work, and takes the same
 * time, for a known and an unknown client id.
 */
const DECOY_HASH = hashSecret(randomBytes(32).toString('base64url'));

/** Checks that a JWKS holds public signing keys only (a private key registered by mistake is refused, not stored). */
export async function checkJwks(jwks: unknown): Promise<JSONWebKeySet> {
  const keys = (jwks as { keys?: unknown } | undefined)?.keys;
  if (!jwks || typeof jwks !== 'object' || !Array.isArray(keys) || keys.length === 0) throw new ClientError(400, 'jwks is a JSON Web Key Set: {"keys": [public keys]}');
  for (const [i, key] of (keys as JWK[]).entries()) {
    if (!key || typeof key !== 'object' || (key.kty !== 'RSA' && key.kty !== 'EC')) throw new ClientError(400, `jwks.keys[${i}]: an RSA or EC key`);
    if ('d' in key || 'p' in key || 'q' in key) throw new ClientError(400, `jwks.keys[${i}] holds a private key: register the public key only`);
    if (key.use !== undefined && key.use !== 'sig') throw new ClientError(400, `jwks.keys[${i}]: a signing key (use "sig")`);
    try {
      await importJWK(key, key.alg ?? (key.kty === 'RSA' ? 'RS384' : key.crv === 'P-256' ? 'ES256' : 'ES384'));
    } catch (err) {
      throw new ClientError(400, `jwks.keys[${i}] is not a usable key: ${(err as Error).message}`);
    }
  }
  return { keys: keys as JWK[] };
}

function toClient(row: ClientRow): Client {
  return {
    id: row.id,
    name: row.name,
    roles: row.roles.filter(isRole),
    ...(row.organization ? { organization: row.organization } : {}),
    active: row.active,
    authMethod: row.jwks ? 'private_key_jwt' : 'client_secret',
    createdAt: new Date(row.created_at),
    ...(row.secret_expires_at ? { secretExpiresAt: new Date(row.secret_expires_at) } : {}),
    ...(row.tokens_valid_after ? { tokensValidAfter: new Date(row.tokens_valid_after) } : {}),
    ...(row.jwks ? { jwks: row.jwks } : {}),
  };
}

/** Records a change of a client (a security event of the audit trail), in the change's transaction. */
async function recordChange(q: Queryable, trail: AuditTrail | undefined, interaction: string, clientId: string, detail: string): Promise<void> {
  if (!trail) return;
  const action = interaction === 'client-create' ? 'C' : interaction === 'client-delete' ? 'D' : 'U';
  await flushEvents({ clock: systemClock, audit: trail }, q, [{ event: 'security', interaction, action, status: 200, query: `client ${clientId}`, detail }]);
}

/** A client's organization as a token names it: `SYSTEM|VALUE` (FINESS, ROR id, MDPH…) or `Organization/ID`. */
const ORGANIZATION = /^(Organization\/[A-Za-z0-9\-.]{1,64}|[^|\s]+\|[^|\s]+)$/;

/** Checks what a new client is given (400 with the reason): a name, known roles, a well-formed organization. */
export function checkClientInput(input: { name?: unknown; roles?: unknown; organization?: unknown }): { name: string; roles: Role[]; organization?: string } {
  const { name, roles, organization } = input;
  if (typeof name !== 'string' || name.trim() === '' || name.length > 200) throw new ClientError(400, 'A client has a name (1 to 200 characters)');
  if (!Array.isArray(roles) || roles.length === 0 || roles.some((r) => typeof r !== 'string')) throw new ClientError(400, `A client has roles, among ${ROLES.join(', ')}`);
  const unknown = (roles as string[]).filter((r) => !isRole(r));
  if (unknown.length > 0) throw new ClientError(400, `Roles are among ${ROLES.join(', ')}; unknown role(s): ${unknown.join(', ')}`);
  if (organization !== undefined && (typeof organization !== 'string' || !ORGANIZATION.test(organization))) {
    throw new ClientError(400, 'The organization is SYSTEM|VALUE (e.g. https://finess.esante.gouv.fr|750000001) or Organization/ID');
  }
  return { name: name.trim(), roles: [...new Set(roles as Role[])], ...(organization ? { organization: organization } : {}) };
}

/** What a new client is made of. */
export interface NewClient {
  name: string;
  roles: Role[];
  organization?: string;
  /** Public keys for private_key_jwt; without them the client gets a secret. */
  jwks?: JSONWebKeySet;
  secretExpiresAt?: Date;
}

/** Creates a client; returns its id and its secret (shown once; none for a private_key_jwt client). */
export async function createClient(q: Queryable, input: NewClient & { jwks?: undefined }, trail?: AuditTrail): Promise<{ client_id: string; client_secret: string }>;
export async function createClient(q: Queryable, input: NewClient, trail?: AuditTrail): Promise<{ client_id: string; client_secret?: string }>;
export async function createClient(q: Queryable, input: NewClient, trail?: AuditTrail): Promise<{ client_id: string; client_secret?: string }> {
  const id = randomUUID();
  const jwks = input.jwks ? await checkJwks(input.jwks) : undefined;
  const secret = jwks ? undefined : randomBytes(32).toString('base64url');
  await insertClient(q, {
    id,
    name: input.name,
    secretHash: secret ? await hashSecret(secret) : null,
    roles: input.roles,
    organization: input.organization ?? null,
    jwks: jwks ?? null,
    secretExpiresAt: input.secretExpiresAt ?? null,
  });
  await recordChange(q, trail, 'client-create', id, `client ${id} "${input.name}" created: roles ${input.roles.join(', ')}${input.organization ? `, organization ${input.organization}` : ''}`);
  return { client_id: id, ...(secret ? { client_secret: secret } : {}) };
}

/** Every client not deleted, oldest first. */
export async function listClients(q: Queryable): Promise<Client[]> {
  return (await selectClients(q)).map(toClient);
}

/** A client not deleted, or undefined. */
export async function findClient(q: Queryable, id: string): Promise<Client | undefined> {
  if (!/^[0-9a-f-]{36}$/.test(id)) return undefined;
  const row = await selectClient(q, id);
  return row ? toClient(row) : undefined;
}

async function change(q: Queryable, id: string, what: ClientChange): Promise<Client> {
  const row = /^[0-9a-f-]{36}$/.test(id) ? await updateClient(q, id, what) : undefined;
  if (!row) throw new ClientError(404, `No client ${id}`);
  return toClient(row);
}

/** Deactivates a client: its tokens are refused within seconds, and it gets no new one. */
export async function deactivateClient(q: Queryable, id: string, trail?: AuditTrail): Promise<Client> {
  const client = await change(q, id, { active: false, revokeTokens: true });
  await recordChange(q, trail, 'client-deactivate', id, `client ${id} deactivated; its tokens are revoked`);
  return client;
}

/** Reactivates a client (the tokens revoked by its deactivation stay revoked). */
export async function activateClient(q: Queryable, id: string, trail?: AuditTrail): Promise<Client> {
  const client = await change(q, id, { active: true });
  await recordChange(q, trail, 'client-activate', id, `client ${id} reactivated`);
  return client;
}

/**
 * Rotates a client's credentials: a new secret (shown once), or the new
 * public keys given (a private_key_jwt client); either way the tokens issued
 * before are revoked, as a rotation usually follows a leak.
 */
export async function rotateClient(q: Queryable, id: string, input: { jwks?: JSONWebKeySet; secretExpiresAt?: Date }, trail?: AuditTrail): Promise<{ client: Client; client_secret?: string }> {
  const current = await findClient(q, id);
  if (!current) throw new ClientError(404, `No client ${id}`);
  if (current.authMethod === 'private_key_jwt' && !input.jwks) throw new ClientError(400, 'This client authenticates with its keys (private_key_jwt): rotate it with its new jwks');
  if (current.authMethod === 'client_secret' && input.jwks) throw new ClientError(400, 'This client authenticates with a secret: it has no keys to rotate');
  const jwks = input.jwks ? await checkJwks(input.jwks) : undefined;
  const secret = jwks ? undefined : randomBytes(32).toString('base64url');
  const client = await change(q, id, {
    revokeTokens: true,
    credentials: { secretHash: secret ? await hashSecret(secret) : null, jwks: jwks ?? null, secretExpiresAt: input.secretExpiresAt ?? null },
  });
  await recordChange(q, trail, 'client-rotate', id, `client ${id}: ${jwks ? 'new public keys' : 'new secret'}; earlier tokens revoked`);
  return { client, ...(secret ? { client_secret: secret } : {}) };
}

/** Deletes a client: its credentials are erased and its tokens refused; its row stays for the audit trail and subscriptions that name it. */
export async function deleteClient(q: Queryable, id: string, trail?: AuditTrail): Promise<void> {
  await change(q, id, { active: false, delete: true, revokeTokens: true });
  await recordChange(q, trail, 'client-delete', id, `client ${id} deleted`);
}

/**
 * The active client whose id and secret match, or undefined. Unknown id,
 * wrong secret, expired secret and inactive client do the same work (one
 * scrypt) and give the same answer.
 */
export async function authenticateClient(q: Queryable, id: string, secret: string, now = new Date()): Promise<Client | undefined> {
  const wellFormed = /^[0-9a-f-]{36}$/.test(id);
  const row = wellFormed ? await selectClient(q, id, 'active') : undefined;
  const matches = await verifySecret(secret, row?.secret_hash ?? (await DECOY_HASH));
  // scrypt keys HMAC with the secret, and HMAC pads short keys with zeros: "s" and "s\0" would both pass.
  if (!row || !row.secret_hash || !matches || secret.includes('\u0000')) return undefined;
  if (row.secret_expires_at && new Date(row.secret_expires_at) <= now) return undefined;
  return toClient(row);
}

/** The active client of a private_key_jwt assertion's issuer, with its keys, or undefined. */
export async function assertionClient(q: Queryable, id: string): Promise<Client | undefined> {
  if (!/^[0-9a-f-]{36}$/.test(id)) return undefined;
  const row = await selectClient(q, id, 'active-with-keys');
  return row ? toClient(row) : undefined;
}

/** Records an assertion's `jti` until it expires: false when it was used already (a replay). */
export async function useAssertion(q: Queryable, jti: string, clientId: string, expiresAt: Date): Promise<boolean> {
  return recordAssertion(q, `${clientId}|${jti}`, clientId, expiresAt);
}

/** What TokenService needs to know of a client to accept its tokens. */
export interface ClientState {
  active: boolean;
  tokensValidAfter?: Date;
}

/** The state of a client (undefined when it does not exist, or was deleted). */
export async function clientState(q: Queryable, id: string): Promise<ClientState | undefined> {
  const row = await selectClientState(q, id);
  return row ? { active: row.active, ...(row.tokens_valid_after ? { tokensValidAfter: new Date(row.tokens_valid_after) } : {}) } : undefined;
}

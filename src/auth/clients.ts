/**
 * OAuth2 machine clients: created by the CLI, authenticated at the token
 * endpoint. Secrets are shown once and stored as scrypt hashes.
 */
import { randomBytes, randomUUID, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Role } from '../domain/principal.js';
import type { Queryable } from '../store/db.js';

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number }) => Promise<Buffer>;
const PARAMS = { N: 16384, r: 8, p: 1 };

/** A client as stored (without its secret). */
export interface Client {
  id: string;
  name: string;
  roles: Role[];
  organization?: string;
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

/** Creates a client; returns its id and its secret (shown once). */
export async function createClient(q: Queryable, input: { name: string; roles: Role[]; organization?: string }): Promise<{ client_id: string; client_secret: string }> {
  const id = randomUUID();
  const secret = randomBytes(32).toString('base64url');
  await q.query('INSERT INTO oauth_client (id, name, secret_hash, roles, organization) VALUES ($1, $2, $3, $4, $5)', [
    id,
    input.name,
    await hashSecret(secret),
    input.roles,
    input.organization ?? null,
  ]);
  return { client_id: id, client_secret: secret };
}

/** The active client whose id and secret match, or undefined. */
export async function authenticateClient(q: Queryable, id: string, secret: string): Promise<Client | undefined> {
  if (!/^[0-9a-f-]{36}$/.test(id)) return undefined;
  // scrypt keys HMAC with the secret, and HMAC pads short keys with zeros: "s" and "s\0" would both pass.
  if (secret.includes('\u0000')) return undefined;
  const { rows } = await q.query<{ id: string; name: string; roles: Role[]; organization: string | null; secret_hash: string }>(
    'SELECT id, name, roles, organization, secret_hash FROM oauth_client WHERE id = $1 AND active',
    [id]
  );
  const row = rows[0];
  if (!row || !(await verifySecret(secret, row.secret_hash))) return undefined;
  return { id: row.id, name: row.name, roles: row.roles, organization: row.organization ?? undefined };
}

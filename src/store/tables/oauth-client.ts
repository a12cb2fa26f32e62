/**
 * The `oauth_client` table (machine clients, their credentials and state)
 * and `client_assertion` (the `jti`s of private_key_jwt assertions already
 * used, kept until they expire).
 */
import type { JSONWebKeySet } from 'jose';
import type { Queryable } from '../db.js';
import { run, sql, trusted } from '../sql.js';

/** A client as stored. */
export interface ClientRow {
  id: string;
  name: string;
  roles: string[];
  organization: string | null;
  active: boolean;
  secret_hash: string | null;
  jwks: JSONWebKeySet | null;
  created_at: Date;
  secret_expires_at: Date | null;
  tokens_valid_after: Date | null;
}

/** Every column a ClientRow reads. */
export const CLIENT_COLUMNS = trusted('id, name, roles, organization, active, secret_hash, jwks, created_at, secret_expires_at, tokens_valid_after');

/** Stores a new client. */
export async function insertClient(
  q: Queryable,
  row: { id: string; name: string; secretHash: string | null; roles: readonly string[]; organization: string | null; jwks: JSONWebKeySet | null; secretExpiresAt: Date | null }
): Promise<void> {
  await run(
    q,
    sql`INSERT INTO oauth_client (id, name, secret_hash, roles, organization, jwks, secret_expires_at)
        VALUES (${row.id}, ${row.name}, ${row.secretHash}, ${row.roles}, ${row.organization}, ${row.jwks ? JSON.stringify(row.jwks) : null}::text::jsonb, ${row.secretExpiresAt?.toISOString() ?? null})`
  );
}

/** Every client not deleted, oldest first. */
export async function selectClients(q: Queryable): Promise<ClientRow[]> {
  return (await run<ClientRow>(q, sql`SELECT ${CLIENT_COLUMNS} FROM oauth_client WHERE deleted_at IS NULL ORDER BY created_at, id`)).rows;
}

/** Which of a client's rows a lookup accepts: any not deleted, active only, or active with registered keys. */
export type ClientFilter = 'any' | 'active' | 'active-with-keys';

const FILTERS: Record<ClientFilter, ReturnType<typeof trusted>> = {
  any: trusted('deleted_at IS NULL'),
  active: trusted('active AND deleted_at IS NULL'),
  'active-with-keys': trusted('active AND deleted_at IS NULL AND jwks IS NOT NULL'),
};

/** A client by id, if it passes the filter. */
export async function selectClient(q: Queryable, id: string, filter: ClientFilter = 'any'): Promise<ClientRow | undefined> {
  return (await run<ClientRow>(q, sql`SELECT ${CLIENT_COLUMNS} FROM oauth_client WHERE id = ${id} AND ${FILTERS[filter]}`)).rows[0];
}

/** What a change of a client sets (only the fields given are written). */
export interface ClientChange {
  active?: boolean;
  /** Tokens issued before the change are refused. */
  revokeTokens?: boolean;
  /** Erases the credentials and marks the row deleted. */
  delete?: boolean;
  credentials?: { secretHash: string | null; jwks: JSONWebKeySet | null; secretExpiresAt: Date | null };
}

/** Changes a client not deleted; returns its new row (undefined when there is none). */
export async function updateClient(q: Queryable, id: string, change: ClientChange): Promise<ClientRow | undefined> {
  const sets = [sql`updated_at = now()`];
  if (change.active !== undefined) sets.push(sql`active = ${change.active}`);
  if (change.revokeTokens) sets.push(sql`tokens_valid_after = date_trunc('second', now())`);
  if (change.delete) sets.push(sql`deleted_at = now(), secret_hash = NULL, jwks = NULL`);
  if (change.credentials) {
    const { secretHash, jwks, secretExpiresAt } = change.credentials;
    sets.push(sql`secret_hash = ${secretHash}, jwks = ${jwks ? JSON.stringify(jwks) : null}::text::jsonb, secret_expires_at = ${secretExpiresAt?.toISOString() ?? null}`);
  }
  const set = sets.reduce((all, one) => sql`${all}, ${one}`);
  return (await run<ClientRow>(q, sql`UPDATE oauth_client SET ${set} WHERE id = ${id} AND deleted_at IS NULL RETURNING ${CLIENT_COLUMNS}`)).rows[0];
}

/** A client's state as token checks need it (undefined when it does not exist, or was deleted). */
export async function selectClientState(q: Queryable, id: string): Promise<{ active: boolean; tokens_valid_after: Date | null } | undefined> {
  return (await run<{ active: boolean; tokens_valid_after: Date | null }>(q, sql`SELECT active, tokens_valid_after FROM oauth_client WHERE id = ${id} AND deleted_at IS NULL`)).rows[0];
}

/** Records an assertion's key until it expires (dropping those expired): false when it was there already. */
export async function recordAssertion(q: Queryable, key: string, clientId: string, expiresAt: Date): Promise<boolean> {
  await run(q, sql`DELETE FROM client_assertion WHERE expires_at < now()`);
  const { rows } = await run(q, sql`INSERT INTO client_assertion (jti, client_id, expires_at) VALUES (${key}, ${clientId}, ${expiresAt.toISOString()}) ON CONFLICT DO NOTHING RETURNING 1`);
  return rows.length > 0;
}

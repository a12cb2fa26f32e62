/** The `signing_key` table: the gateway's token signing keys, newest first. */
import type { JWK } from 'jose';
import type { Queryable } from '../db.js';
import { run, sql } from '../sql.js';

/** A signing key as stored. */
export interface SigningKeyRow {
  kid: string;
  private_jwk: JWK;
  public_jwk: JWK;
}

/** Every signing key, newest first. */
export async function selectSigningKeys(q: Queryable): Promise<SigningKeyRow[]> {
  return (await run<SigningKeyRow>(q, sql`SELECT kid, private_jwk, public_jwk FROM signing_key ORDER BY created_at DESC`)).rows;
}

/** Stores a key (nothing when its kid is there already). */
export async function insertSigningKey(q: Queryable, key: SigningKeyRow): Promise<void> {
  await run(
    q,
    sql`INSERT INTO signing_key (kid, private_jwk, public_jwk) VALUES (${key.kid}, ${JSON.stringify(key.private_jwk)}::text::jsonb, ${JSON.stringify(key.public_jwk)}::text::jsonb) ON CONFLICT DO NOTHING`
  );
}

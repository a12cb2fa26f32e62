/** The `sdo_document` and `sdo_consent` tables: one row per DocumentReference (a decision's SDO file, or a request's document), per ESMS Consent. */
import type { Queryable } from '../db.js';
import { run, sql, trusted, type SqlFragment } from '../sql.js';
import type { Columns } from './versions.js';

/** The domain columns of `sdo_consent` (beside id, version, last_updated) and their SQL types. */
export const SDO_CONSENT_COLUMNS = {
  status: 'text',
  owner_org: 'text',
  decision_id: 'text',
  party_keys: 'text[]',
  patient_id: 'text',
} as const satisfies Columns;

/** The domain columns of `sdo_document`: a consent's, and the Binaries it cites. */
export const SDO_DOCUMENT_COLUMNS = {
  ...SDO_CONSENT_COLUMNS,
  binary_ids: 'text[]',
} as const satisfies Columns;

/** A decision as the parties of a document see it: its MDPH's keys and the keys of the ESMS it targets. */
export interface DecisionParties {
  id: string;
  requester_keys: string[];
  esms_keys: string[];
}

/**
 * The decisions named by an identifier (`system` exact, or, without one, any
 * system starting with `systemPrefix`), among those the organization `key`
 * is party to (its MDPH's, or one targeting it; any when `key` is absent).
 * At most two: the caller wants exactly one.
 */
export async function decisionsNamed(q: Queryable, identifier: { system?: string; systemPrefix: string; value: string }, key: string | undefined): Promise<DecisionParties[]> {
  const { rows } = await run<DecisionParties>(
    q,
    sql`SELECT r.id, r.requester_keys,
               coalesce((SELECT array_agg(DISTINCT k) FROM task x, unnest(x.owner_keys) k WHERE x.referral_id = r.id AND x.module = 'decision'), '{}') AS esms_keys
          FROM referral r
         WHERE r.module = 'decision'
           AND r.id IN (SELECT i.resource_id FROM resource_identifier i
                         WHERE i.resource_type = 'ServiceRequest' AND i.value = ${identifier.value}
                           AND (i.system = ${identifier.system ?? null}::text OR (${identifier.system ?? null}::text IS NULL AND starts_with(i.system, ${identifier.systemPrefix}))))
           AND (${key ?? null}::text IS NULL OR r.requester_keys @> ARRAY[${key ?? ''}]::text[]
                OR EXISTS (SELECT 1 FROM task x WHERE x.referral_id = r.id AND x.module = 'decision' AND x.owner_keys @> ARRAY[${key ?? ''}]::text[]))
         ORDER BY r.id LIMIT 2`
  );
  return rows;
}

/**
 * Documents or consents (`sdo_document` or `sdo_consent` rows, alias
 * `alias`) the organization `key` reads beyond its own: those of a decision
 * it is party to, and those a request cites (`cited`: the request's column
 * of them) that it sent or received.
 */
export function documentReadBy(alias: string, key: string, cited: 'document_ids' | 'consent_ids' = 'document_ids'): SqlFragment {
  const d = trusted(alias);
  return sql`(${d}.party_keys @> ARRAY[${key}]::text[]
    OR EXISTS (SELECT 1 FROM referral r JOIN task x ON x.referral_id = r.id
                WHERE r.module = 'referral' AND r.${trusted(cited)} @> ARRAY[${d}.id] AND (x.owner_keys @> ARRAY[${key}]::text[] OR r.requester_keys @> ARRAY[${key}]::text[])))`;
}

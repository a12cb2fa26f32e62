/**
 * Who is party to a request: organizations named by keys. A client's token
 * names its organization as `Organization/ID` or as an identifier
 * `system|value` (FINESS, ROR id); a directory Organization is known by its
 * id and by each of its identifiers. A row stores every key of each party,
 * so that a client finds its rows whichever form its token uses.
 */
import type { Reference } from '@medplum/fhirtypes';
import { canonicalSystem } from '../../mappings/identifier-systems.js';
import { parseReference } from '../../mappings/reference.js';
import type { Queryable } from '../store/db.js';
import type { Principal } from './principal.js';

/** The canonical spelling of an organization key (FINESS http/https are one system). */
export function canonicalKey(key: string): string {
  const bar = key.indexOf('|');
  if (bar < 0) return key;
  return `${canonicalSystem(key.slice(0, bar))}|${key.slice(bar + 1)}`;
}

/** The caller's organization key, canonical, if its token names one. */
export function principalKey(principal: Principal | undefined): string | undefined {
  return principal?.organization ? canonicalKey(principal.organization) : undefined;
}

/** The key a reference to an organization (or unit) gives: its literal `Type/id`, else its identifier. */
export function referenceKey(reference: Reference | undefined): string | undefined {
  const literal = parseReference(reference?.reference);
  if (literal) return `${literal.type}/${literal.id}`;
  const identifier = reference?.identifier;
  if (identifier?.value) return canonicalKey(`${identifier.system ?? ''}|${identifier.value}`);
  return undefined;
}

/**
 * Every key of an organization named by one key: with its directory
 * Organization (when there is one), that Organization's id and identifiers.
 */
export async function organizationKeys(q: Queryable, key: string): Promise<string[]> {
  const canonical = canonicalKey(key);
  const literal = parseReference(canonical);
  if (literal && literal.type !== 'Organization') return [canonical];
  const bar = canonical.indexOf('|');
  // The Organization(s) the key names, then every identifier of them, in one statement.
  const { rows } = await q.query<{ id: string; keys: string[] | null }>(
    `WITH o AS (
       SELECT $1::text AS id WHERE $1::text IS NOT NULL
       UNION SELECT resource_id FROM resource_identifier WHERE $1::text IS NULL AND resource_type = 'Organization' AND value = $2 AND system = $3
     )
     SELECT o.id, (SELECT array_agg(i.system || '|' || i.value) FROM resource_identifier i WHERE i.resource_type = 'Organization' AND i.resource_id = o.id AND i.system <> '') AS keys FROM o`,
    [literal ? literal.id : null, canonical.slice(bar + 1), canonical.slice(0, bar)],
    'organization-keys'
  );
  return [...new Set([canonical, ...rows.flatMap((r) => [`Organization/${r.id}`, ...(r.keys ?? [])])])];
}

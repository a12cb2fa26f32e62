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
import { organizationsNamed } from '../store/tables/organization.js';
import type { Principal } from '../core/principal.js';

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
  const rows = await organizationsNamed(q, literal ? { id: literal.id } : { system: canonical.slice(0, bar), value: canonical.slice(bar + 1) });
  return [...new Set([canonical, ...rows.flatMap((r) => [`Organization/${r.id}`, ...(r.keys ?? [])])])];
}

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

async function identifiersOf(q: Queryable, type: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await q.query<{ system: string; value: string }>(
    `SELECT system, value FROM resource_identifier WHERE resource_type = $1 AND resource_id = ANY($2::text[]) AND system <> ''`,
    [type, ids]
  );
  return rows.map((r) => `${r.system}|${r.value}`);
}

/**
 * Every key of an organization named by one key: with its directory
 * Organization (when there is one), that Organization's id and identifiers.
 */
export async function organizationKeys(q: Queryable, key: string): Promise<string[]> {
  const canonical = canonicalKey(key);
  const literal = parseReference(canonical);
  let ids: string[];
  if (literal) {
    ids = literal.type === 'Organization' ? [literal.id] : [];
  } else {
    const bar = canonical.indexOf('|');
    const { rows } = await q.query<{ resource_id: string }>(
      `SELECT resource_id FROM resource_identifier WHERE resource_type = 'Organization' AND value = $1 AND system = $2`,
      [canonical.slice(bar + 1), canonical.slice(0, bar)]
    );
    ids = rows.map((r) => r.resource_id);
  }
  return [...new Set([canonical, ...ids.map((id) => `Organization/${id}`), ...(await identifiersOf(q, 'Organization', ids))])];
}

/** Every key of a unit: the HealthcareService's id and identifiers, and those of its Organization. */
export async function unitKeys(q: Queryable, serviceId: string): Promise<string[]> {
  const { rows } = await q.query<{ organization_id: string | null }>(`SELECT organization_id FROM healthcare_service WHERE id = $1`, [serviceId]);
  const organizationId = rows[0]?.organization_id;
  const own = [`HealthcareService/${serviceId}`, ...(await identifiersOf(q, 'HealthcareService', [serviceId]))];
  const organization = organizationId ? await organizationKeys(q, `Organization/${organizationId}`) : [];
  return [...new Set([...own, ...organization])];
}

/**
 * SMART scopes of system clients (SMART App Launch 2, "Scopes for requesting
 * FHIR resources"): `system/Type.cruds` (v2: create, read, update, delete,
 * search, in that order) and the v1 forms `system/Type.read|write|*`, with
 * `*` for every type. A token's scopes narrow what its client's roles allow;
 * they never widen it.
 */

/** The interactions a scope letter grants. */
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

/** The order SMART v2 writes the letters in. */
const ORDER: readonly Permission[] = ['c', 'r', 'u', 'd', 's'];

/** One system scope, read: a type (or `*`) and the interactions it grants. */
export interface SystemScope {
  type: string;
  permissions: ReadonlySet<Permission>;
}

const V1: Record<string, readonly Permission[]> = { read: ['r', 's'], write: ['c', 'u', 'd'], '*': ORDER };

/** Reads one scope; undefined when it is not a system resource scope (`openid`, `patient/…`, a malformed one). */
export function parseScope(scope: string): SystemScope | undefined {
  const m = /^system\/(\*|[A-Z][A-Za-z]{0,63})\.(\*|read|write|c?r?u?d?s?)(\?.*)?$/.exec(scope);
  if (!m || m[2] === '' || m[3] !== undefined) return undefined;
  const permissions = V1[m[2]] ?? ([...m[2]] as Permission[]);
  return { type: m[1], permissions: new Set(permissions) };
}

/** Writes a scope in the v2 form. */
export function formatScope(type: string, permissions: Iterable<Permission>): string {
  const set = new Set(permissions);
  return `system/${type}.${ORDER.filter((p) => set.has(p)).join('')}`;
}

/** The permissions these scopes grant on a type. */
export function permissionsOn(scopes: readonly SystemScope[], type: string): Set<Permission> {
  const granted = new Set<Permission>();
  for (const s of scopes) if (s.type === '*' || s.type === type) for (const p of s.permissions) granted.add(p);
  return granted;
}

/**
 * What a client gets when it asks for `requested` (a space-separated scope
 * string, or nothing) and its roles allow `allowed` (per type): each
 * requested scope cut down to what is allowed, or everything allowed when it
 * asks for nothing. An empty result means none of the request can be granted.
 */
export function grantScopes(requested: string | undefined, allowed: ReadonlyMap<string, ReadonlySet<Permission>>): string[] {
  const asked = (requested ?? '').split(/\s+/).filter(Boolean);
  if (asked.length === 0) return [...allowed].filter(([, p]) => p.size > 0).map(([type, p]) => formatScope(type, p));
  const wanted = asked.map(parseScope).filter((s): s is SystemScope => !!s);
  const granted: string[] = [];
  for (const [type, mayDo] of allowed) {
    const asks = permissionsOn(wanted, type);
    const both = [...asks].filter((p) => mayDo.has(p));
    if (both.length > 0) granted.push(formatScope(type, both));
  }
  return granted;
}

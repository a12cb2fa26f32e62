/**
 * The SMART system scopes a client's roles allow, per resource type, from the
 * types' declarations: read and search where a role may read (or the type is
 * public), create and update where it may write. Nothing is deleted through
 * the API, so no scope grants `d`. The audit trail (AuditEvent) is read by
 * admin.
 */
import { formatScope, type Permission } from '../core/scopes.js';
import { ROLES, type Role } from '../core/principal.js';
import { allKinds } from './registry.js';

/** What these roles may do on each stored type (types they may not touch are absent). */
export function roleScopes(roles: readonly Role[]): Map<string, Set<Permission>> {
  const allowed = new Map<string, Set<Permission>>();
  for (const kind of allKinds()) {
    const may = (list: 'public' | readonly Role[]): boolean => list === 'public' || list.some((r) => roles.includes(r));
    const permissions = new Set<Permission>();
    if (may(kind.access.read)) permissions.add('r').add('s');
    if (may(kind.access.write)) permissions.add('c').add('u');
    if (permissions.size > 0) allowed.set(kind.type, permissions);
  }
  // The audit trail, which no declaration holds: read by admin only.
  if (roles.includes('admin')) allowed.set('AuditEvent', new Set<Permission>(['r', 's']));
  return allowed;
}

/** Every scope some client may hold: for each type, all that any role may do on it. */
export function allScopes(): string[] {
  return [...roleScopes(ROLES)].map(([type, permissions]) => formatScope(type, permissions));
}

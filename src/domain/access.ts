/**
 * The access layer every interaction goes through. A rule per resource type
 * (its declaration) says which roles may read and write it and which column ties a
 * row to its owning organization; later modules add their rules here, not in
 * the handlers.
 */
import { forbidden, unauthorized } from '../core/outcomes.js';
import { sql, trusted, type SqlFragment } from '../store/sql.js';
import type { ResourceKind } from './kind.js';
import { principalKey } from './parties.js';
import { hasAnyRole, scopeAllows, type Principal } from '../core/principal.js';

/** What the caller wants to do with a type. */
export type Action = 'read' | 'write';

/** Throws 401 (no token) or 403 (wrong role) unless `principal` may do `action` on the kind's type. */
export function authorize(principal: Principal | undefined, kind: ResourceKind, action: Action): void {
  const allowed = action === 'read' ? kind.access.read : kind.access.write;
  if (allowed === 'public') return;
  if (!principal) throw unauthorized();
  if (!hasAnyRole(principal, allowed)) {
    throw forbidden(`Role(s) ${principal.roles.join(', ') || '(none)'} may not ${action} ${kind.type}; allowed: ${allowed.join(', ')}`);
  }
}

/** Whether `principal` may read the kind's type (no throw: for `_include` targets). */
export function mayRead(principal: Principal | undefined, kind: ResourceKind): boolean {
  const allowed = kind.access.read;
  // What anyone may read needs no scope: a token's scopes narrow what it authorizes, and public data needs no authorization.
  return allowed === 'public' || (hasAnyRole(principal, allowed) && scopeAllows(principal, kind.type, ['r', 's']));
}

/** SQL condition (table alias `t`) restricting rows to those the caller may see. */
export function visibleRows(principal: Principal | undefined, kind: ResourceKind, action: Action = 'read'): SqlFragment {
  const { ownerColumn } = kind.access;
  const visibleTo = action === 'write' && !kind.access.partiesWrite ? undefined : kind.access.visibleTo;
  if ((!ownerColumn && !kind.access.visibleTo) || kind.access.read === 'public' || hasAnyRole(principal, ['admin'])) return sql`TRUE`;
  const key = principalKey(principal);
  if (!key) return sql`FALSE`;
  const owned = ownerColumn ? sql`t.${trusted(ownerColumn)} = ${key}` : sql`FALSE`;
  return visibleTo ? sql`(${owned} OR ${visibleTo(key)})` : owned;
}

/** Columns a new row gets from its creator (its owning organization). */
export function ownerColumns(principal: Principal | undefined, kind: ResourceKind): Record<string, string | null> {
  const column = kind.access.ownerColumn;
  return column ? { [column]: principalKey(principal) ?? null } : {};
}

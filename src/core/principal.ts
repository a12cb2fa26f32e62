/** Who is calling: the client behind a token, its organization and roles. */

/** The roles of the design ("Identity, access, audit"). */
export const ROLES = ['prescriber', 'care-team', 'admin-social', 'receiver', 'mdph', 'esms', 'ror', 'admin'] as const;

/** A role a client may hold. */
export type Role = (typeof ROLES)[number];

/** Whether a string is a known role. */
export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** An authenticated caller. */
export interface Principal {
  /** The OAuth client id (or the external token's subject). */
  clientId: string;
  /** The caller's organization, as `system|value` (FINESS, ROR id) or `Organization/ID`. */
  organization?: string;
  roles: readonly Role[];
  /** The gateway itself (deadlines, cascades): sees everything, bound by no side's rules. */
  gateway?: boolean;
}

/** The gateway acting on its own (automatic moves, reminders). */
export const GATEWAY: Principal = { clientId: 'aiguillage', roles: ['admin'], gateway: true };

/** Whether the caller holds one of `roles`. */
export function hasAnyRole(principal: Principal | undefined, roles: readonly Role[]): boolean {
  return !!principal && principal.roles.some((r) => roles.includes(r));
}

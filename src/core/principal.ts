/** Who is calling: the client behind a token, its organization and roles. */
import { formatScope, parseScope, permissionsOn, type Permission, type SystemScope } from './scopes.js';

/** The roles of the design ("Identity, access, audit"). */
export const ROLES = ['prescriber', 'care-team', 'admin-social', 'non-medical-manager', 'portal', 'receiver', 'mdph', 'esms', 'ror', 'territory', 'admin'] as const;

/** What each role stands for (the CodeSystem of roles is written from it). */
export const ROLE_TITLES: Record<Role, string> = {
  prescriber: 'Prescripteur (médecin de l’établissement demandeur)',
  'care-team': 'Équipe de soins de l’établissement demandeur',
  'admin-social': 'Gestionnaire administratif et social',
  'non-medical-manager': 'Gestionnaire non médical (lit le volet médical, rédige les autres volets)',
  portal: 'Portail usager (logiciel agissant pour la personne : demandes Grand Âge, EHPAD et USLD)',
  receiver: 'Unité receveuse',
  mdph: 'Maison départementale des personnes handicapées',
  esms: 'Établissement ou service médico-social',
  ror: 'Répertoire opérationnel des ressources',
  territory: 'Pilotage d’un territoire (ARS, conseil départemental) : lit les indicateurs de son territoire',
  admin: 'Administrateur de la passerelle',
};

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
  /**
   * The SMART scopes of the caller's token, which narrow what its roles allow
   * (absent: no narrowing, e.g. a token of the external identity provider without scopes).
   */
  scopes?: readonly SystemScope[];
  /** The gateway itself (deadlines, cascades): sees everything, bound by no side's rules. */
  gateway?: boolean;
  /**
   * The professional the software acts for, when the identity provider's
   * token names one (Pro Santé Connect: SubjectNameID, SubjectRole): their
   * national identifier (idNatPs), name and profession (TRE_G15 code, e.g.
   * 10 médecin).
   */
  practitioner?: Practitioner;
}

/** A professional acting through a client. */
export interface Practitioner {
  id: string;
  name?: string;
  profession?: string;
}

/** The profession that validates a medical volet (TRE_G15-ProfessionSante: 10, médecin). */
export const DOCTOR = '10';

/** The gateway acting on its own (automatic moves, reminders). */
export const GATEWAY: Principal = { clientId: 'aiguillage', roles: ['admin'], gateway: true };

/** Whether the caller holds one of `roles`. */
export function hasAnyRole(principal: Principal | undefined, roles: readonly Role[]): boolean {
  return !!principal && principal.roles.some((r) => roles.includes(r));
}

/** Whether the caller's token grants one of these permissions on a type (always, without scopes). */
export function scopeAllows(principal: Principal | undefined, type: string, permissions: readonly Permission[]): boolean {
  if (!principal?.scopes) return true;
  const granted = permissionsOn(principal.scopes, type);
  return permissions.some((p) => granted.has(p));
}

/** A principal as stored with work done later on its behalf (asynchronous Bundles): its scopes written as scope strings. */
export function storedPrincipal(principal: Principal): unknown {
  return { ...principal, scopes: principal.scopes?.map((s) => formatScope(s.type, s.permissions)) };
}

/** A stored principal read back, its scopes parsed again. */
export function principalFromStore(stored: (Omit<Principal, 'scopes'> & { scopes?: string[] }) | null): Principal | null {
  if (!stored) return null;
  const { scopes, ...rest } = stored;
  return scopes ? { ...rest, scopes: scopes.flatMap((s) => (typeof s === 'string' && parseScope(s)) || []) } : rest;
}

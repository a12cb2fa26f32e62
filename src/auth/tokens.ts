/**
 * Access tokens: short-lived JWTs (ES256) signed by the gateway with a key
 * kept in PostgreSQL (so every process and every restart verifies the same
 * tokens), and, optionally, tokens of an external identity provider checked
 * against its JWKS. Verified tokens are cached until they expire, so the
 * signature is checked once per token, not once per request.
 */
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JSONWebKeySet, type JWTPayload } from 'jose';
import { isRole, type Principal } from '../core/principal.js';
import { parseScope, type SystemScope } from '../core/scopes.js';
import type { Queryable } from '../store/db.js';
import { insertSigningKey, selectSigningKeys } from '../store/tables/signing-key.js';
import { clientState, type ClientState } from './clients.js';

const ALG = 'ES256';
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Settings of token issuing and checking. */
export interface TokenSettings {
  issuer: string;
  audience: string;
  ttlSeconds: number;
  /** How long a client's state (active, revocation date) is trusted before it is read again, in ms: the delay of a revocation. */
  revocationCheckMs: number;
  externalIdp?: { jwksUrl: string; issuer?: string; audience?: string; rolesClaim: string; organizationClaim: string; practitionerClaim?: string; professionClaim?: string };
}

/** Why a token was refused. */
export class InvalidToken extends Error {}

type VerifyKey = Parameters<typeof jwtVerify>[1];

/** A verified token, kept until it expires. */
interface Verified {
  principal: Principal;
  exp: number;
  /** When it was issued (s), for revocations. */
  iat: number;
  /** Issued by the external identity provider (whose clients are not the gateway's). */
  external: boolean;
}

/** Issues and verifies tokens. */
export class TokenService {
  private readonly cache = new Map<string, Verified>();
  private readonly states = new Map<string, { at: number; state: Promise<ClientState | undefined> }>();

  private constructor(
    private readonly db: Queryable,
    private readonly settings: TokenSettings,
    private readonly kid: string,
    private readonly privateKey: Awaited<ReturnType<typeof importJWK>>,
    private readonly jwks: JSONWebKeySet,
    private readonly externalKeys?: VerifyKey
  ) {}

  /** Loads the signing key from the database, creating one on first start. */
  static async open(q: Queryable, settings: TokenSettings): Promise<TokenService> {
    let rows = await selectSigningKeys(q);
    if (rows.length === 0) {
      const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
      const kid = randomUUID();
      const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: ALG };
      const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
      await insertSigningKey(q, { kid, private_jwk: privateJwk, public_jwk: publicJwk });
      rows = await selectSigningKeys(q);
    }
    const newest = rows[0];
    const privateKey = await importJWK(newest.private_jwk, ALG);
    const jwks = { keys: rows.map((r) => r.public_jwk) };
    const external = settings.externalIdp ? createRemoteJWKSet(new URL(settings.externalIdp.jwksUrl)) : undefined;
    return new TokenService(q, settings, newest.kid, privateKey, jwks, external);
  }

  /** The public keys, for `/.well-known/jwks.json`. */
  publicKeys(): JSONWebKeySet {
    return this.jwks;
  }

  /**
   * Issues a token for a client, with the scopes granted (SMART system
   * scopes): the claims of RFC 9068 (`iss`, `sub`, `aud`, `exp`, `iat`, `jti`,
   * `client_id`, `scope`) and the gateway's own (`roles`, `organization`).
   */
  async issue(client: { id: string; roles: readonly string[]; organization?: string }, scope: string): Promise<{ access_token: string; expires_in: number }> {
    const token = await new SignJWT({ client_id: client.id, scope, roles: [...client.roles], ...(client.organization ? { organization: client.organization } : {}) })
      .setProtectedHeader({ alg: ALG, kid: this.kid, typ: 'at+jwt' })
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setSubject(client.id)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${this.settings.ttlSeconds}s`)
      .sign(this.privateKey);
    return { access_token: token, expires_in: this.settings.ttlSeconds };
  }

  /** The principal of a bearer token; throws InvalidToken. */
  async verify(token: string): Promise<Principal> {
    // A JWT is three base64url parts without padding (RFC 7515 §7.1): refuse any other spelling of the same bytes
    // (jose decodes a padded signature, so a token re-encoded in base64 would pass whenever it has no '+' or '/').
    if (!COMPACT_JWS.test(token)) throw new InvalidToken('not a compact JWS (three base64url parts, no padding)');
    const now = Date.now() / 1000;
    let verified = this.cache.get(token);
    if (verified && verified.exp <= now) {
      this.cache.delete(token);
      verified = undefined;
    }
    if (!verified) {
      const { payload, external } = await this.verifySignature(token);
      verified = { principal: toPrincipal(payload, external ? this.settings.externalIdp : undefined), exp: payload.exp ?? now, iat: payload.iat ?? 0, external };
      if (this.cache.size >= 10_000) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(token, verified);
    }
    if (!verified.external) await this.checkClient(verified);
    return verified.principal;
  }

  /** Refuses a token whose client was deactivated or deleted, or whose credentials were rotated since it was issued. */
  private async checkClient(verified: Verified): Promise<void> {
    const id = verified.principal.clientId;
    const now = performance.now();
    let entry = this.states.get(id);
    if (!entry || now - entry.at >= this.settings.revocationCheckMs) {
      // One look-up at a time per client (concurrent requests share it); a failed one is not kept.
      const state = clientState(this.db, id);
      entry = { at: now, state };
      this.states.set(id, entry);
      state.catch(() => this.states.delete(id));
      if (this.states.size > 10_000) this.states.delete(this.states.keys().next().value as string);
    }
    const state = await entry.state;
    if (!state?.active) throw new InvalidToken('The client of this token is deactivated or deleted');
    if (state.tokensValidAfter && verified.iat * 1000 < state.tokensValidAfter.getTime()) throw new InvalidToken('The token was revoked: its client’s credentials changed since it was issued');
  }

  private async verifySignature(token: string): Promise<{ payload: JWTPayload; external: boolean }> {
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(this.jwks), {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: [ALG],
        requiredClaims: ['exp', 'sub'],
      });
      return { payload, external: false };
    } catch (err) {
      const idp = this.settings.externalIdp;
      if (!this.externalKeys || !idp) throw new InvalidToken(describe(err));
      try {
        const { payload } = await jwtVerify(token, this.externalKeys, { issuer: idp.issuer, audience: idp.audience, requiredClaims: ['exp', 'sub'] });
        return { payload, external: true };
      } catch (externalErr) {
        throw new InvalidToken(describe(externalErr));
      }
    }
  }
}

function describe(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === 'ERR_JWT_EXPIRED') return 'The token has expired';
  if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' || code === 'ERR_JWKS_NO_MATCHING_KEY') return 'The token signature is not valid';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') return `The token is not for this gateway (${(err as Error).message})`;
  return 'The token is not valid';
}

/** Reads a dotted claim path (e.g. Keycloak's `realm_access.roles`). */
function claim(payload: JWTPayload, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined), payload);
}

/** A profession code from a claim value: `10`, or Pro Santé Connect's `10^1.2.250.1.213.1.1.5.5`; the first of a list. */
function professionOf(value: unknown): string | undefined {
  const first: unknown = Array.isArray(value) ? (value as unknown[])[0] : value;
  return typeof first === 'string' && first ? first.split('^')[0] : undefined;
}

/** The professional a token names (its practitioner claim), with their name and profession. */
function practitionerOf(payload: JWTPayload, idp: { practitionerClaim?: string; professionClaim?: string }): Principal['practitioner'] {
  const id = claim(payload, idp.practitionerClaim ?? 'SubjectNameID');
  if (typeof id !== 'string' || !id) return undefined;
  const name = [payload.given_name, payload.family_name].filter((n): n is string => typeof n === 'string' && n !== '').join(' ');
  const profession = professionOf(claim(payload, idp.professionClaim ?? 'SubjectRole'));
  return { id, ...(name ? { name } : {}), ...(profession ? { profession } : {}) };
}

function toPrincipal(payload: JWTPayload, idp?: { rolesClaim: string; organizationClaim: string; practitionerClaim?: string; professionClaim?: string }): Principal {
  const rawRoles = claim(payload, idp?.rolesClaim ?? 'roles');
  const roles = (Array.isArray(rawRoles) ? rawRoles : typeof rawRoles === 'string' ? rawRoles.split(/[ ,]/) : []).filter((r): r is string => typeof r === 'string').filter(isRole);
  const organization = claim(payload, idp?.organizationClaim ?? 'organization');
  // The gateway's tokens carry the scopes granted; an external one narrows the roles only when it names system scopes.
  const scopes = typeof payload.scope === 'string' ? payload.scope.split(/\s+/).map(parseScope).filter((s): s is SystemScope => !!s) : [];
  const narrows = typeof payload.scope === 'string' && (!idp || scopes.length > 0);
  const practitioner = idp ? practitionerOf(payload, idp) : undefined;
  return {
    clientId: payload.sub as string,
    roles,
    organization: typeof organization === 'string' && organization ? organization : undefined,
    ...(narrows ? { scopes } : {}),
    ...(practitioner ? { practitioner } : {}),
  };
}

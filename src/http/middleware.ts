/** Middleware factories: request logging and bearer-token authentication. */
import type { MiddlewareHandler } from 'hono';
import { randomUUID } from 'node:crypto';
import { InvalidToken, type TokenService } from '../auth/tokens.js';
import { unauthorized } from '../core/outcomes.js';
import type { Logger } from '../logger.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

/** Gives each request an id (the caller's `X-Request-Id` if sane), a child logger, and one log line. */
export function requestLogger(options: { logger: Logger }): MiddlewareHandler {
  return async function requestLoggerMiddleware(c, next) {
    const incoming = c.req.header('x-request-id');
    const id = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const log = options.logger.child({ reqId: id });
    c.set('log', log);
    c.set('requestId', id);
    const start = performance.now();
    await next();
    c.res.headers.set('X-Request-Id', id);
    if (log.isLevelEnabled('info')) {
      log.info({ method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round((performance.now() - start) * 10) / 10, client: c.get('principal')?.clientId }, 'request');
    }
    // Why a request was refused, for whoever debugs a client (the answer's OperationOutcome).
    if (c.res.status >= 400 && c.res.status < 500 && log.isLevelEnabled('debug')) {
      log.debug({ method: c.req.method, path: c.req.path, status: c.res.status, reason: await refusalReason(c.res) }, 'request refused');
    }
  };
}

/**
 * Reads `Authorization: Bearer …`: a valid token sets the caller; a bad one is
 * remembered, not answered yet, so that the rate limit (by address, as for
 * anonymous callers) applies to it before `requireAuthentication` answers 401.
 */
export function bearerAuth(options: { tokens: TokenService }): MiddlewareHandler {
  return async function bearerAuthMiddleware(c, next) {
    c.set('principal', undefined);
    c.set('tokenError', undefined);
    const header = c.req.header('authorization');
    if (!header) return next();
    const m = /^Bearer\s+([A-Za-z0-9\-_.~+/]+=*)\s*$/i.exec(header);
    if (!m) {
      c.set('tokenError', 'The Authorization header must be "Bearer <token>"');
      return next();
    }
    try {
      c.set('principal', await options.tokens.verify(m[1]));
    } catch (err) {
      if (!(err instanceof InvalidToken)) throw err;
      c.set('tokenError', err.message);
    }
    return next();
  };
}

/**
 * 401 for a bad token, and for a missing one unless `isPublic` says the
 * request needs none: before the body is read or validated, so that an
 * anonymous caller learns nothing from the gateway's checks.
 */
export function requireAuthentication(options: { isPublic: (method: string, path: string) => boolean } = { isPublic: () => false }): MiddlewareHandler {
  return async function requireAuthenticationMiddleware(c, next) {
    const error = c.get('tokenError');
    if (error) throw unauthorized(error);
    if (!c.get('principal') && !options.isPublic(c.req.method, new URL(c.req.url).pathname)) throw unauthorized();
    return next();
  };
}

/** The first issue of an OperationOutcome answer (or the start of another body). */
async function refusalReason(res: Response): Promise<string> {
  try {
    const text = await res.clone().text();
    const body = JSON.parse(text) as { issue?: { diagnostics?: string; expression?: string[] }[]; error_description?: string; error?: string };
    const issue = body.issue?.[0];
    if (issue) return `${issue.diagnostics ?? ''}${issue.expression?.length ? ` (${issue.expression.join(', ')})` : ''}`;
    return body.error_description ?? body.error ?? text.slice(0, 200);
  } catch {
    return '';
  }
}

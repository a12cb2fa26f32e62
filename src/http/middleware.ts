/** Middleware factories: request logging and bearer-token authentication. */
import type { MiddlewareHandler } from 'hono';
import { randomUUID } from 'node:crypto';
import { InvalidToken, type TokenService } from '../auth/tokens.js';
import { unauthorized } from '../fhir/outcomes.js';
import type { Logger } from '../logger.js';

const REQUEST_ID = /^[A-Za-z0-9._\-]{1,100}$/;

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
  };
}

/** Reads `Authorization: Bearer …`; a bad token is 401, no token leaves the caller anonymous. */
export function bearerAuth(options: { tokens: TokenService }): MiddlewareHandler {
  return async function bearerAuthMiddleware(c, next) {
    const header = c.req.header('authorization');
    if (!header) {
      c.set('principal', undefined);
      return next();
    }
    const m = /^Bearer\s+([A-Za-z0-9\-_.~+/]+=*)\s*$/i.exec(header);
    if (!m) throw unauthorized('The Authorization header must be "Bearer <token>"');
    try {
      c.set('principal', await options.tokens.verify(m[1]));
    } catch (err) {
      if (err instanceof InvalidToken) throw unauthorized(err.message);
      throw err;
    }
    return next();
  };
}

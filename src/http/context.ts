/** Request-scoped values, typed for every handler. */
import type { Principal } from '../core/principal.js';
import type { Logger } from '../logger.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** The authenticated caller, if a valid token was sent. */
    principal: Principal | undefined;
    /** Why the request's bearer token was refused (answered 401 once the rate limit has counted the request). */
    tokenError: string | undefined;
    /** The request's logger (carries the request id). */
    log: Logger;
    /** The request's id (the caller's `X-Request-Id` if sane, else a new one). */
    requestId: string;
  }
}

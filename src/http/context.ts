/** Request-scoped values, typed for every handler. */
import type { Principal } from '../domain/principal.js';
import type { Logger } from '../logger.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** The authenticated caller, if a valid token was sent. */
    principal: Principal | undefined;
    /** The request's logger (carries the request id). */
    log: Logger;
    /** The request's id (the caller's `X-Request-Id` if sane, else a new one). */
    requestId: string;
  }
}

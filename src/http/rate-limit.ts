/**
 * Per-client rate limiting (its `client_id` once authenticated, its address
 * before), counted in Redis with `rate-limiter-flexible` so that every API
 * process shares one count per client. Over the limit the answer is 429 with
 * `Retry-After`, before any work is done.
 *
 * The library counts in fixed windows, not in a token bucket: a client may
 * make `burst` requests per window of ⌈burst / rate⌉ seconds, so it may
 * still spend its whole burst at once, and its sustained rate is at most
 * `rate` (exactly `rate` when `burst` is a multiple of it).
 *
 * No request waits on Redis: its calls are bounded (`commandTimeout`, no
 * offline queue, skipped while the connection is not ready), and when one
 * fails the same limit is counted in this process's memory instead (the
 * library's insurance limiter), so each process applies it on its own until
 * Redis is back.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { tooManyRequests } from '../core/outcomes.js';

/** The limit: requests per second per client (0: no limit) and how many it may make at once. */
export interface RateLimit {
  rate: number;
  burst: number;
}

/** The fixed window the library counts in: `points` requests per `seconds`. */
export function windowOf(limit: RateLimit): { points: number; seconds: number } {
  const points = Math.max(1, limit.burst);
  return { points, seconds: Math.max(1, Math.ceil(points / limit.rate)) };
}

/** How long a request may wait for Redis to count it before it is counted in memory. */
const REDIS_TIMEOUT_MS = 250;

/** Counts requests by client: in Redis when given one (shared by every process), else in this process. */
export class RateLimiter {
  private readonly limiter: RateLimiterAbstract;

  /** A limiter counting in Redis at `redisUrl`, on a connection of its own that `close()` ends. */
  static shared(limit: RateLimit, options: { redisUrl: string; keyPrefix: string }): RateLimiter {
    const redis = new Redis(options.redisUrl, {
      // Never queue or retry a count: it is taken in memory instead (the queues' connection says when Redis is away).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: REDIS_TIMEOUT_MS,
      retryStrategy: (times) => Math.min(times * 200, 5_000),
    });
    redis.on('error', () => undefined);
    return new RateLimiter(limit, { redis, keyPrefix: options.keyPrefix });
  }

  constructor(
    limit: RateLimit,
    private readonly shared?: { redis: Redis; keyPrefix: string }
  ) {
    const { points, seconds } = windowOf(limit);
    const local = new RateLimiterMemory({ points, duration: seconds });
    this.limiter = shared
      ? new RateLimiterRedis({ storeClient: shared.redis, keyPrefix: shared.keyPrefix, points, duration: seconds, rejectIfRedisNotReady: true, insuranceLimiter: local })
      : local;
  }

  /** Counts one request of `key`: 0 when allowed, else the seconds to wait before the next one. */
  async take(key: string): Promise<number> {
    try {
      await this.limiter.consume(key);
      return 0;
    } catch (res) {
      if (res instanceof RateLimiterRes) return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      throw res;
    }
  }

  /** Ends the Redis connection, if any. */
  close(): void {
    this.shared?.redis.disconnect();
  }
}

/** The caller's address as the socket saw it (the gateway does not trust `X-Forwarded-For`). */
export function remoteAddress(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined; // not served by @hono/node-server (e.g. app.request in a test)
  }
}

/** 429 for a client over its limit; run after authentication so the key is the client. */
export function rateLimit(limiter: RateLimiter | undefined): MiddlewareHandler {
  return async function rateLimitMiddleware(c, next) {
    if (!limiter) return next();
    const principal = c.get('principal');
    const key = principal ? `client:${principal.clientId}` : `ip:${remoteAddress(c) ?? 'unknown'}`;
    const wait = await limiter.take(key);
    if (wait > 0) throw tooManyRequests(`Too many requests from this client; retry in ${wait} s`, wait);
    return next();
  };
}

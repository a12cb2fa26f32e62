/**
 * Per-client rate limiting: a token bucket per client (its `client_id` once
 * authenticated, its address before), refilled at `rate` requests per second
 * up to `burst`. Over the limit the answer is 429 with `Retry-After`, before
 * any work is done. The buckets live in this process: with several API
 * processes behind a balancer, each applies the limit on its own.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { tooManyRequests } from '../core/outcomes.js';

/** The limit: requests per second per client (0: no limit) and the bucket's size. */
export interface RateLimit {
  rate: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets not touched for this long are full again and are dropped. */
const IDLE_MS = 60_000;

/** Token buckets keyed by client. */
export class RateLimiter {
  private buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(private readonly limit: RateLimit) {}

  /** Takes one token for `key`: 0 when allowed, else the seconds to wait before the next one. */
  take(key: string): number {
    const now = performance.now();
    this.sweep(now);
    const { rate, burst } = this.limit;
    const bucket = this.buckets.get(key);
    const tokens = bucket ? Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate) : burst;
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, at: now });
      return 0;
    }
    this.buckets.set(key, { tokens, at: now });
    return Math.max(1, Math.ceil((1 - tokens) / rate));
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < IDLE_MS) return;
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) if (now - bucket.at > IDLE_MS) this.buckets.delete(key);
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
    const wait = limiter.take(key);
    if (wait > 0) throw tooManyRequests(`Too many requests from this client; retry in ${wait} s`, wait);
    return next();
  };
}

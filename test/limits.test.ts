/** Limits: a statement that runs too long is cancelled (503) and the connection serves on; the rate limit, shared through Redis and kept in memory when Redis is away. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toFhirError } from '../src/core/outcomes.js';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { createTestDatabase, freePort, startTestGateway, type TestGateway } from './helpers.js';

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ config: { statementTimeoutMs: 300, poolSize: 1 } });
});
afterAll(() => t.close());

describe('statement timeout', () => {
  it('cancels a statement over the limit (503), and the pool serves the next request', async () => {
    const started = Date.now();
    const err = await t.gateway.db.query('SELECT pg_sleep(5)').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect((err as { code?: string }).code).toBe('57014');
    expect(toFhirError(err)?.status).toBe(503);
    expect((await t.http.get('/fhir/metadata')).status).toBe(200);
    expect((await t.gateway.db.query<{ one: number }>('SELECT 1 AS one')).rows[0].one).toBe(1);
  });
});

describe('rate limit', () => {
  let limited: TestGateway;
  beforeAll(async () => {
    limited = await startTestGateway({ config: { rateLimit: { rate: 2, burst: 5 } } });
  });
  afterAll(() => limited.close());

  it('answers 429 with Retry-After once a client has spent its burst, and not to another client', async () => {
    const [tokenA, tokenB] = await Promise.all([limited.tokenFor(['prescriber'], 'http://finess.sante.gouv.fr|750000001'), limited.tokenFor(['prescriber'], 'http://finess.sante.gouv.fr|750000002')]);
    // Each request takes one token, whether under /fhir or /fhir/…
    const statuses: number[] = [];
    for (const path of ['/fhir/metadata', '/fhir/Patient', '/fhir/metadata', '/fhir/Patient', '/fhir/metadata']) {
      statuses.push((await limited.http.get(path).set('Authorization', `Bearer ${tokenA}`)).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const over = await limited.http.get('/fhir/Patient').set('Authorization', `Bearer ${tokenA}`);
    expect(over.status).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(over.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'throttled' }] });
    // Another client has its own bucket.
    expect((await limited.http.get('/fhir/Patient').set('Authorization', `Bearer ${tokenB}`)).status).toBe(200);
    // The bucket refills at the configured rate.
    await new Promise((r) => setTimeout(r, Number(over.headers['retry-after']) * 1000));
    expect((await limited.http.get('/fhir/Patient').set('Authorization', `Bearer ${tokenA}`)).status).toBe(200);
  });

  it('limits anonymous callers by address, token requests included', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      statuses.push((await limited.http.post('/oauth2/token').type('form').send({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'wrong' })).status);
    }
    // The address's bucket may already be partly spent by the token requests of the test above.
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(3);
    expect(statuses.filter((s) => s !== 429).every((s) => s === 401 || s === 400)).toBe(true);
  });
});

describe('rate limit shared through Redis', () => {
  it('counts a client once over two API processes sharing Redis', async () => {
    const config = { databaseUrl: await createTestDatabase(), queuePrefix: `test-${randomUUID()}`, rateLimit: { rate: 1, burst: 4 } };
    const [a, b] = [await startTestGateway({ config }), await startTestGateway({ config })];
    try {
      const token = await a.tokenFor(['prescriber'], 'http://finess.sante.gouv.fr|750000001');
      const statuses: number[] = [];
      for (const gateway of [a, b, a, b, a, b]) statuses.push((await gateway.http.get('/fhir/Patient').set('Authorization', `Bearer ${token}`)).status);
      // Counted in each process, each would have let 4 through.
      expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('still applies the limit, in this process, when Redis refuses connections or accepts them and stays silent', async () => {
    // A "Redis" that accepts connections and never says a word: a request must not wait on it.
    const silent = net.createServer(() => undefined).listen(0, '127.0.0.1');
    await new Promise((resolve) => silent.once('listening', resolve));
    const urls = [`redis://127.0.0.1:${await freePort()}`, `redis://127.0.0.1:${(silent.address() as net.AddressInfo).port}`];
    try {
      for (const redisUrl of urls) {
        const away = await startTestGateway({ config: { redisUrl, rateLimit: { rate: 1, burst: 3 } } });
        try {
          const token = await away.tokenFor(['prescriber'], 'http://finess.sante.gouv.fr|750000001');
          const statuses: number[] = [];
          for (let i = 0; i < 5; i++) statuses.push((await away.http.get('/fhir/Patient').set('Authorization', `Bearer ${token}`)).status);
          expect(statuses, redisUrl).toEqual([200, 200, 200, 429, 429]);
        } finally {
          await away.close();
        }
      }
    } finally {
      silent.close();
    }
  });
});

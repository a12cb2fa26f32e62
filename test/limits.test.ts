/** Limits: a statement that runs too long is cancelled by PostgreSQL and answered 503, and the connection serves on. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toFhirError } from '../src/fhir/outcomes.js';
import { startTestGateway, type TestGateway } from './helpers.js';

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

/** Test harness: a real gateway on a fresh PostgreSQL database and real Redis, driven over HTTP. */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import supertest from 'supertest';
import { inject } from 'vitest';
import type { Extension, Patient } from '@medplum/fhirtypes';
import { createClient } from '../src/auth/clients.js';
import { loadConfig, type Config } from '../src/config.js';
import type { Clock } from '../src/domain/clock.js';
import type { Role } from '../src/core/principal.js';
import { createLogger, type Logger } from '../src/logger.js';
import { start, type Gateway } from '../src/main.js';
import type { QueueDefinition } from '../src/queues/registry.js';
import { IDENTITY_RELIABILITY_URL, IDENTITY_STATUS_SYSTEM, insKey } from '../mappings/ins.js';

/** A fresh database cloned from the run's migrated template; returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const admin = new pg.Client({ connectionString: inject('postgresAdminUrl') });
  await admin.connect();
  const name = `${inject('templateDatabase')}_${randomBytes(4).toString('hex')}`;
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${inject('templateDatabase')}`);
  } finally {
    await admin.end();
  }
  const url = new URL(inject('postgresAdminUrl'));
  url.pathname = `/${name}`;
  return url.toString();
}

/** Configuration of a test gateway: its own database, its own queue prefix, a random port. */
export function loadTestConfig(overrides: Partial<Config> = {}): Config {
  return {
    ...loadConfig({}),
    port: 0,
    host: '127.0.0.1',
    baseUrl: 'http://aiguillage.test',
    redisUrl: inject('redisUrl'),
    queuePrefix: `test-${randomUUID()}`,
    logLevel: 'silent',
    reconcileIntervalMs: 60_000,
    // Tests fire requests as fast as they can; the rate-limit test turns the limit on.
    rateLimit: { rate: 0, burst: 0 },
    ...overrides,
  };
}

/** A running test gateway and ways to talk to it. */
export interface TestGateway {
  gateway: Gateway;
  http: supertest.Agent;
  /** A bearer token of a new client with these roles and organization. */
  tokenFor(roles: Role[], organization?: string): Promise<string>;
  close(): Promise<void>;
}

/** Starts a gateway on a fresh database (or the given config). */
export async function startTestGateway(
  options: { config?: Partial<Config>; workers?: boolean; clock?: Clock; queueDefinitions?: QueueDefinition<never>[]; logger?: Logger } = {}
): Promise<TestGateway> {
  const config = loadTestConfig({ databaseUrl: options.config?.dataDir ? undefined : await createTestDatabase(), ...options.config });
  const gateway = await start(config, {
    api: true,
    workers: options.workers ?? false,
    clock: options.clock,
    logger: options.logger ?? createLogger((process.env.TEST_LOG_LEVEL as 'silent' | undefined) ?? 'silent'), // TEST_LOG_LEVEL=error to see what a test's gateway logs
    queueDefinitions: options.queueDefinitions,
  });
  const http = supertest.agent(gateway.server as NonNullable<Gateway['server']>);
  return {
    gateway,
    http,
    async tokenFor(roles, organization) {
      const client = await createClient(gateway.db, { name: `test-${roles.join('-')}`, roles, organization });
      const res = await supertest(gateway.server as NonNullable<Gateway['server']>)
        .post('/oauth2/token')
        .type('form')
        .send({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret });
      if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.access_token as string;
    },
    close: () => gateway.shutdown(),
  };
}

/** A valid INS-NIR (15 characters, its key computed), different at each call. */
export function testNir(): string {
  let digits = '1';
  for (let i = 0; i < 12; i++) digits += String(randomBytes(1)[0] % 10);
  return `${digits}${String(insKey(digits)).padStart(2, '0')}`;
}

/** FR Core's identity reliability extension declaring a status. */
export function identityStatusOf(system: string, code: string): Extension {
  return { url: IDENTITY_RELIABILITY_URL, extension: [{ url: 'identityStatus', valueCoding: { system, code } }] };
}

/** A qualified identity, the only one that carries an INS. */
export const QUALIFIED_IDENTITY = identityStatusOf(IDENTITY_STATUS_SYSTEM, 'QUAL');

/** A valid FR Core Patient, qualified identity, with a fresh INS-NIR and IPP. */
export function testPatient(overrides: Partial<Patient> = {}): Patient {
  return {
    resourceType: 'Patient',
    extension: [QUALIFIED_IDENTITY],
    identifier: [
      { system: 'urn:oid:1.2.250.1.213.1.4.8', value: testNir(), use: 'official' },
      { system: 'urn:oid:1.2.250.1.71.4.2.7.750000001', value: `IPP-${randomUUID().slice(0, 8)}` },
    ],
    name: [{ use: 'official', family: 'Dupont', given: ['Jeanne'] }],
    gender: 'female',
    birthDate: '1940-03-12',
    ...overrides,
  };
}

/** The `application/fhir+json` content type. */
export const FHIR_JSON = 'application/fhir+json';

/** A TCP port free right now on 127.0.0.1 (for a server a test starts later, or never). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `probe` every 50 ms until it gives something truthy; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

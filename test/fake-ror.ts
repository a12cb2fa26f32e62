/**
 * A fake ROR FHIR API for tests: OAuth2 tokens that expire, the four Ror-*
 * headers required, bulk `$export` (kick-off, status polls, JSON files) and
 * paged `HealthcareService?_lastUpdated=ge…` deltas with included
 * organizations and locations, over a generated directory; and faults on
 * demand (429, 503, revoked tokens).
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { NOT_THE_GATEWAY } from './guard-marker.js';
import type { Bundle, HealthcareService, Location, Organization, Resource } from '@medplum/fhirtypes';

export const ROR_HEADERS = {
  'Ror-Profil-Utilisateur-Code': 'AIG',
  'Ror-Profil-Utilisateur-System': 'https://mos.esante.gouv.fr/NOS/TRE_R320-ProfilUtilisateur',
  'Ror-Role-Metier-Code': 'CONSULT',
  'Ror-Role-Metier-System': 'https://mos.esante.gouv.fr/NOS/TRE_R321-RoleMetier',
};

/** The environment that points a gateway process at a fake ROR. */
export function rorEnv(fake: Pick<FakeRor, 'url' | 'tokenUrl' | 'clientId' | 'clientSecret'>): Record<string, string> {
  return {
    ROR_BASE_URL: fake.url,
    ROR_TOKEN_URL: fake.tokenUrl,
    ROR_CLIENT_ID: fake.clientId,
    ROR_CLIENT_SECRET: fake.clientSecret,
    ROR_PROFIL_UTILISATEUR_CODE: ROR_HEADERS['Ror-Profil-Utilisateur-Code'],
    ROR_PROFIL_UTILISATEUR_SYSTEM: ROR_HEADERS['Ror-Profil-Utilisateur-System'],
    ROR_ROLE_METIER_CODE: ROR_HEADERS['Ror-Role-Metier-Code'],
    ROR_ROLE_METIER_SYSTEM: ROR_HEADERS['Ror-Role-Metier-System'],
  };
}

/** What the fake serves and how it misbehaves. */
export interface FakeRor {
  url: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  organizations: Organization[];
  locations: Location[];
  services: HealthcareService[];
  /** Faults to inject on the next FHIR requests. */
  faults: { tooMany: number; unavailable: number; revokeTokens: boolean };
  counters: { tokens: number; fhirRequests: number; exportKickOffs: number; unauthorized: number; fileDownloads: number };
  /** Changes a unit (new name, newer lastUpdated), as the ROR would. */
  touch(index: number, name: string): void;
  close(): Promise<void>;
}

const BASE_TIME = Date.parse('2025-01-01T00:00:00Z');

function generate(counts: { organizations: number; locations: number; services: number }): Pick<FakeRor, 'organizations' | 'locations' | 'services'> {
  const organizations: Organization[] = Array.from({ length: counts.organizations }, (_, i) => ({
    resourceType: 'Organization',
    id: `org-${i}`,
    meta: { lastUpdated: new Date(BASE_TIME + i * 1000).toISOString() },
    identifier: [{ system: 'https://finess.esante.gouv.fr', value: `9${String(i).padStart(8, '0')}` }],
    active: true,
    name: `Structure ${i}`,
  }));
  const locations: Location[] = Array.from({ length: counts.locations }, (_, i) => ({
    resourceType: 'Location',
    id: `loc-${i}`,
    meta: { lastUpdated: new Date(BASE_TIME + i * 1000).toISOString() },
    name: `Lieu ${i}`,
    position: { latitude: 43 + (i % 100) / 100, longitude: 2 + (i % 50) / 50 },
    managingOrganization: { reference: `Organization/org-${i % counts.organizations}` },
  }));
  const services: HealthcareService[] = Array.from({ length: counts.services }, (_, i) => ({
    resourceType: 'HealthcareService',
    id: `hs-${i}`,
    meta: { lastUpdated: new Date(BASE_TIME + i * 1000).toISOString(), tag: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM', code: '76' }] },
    identifier: [{ type: { coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_R355-TypeIdentifiantOffre/FHIR/TRE-R355-TypeIdentifiantOffre', code: '35' }] }, value: `76/${i}` }],
    active: true,
    name: `Offre ${i}`,
    providedBy: { reference: `Organization/org-${i % counts.organizations}` },
    location: [{ reference: `Location/loc-${i % counts.locations}` }],
  }));
  return { organizations, locations, services };
}

/** Starts the fake on a random local port. */
export async function startFakeRor(options: { organizations?: number; locations?: number; services?: number; exportPolls?: number; tokenTtl?: number; extraExportResources?: Resource[] } = {}): Promise<FakeRor> {
  const data = generate({ organizations: options.organizations ?? 20, locations: options.locations ?? 30, services: options.services ?? 100 });
  const tokens = new Map<string, number>();
  const exportsPolled = new Map<string, number>();
  let url = '';
  const fake: FakeRor = {
    url: '',
    tokenUrl: '',
    clientId: 'aiguillage',
    clientSecret: 's3cret',
    ...data,
    faults: { tooMany: 0, unavailable: 0, revokeTokens: false },
    counters: { tokens: 0, fhirRequests: 0, exportKickOffs: 0, unauthorized: 0, fileDownloads: 0 },
    touch(index, name) {
      const service = fake.services[index];
      fake.services[index] = { ...service, name, meta: { ...service.meta, lastUpdated: new Date(Date.now() + 1000).toISOString() } };
    },
    close: async () => undefined,
  };

  const app = new Hono();
  // The guard of R4 bodies checks the gateway's answers, not this double's.
  app.use('*', async (c, next) => {
    await next();
    c.header(NOT_THE_GATEWAY, '1');
  });
  app.post('/token', async (c) => {
    const basic = Buffer.from((c.req.header('authorization') ?? '').replace(/^Basic /, ''), 'base64').toString();
    const form = new URLSearchParams(await c.req.text());
    if (basic !== `${fake.clientId}:${fake.clientSecret}` || form.get('grant_type') !== 'client_credentials') return c.json({ error: 'invalid_client' }, 401);
    const token = randomUUID();
    const ttl = options.tokenTtl ?? 3600;
    tokens.set(token, Date.now() + ttl * 1000);
    fake.counters.tokens++;
    return c.json({ access_token: token, token_type: 'Bearer', expires_in: ttl });
  });

  app.use('*', async (c, next) => {
    if (c.req.path === '/token') return next();
    fake.counters.fhirRequests++;
    if (fake.faults.tooMany > 0) {
      fake.faults.tooMany--;
      return c.json({ resourceType: 'OperationOutcome' }, 429, { 'Retry-After': '0' });
    }
    if (fake.faults.unavailable > 0) {
      fake.faults.unavailable--;
      return c.text('upstream down', 503);
    }
    if (fake.faults.revokeTokens) {
      tokens.clear();
      fake.faults.revokeTokens = false;
    }
    const token = (c.req.header('authorization') ?? '').replace(/^Bearer /, '');
    const expiry = tokens.get(token);
    if (!expiry || expiry < Date.now()) {
      fake.counters.unauthorized++;
      return c.json({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] }, 401);
    }
    for (const [name, value] of Object.entries(ROR_HEADERS)) {
      if (c.req.header(name) !== value) return c.json({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden', diagnostics: `missing ${name}` }] }, 403);
    }
    return next();
  });

  app.get('/fhir/*', (c) => {
    const path = c.req.path.replace(/^\/fhir\//, '');
    if (path === '$export') {
      if (!/respond-async/.test(c.req.header('prefer') ?? '')) return c.json({ resourceType: 'OperationOutcome' }, 400);
      fake.counters.exportKickOffs++;
      const id = randomUUID();
      exportsPolled.set(id, 0);
      return c.body(null, 202, { 'Content-Location': `${url}/export-status/${id}` });
    }
    if (path === 'HealthcareService') {
      const ge = Date.parse(c.req.query('_lastUpdated')?.replace(/^ge/, '') ?? '1970-01-01');
      const count = Number(c.req.query('_count') ?? 50);
      const page = Number(c.req.query('_page') ?? 0);
      const matching = fake.services.filter((s) => Date.parse(s.meta?.lastUpdated ?? '') >= ge).sort((a, b) => Date.parse(a.meta?.lastUpdated ?? '') - Date.parse(b.meta?.lastUpdated ?? '') || (a.id as string).localeCompare(b.id as string));
      const slice = matching.slice(page * count, (page + 1) * count);
      const included = new Map<string, Resource>();
      for (const s of slice) {
        const org = fake.organizations.find((o) => `Organization/${o.id}` === s.providedBy?.reference);
        if (org) included.set(`Organization/${org.id}`, org);
        for (const l of s.location ?? []) {
          const loc = fake.locations.find((x) => `Location/${x.id}` === l.reference);
          if (loc) included.set(`Location/${loc.id}`, loc);
        }
      }
      const next = (page + 1) * count < matching.length ? `${url}/fhir/HealthcareService?${new URLSearchParams({ ...c.req.query(), _page: String(page + 1) }).toString()}` : undefined;
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'searchset',
        total: matching.length,
        link: [{ relation: 'self', url: c.req.url }, ...(next ? [{ relation: 'next', url: next }] : [])],
        entry: [...slice.map((r) => ({ resource: r, search: { mode: 'match' as const } })), ...[...included.values()].map((r) => ({ resource: r, search: { mode: 'include' as const } }))],
      };
      return c.json(bundle);
    }
    return c.json({ resourceType: 'OperationOutcome' }, 404);
  });

  app.get('/export-status/:id', (c) => {
    const polls = exportsPolled.get(c.req.param('id'));
    if (polls === undefined) return c.json({ resourceType: 'OperationOutcome' }, 404);
    if (polls < (options.exportPolls ?? 2)) {
      exportsPolled.set(c.req.param('id'), polls + 1);
      return c.body(null, 202, { 'X-Progress': `${polls * 30}%`, 'Retry-After': '0' });
    }
    const half = Math.ceil(fake.services.length / 2);
    return c.json({
      transactionTime: new Date().toISOString(),
      request: `${url}/fhir/$export`,
      requiresAccessToken: true,
      output: [
        { type: 'Organization', url: `${url}/files/Organization` },
        { type: 'Location', url: `${url}/files/Location` },
        { type: 'HealthcareService', url: `${url}/files/HealthcareService-1?from=0&to=${half}` },
        { type: 'HealthcareService', url: `${url}/files/HealthcareService-2?from=${half}&to=${fake.services.length}` },
      ],
      error: [],
    });
  });

  app.get('/files/:name', (c) => {
    const name = c.req.param('name');
    fake.counters.fileDownloads++;
    let resources: Resource[];
    if (name === 'Organization') resources = fake.organizations;
    else if (name === 'Location') resources = fake.locations;
    else resources = [...fake.services.slice(Number(c.req.query('from')), Number(c.req.query('to'))), ...(name === 'HealthcareService-2' ? (options.extraExportResources ?? []) : [])];
    // "json, not ndjson": one Bundle per file.
    return c.json({ resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) });
  });

  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  await new Promise<void>((resolve) => server.once('listening', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.url = `${url}/fhir`;
  fake.tokenUrl = `${url}/token`;
  fake.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return fake;
}

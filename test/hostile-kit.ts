/**
 * Tools of the hostile-input tests: a raw HTTP client (exact bytes, exact
 * headers, no client-side clean-up of paths or bodies) that counts what it
 * sends, the checks every refusal must pass, and a fingerprint of every table
 * of the database to prove a refused request stored nothing.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { Communication, Location, Practitioner, PractitionerRole, Questionnaire, Resource, ServiceRequest, Subscription, Task } from '@medplum/fhirtypes';
import { expect } from 'vitest';
import type { Config } from '../src/config.js';
import { runImport } from '../src/domain/decision/import-run.js';
import { fromRoot } from '../src/paths.js';
import type { Database } from '../src/store/db.js';
import { startTestGateway, testPatient, type TestGateway } from './helpers.js';
import { as, FINESS, makeWorld, message, submit, volet, type World } from './referral-world.js';

/** The fixed seed of every property, so a failure replays (override with HOSTILE_SEED). */
export const SEED = Number(process.env.HOSTILE_SEED ?? 0x6a1d6e);

/** A request as sent on the wire. */
export interface RawRequest {
  method: string;
  /** Sent as is: percent-encode what must be. */
  path: string;
  headers?: Record<string, string | undefined>;
  body?: string | Uint8Array;
  /** Send the body with `Transfer-Encoding: chunked` (no Content-Length). */
  chunked?: boolean;
  /** On a connection of its own (a server may close one whose body it did not read, e.g. after a 413). */
  fresh?: boolean;
}

/** An answer: status, headers, text, and the parsed JSON body when it is JSON. */
export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** Whatever JSON came back: the assertions read into it. */
  body: any;
}

/** Sends raw requests to a gateway and counts them. */
export class HostileClient {
  /** Requests sent so far. */
  sent = 0;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

  constructor(readonly port: number) {}

  /** Sends one request and reads the whole answer. */
  send(request: RawRequest): Promise<Answer> {
    this.sent++;
    const body = typeof request.body === 'string' ? Buffer.from(request.body, 'utf8') : request.body;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(request.headers ?? {})) if (v !== undefined) headers[k] = v;
    if (body && !request.chunked) headers['Content-Length'] = String(body.length);
    if (body && request.chunked) headers['Transfer-Encoding'] = 'chunked';
    if (request.fresh) headers.Connection = 'close';
    return new Promise((resolve, reject) => {
      let answered = false;
      const req = http.request({ host: '127.0.0.1', port: this.port, method: request.method, path: request.path, headers, agent: request.fresh ? false : this.agent }, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
        });
      });
      // A server may answer (413) before it has read a large body, and close: that is its right.
      req.on('error', (err) => {
        if (!answered) reject(err);
      });
      if (body && request.chunked) {
        for (let i = 0; i < body.length; i += 16_384) req.write(body.subarray(i, i + 16_384));
        req.end();
      } else {
        req.end(body);
      }
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** How a request is named in failure messages. */
export function describeRequest(request: RawRequest): string {
  const body = request.body === undefined ? '' : typeof request.body === 'string' ? request.body : Buffer.from(request.body).toString('latin1');
  return `${request.method} ${request.path.length > 300 ? `${request.path.slice(0, 300)}…` : request.path}${body ? ` body ${JSON.stringify(body.length > 200 ? `${body.slice(0, 200)}…` : body)}` : ''}`;
}

function shown(res: Answer): string {
  return `${res.status} ${res.text.length > 400 ? `${res.text.slice(0, 400)}…` : res.text}`;
}

/**
 * A refusal: a 4xx status (one of `statuses` when given) whose body is a
 * FHIR OperationOutcome with at least one error issue. Never a 5xx.
 */
export function expectOutcome(res: Answer, what: string, statuses?: readonly number[]): void {
  expect(res.status, `${what} → ${shown(res)}`).toBeGreaterThanOrEqual(400);
  expect(res.status, `${what} → ${shown(res)}`).toBeLessThan(500);
  if (statuses) expect(statuses, `${what} → ${shown(res)}`).toContain(res.status);
  expect(res.headers['content-type'], `${what} → ${shown(res)}`).toMatch(/^application\/fhir\+json/);
  expect(res.body?.resourceType, `${what} → ${shown(res)}`).toBe('OperationOutcome');
  expect(Array.isArray(res.body.issue) && res.body.issue.length > 0, `${what} → ${shown(res)}`).toBe(true);
  expect(
    res.body.issue.some((i: { severity?: string; code?: string }) => (i.severity === 'error' || i.severity === 'fatal') && typeof i.code === 'string'),
    `${what} → ${shown(res)}`
  ).toBe(true);
}

/** An OAuth2 error of the token endpoint (RFC 6749 §5.2): `{"error", "error_description"}`, not cached. */
export function expectOAuthError(res: Answer, what: string, status: 400 | 401, error?: string): void {
  expect(res.status, `${what} → ${shown(res)}`).toBe(status);
  expect(res.headers['content-type'], `${what} → ${shown(res)}`).toMatch(/^application\/json/);
  expect(res.headers['cache-control'], what).toBe('no-store');
  expect(typeof res.body?.error, `${what} → ${shown(res)}`).toBe('string');
  if (error) expect(res.body.error, `${what} → ${shown(res)}`).toBe(error);
  expect(typeof res.body.error_description, `${what} → ${shown(res)}`).toBe('string');
  expect(res.body.access_token, what).toBeUndefined();
}

/** A 200 search answer: a searchset Bundle whose `match` entries are returned. */
export function searchMatches(res: Answer, what: string): unknown[] {
  expect(res.status, `${what} → ${shown(res)}`).toBe(200);
  expect(res.body?.resourceType, `${what} → ${shown(res)}`).toBe('Bundle');
  expect(res.body.type, what).toBe('searchset');
  return (res.body.entry ?? []).filter((e: { search?: { mode?: string } }) => e.search?.mode === 'match');
}

/**
 * Tables a refused request may change, with the reason. Only the audit trail:
 * DESIGN.md wants every interaction with patient data audited, refusals
 * included (AuditEvent outcome 4). It is checked instead as append-only: its
 * earlier rows unchanged, and every new row the record of a refusal (a 4xx
 * status, outcome not success).
 */
export const MAY_CHANGE_ON_REFUSAL: ReadonlyMap<string, string> = new Map([
  ['audit_event', 'refusals of patient-data requests are audited (append-only, checked apart)'],
  ['claim_failure', 'failed $claims are counted, for the lockout of brute force (issue 13)'],
]);

/** The state of the database at one moment. */
export interface Snapshot {
  /** Per table (from information_schema, so a table added later is covered too): row count and an md5 of every row, in a stable order. */
  tables: Record<string, string>;
  /** Ids of the audit rows that existed then, and an md5 of them. */
  auditIds: string[];
  auditState: string;
}

/** The audit rows' state, but for the counters of aggregated refusals (unauthenticated callers), which grow with each. */
const AUDIT_STATE = `SELECT count(*) || ' rows ' || coalesce(md5(string_agg((to_jsonb(x) - 'count' - 'last_recorded')::text, '|' ORDER BY x.id)), '-') AS state FROM audit_event x`;

/** Takes a snapshot of every table but those of MAY_CHANGE_ON_REFUSAL. */
export async function snapshot(db: Database): Promise<Snapshot> {
  const { rows: tables } = await db.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
  );
  const wanted = tables.map((t) => t.name).filter((name) => !MAY_CHANGE_ON_REFUSAL.has(name));
  const quoted = (name: string): string => `"${name.replace(/"/g, '""')}"`;
  const literal = (name: string): string => `'${name.replace(/'/g, "''")}'`;
  const { rows } = await db.query<{ name: string; state: string }>(
    wanted
      .map((name) => `SELECT ${literal(name)} AS name, count(*) || ' rows ' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') AS state FROM ${quoted(name)} x`)
      .join(' UNION ALL ')
  );
  const audited = tables.some((t) => t.name === 'audit_event');
  // Ids and state in one statement, so that they describe the same rows.
  const audit = audited
    ? (await db.query<{ ids: string[] | null; state: string }>(`SELECT (SELECT array_agg(id) FROM audit_event x) AS ids, (${AUDIT_STATE}) AS state`)).rows[0]
    : { ids: [], state: '' };
  const auditIds = audit.ids ?? [];
  const auditState = audit.state;
  return { tables: Object.fromEntries(rows.map((r) => [r.name, r.state])), auditIds, auditState };
}

/**
 * Checks that nothing changed since `before`: every table the same, and the
 * audit trail only grown by records of refusals.
 */
export async function expectUnchanged(db: Database, before: Snapshot, what = 'the database changed'): Promise<void> {
  const after = await snapshot(db);
  expect(after.tables, what).toEqual(before.tables);
  if (after.auditState !== '') {
    const old = await db.query<{ state: string }>(`${AUDIT_STATE} WHERE x.id = ANY($1::text[])`, [before.auditIds]);
    expect(old.rows[0].state, `${what}: earlier audit events changed`).toBe(before.auditState);
    // New events: refusals, or reads (a lenient search, an empty page); never a write that went through, never a 5xx.
    const { rows } = await db.query<{ action: string; interaction: string; outcome: string; status: number; detail: string | null }>(
      `SELECT action, interaction, outcome, status, detail FROM audit_event WHERE NOT (id = ANY($1::text[])) AND (status >= 500 OR (status < 400 AND action <> 'R'))`,
      [before.auditIds]
    );
    expect(rows, `${what}: audit events of writes that went through, or of server errors`).toEqual([]);
  }
}
/** Percent-encodes every byte of a string's UTF-8 form except unreserved characters (lone surrogates as their WTF-8 bytes). */
export function encodeAll(value: string): string {
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0) as number;
    if (/^[A-Za-z0-9\-._~]$/.test(char)) {
      out += char;
    } else if (code >= 0xd800 && code <= 0xdfff) {
      // A lone surrogate has no UTF-8 form: send the 3 bytes a careless encoder would (invalid UTF-8).
      out += [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else {
      out += [...Buffer.from(char, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
    }
  }
  return out;
}

/** Runs `tasks` with at most `width` at a time. */
export async function inParallel<T>(items: readonly T[], width: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/** The MDPH naming system of MDPH clients' organizations. */
export const MDPH = 'https://aiguillage.org/fhir/NamingSystem/mdph';

/** A gateway with data of every kind, tokens of every side, and a counting raw client. */
export interface HostileWorld {
  t: TestGateway;
  w: World;
  client: HostileClient;
  tokens: { admin: string; prescriber: string; unit: string; ror: string; mdph: string; esms: string };
  /** Ids of stored resources. */
  ids: { patient: string; request: string; task: string; otherTask: string; volet: string; message: string; subscription: string; location: string; decision: string; documentReference: string; consent: string; binary: string; practitioner: string; practitionerRole: string; questionnaire: string };
  /** A valid resource of each supported type (its ids and references pointing at stored data). */
  valid: Record<string, Resource>;
  /** Runs `fn`, then checks that the database is as it was (see expectUnchanged). */
  unchanged(fn: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

/** Starts a gateway (with `config`) and fills it: directory, an admission request with its tasks, a message, a subscription, MDPH decisions. */
export async function hostileWorld(config: Partial<Config> = {}): Promise<HostileWorld> {
  const t = await startTestGateway({ config });
  const w = await makeWorld(t);
  const admin = as(w, w.admin);
  const ok = (res: { status: number; body: unknown }, what: string): void => {
    if (res.status >= 300) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
  };
  const location: Location = {
    resourceType: 'Location',
    id: 'site-1',
    name: 'Site Paris 12',
    status: 'active',
    managingOrganization: { reference: 'Organization/chu' },
    address: { postalCode: '75012', city: 'Paris' },
    position: { latitude: 48.84, longitude: 2.39 },
  };
  ok(await admin.put('Location/site-1', location), 'location');
  const practitioner: Practitioner = { resourceType: 'Practitioner', id: 'ps-1', identifier: [{ system: 'urn:oid:1.2.250.1.71.4.2.1', value: '810000000099' }], name: [{ family: 'Martin', given: ['Claire'] }] };
  ok(await admin.put('Practitioner/ps-1', practitioner), 'practitioner');
  const role: PractitionerRole = { resourceType: 'PractitionerRole', id: 'role-1', practitioner: { reference: 'Practitioner/ps-1' }, organization: { reference: 'Organization/chu' }, healthcareService: [{ reference: 'HealthcareService/smr' }] };
  ok(await admin.put('PractitionerRole/role-1', role), 'practitioner role');
  const sheet: Questionnaire = { resourceType: 'Questionnaire', id: 'fiche-1', status: 'active', name: 'FicheSmr', title: 'Fiche de consignes SMR', item: [{ linkId: 'nom', text: 'Nom', type: 'string' }] };
  ok(await admin.put('Questionnaire/fiche-1', sheet), 'questionnaire');
  const { requestId, patientId, tasks } = await submit(w, ['smr', 'had']);
  const note = await as(w, w.prescriber).post('Communication', message(tasks.smr.id as string, 'Bonjour'));
  ok(note, 'message');
  const subscription: Subscription = {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'suivi',
    criteria: 'Task?status=requested',
    channel: { type: 'rest-hook', endpoint: 'https://hooks.example.org/aiguillage', payload: 'application/fhir+json' },
  };
  const subscribed = await as(w, w.prescriber).post('Subscription', subscription);
  ok(subscribed, 'subscription');
  const request = (await admin.get(`ServiceRequest/${requestId}`)).body as ServiceRequest;
  const voletRef = request.supportingInfo?.[2]?.reference as string;
  const task = (await admin.get(`Task/${tasks.smr.id}`)).body as Task;

  // Orientation decisions of MDPH 75, imported as the gateway does it (the worker's function, run here).
  const mdph = await t.tokenFor(['mdph'], `${MDPH}|75`);
  const upload = await t.http
    .post('/fhir/$import-decisions')
    .set('Authorization', `Bearer ${mdph}`)
    .set('Prefer', 'respond-async')
    .set('Content-Type', 'text/csv')
    // With a decision for the world's ESMS under the identifiers the SDO guide's examples name (idDecision, idNat_Decision).
    .send(`${fs.readFileSync(fromRoot('fixtures/decisions/valid.csv'), 'utf8').trimEnd()}\nS002;2001-02-02;Test;Michel;M;idDecision;idNat_Decision;255;2025-01-01;2029-12-31;;;0;750000201\n`);
  ok(upload, 'decision upload');
  await runImport({ db: t.gateway.db, clock: t.gateway.services.clock }, (upload.headers['content-location'] as string).split('/').pop() as string);
  const decisions = await admin.get('ServiceRequest?department=75&_count=1');
  const decision = decisions.body.entry?.[0]?.resource?.id as string;
  if (!decision) throw new Error('no decision imported');

  // The SDO guide's DocumentReference and Consent, written by the ESMS about that decision.
  const esms = await t.tokenFor(['esms'], `${FINESS}|750000201`);
  const sdoExample = (file: string): Resource => JSON.parse(fs.readFileSync(fromRoot(`fixtures/sdo/${file}`), 'utf8')) as Resource;
  const sdoDocuments: Record<string, Resource> = { DocumentReference: sdoExample('sdo-SDODocumentReference.json'), Consent: sdoExample('sdo-ESMSConsent.json') };
  const sdoIds: Record<string, string> = {};
  for (const [type, body] of Object.entries(sdoDocuments)) {
    const created = await as(w, esms).post(type, body);
    ok(created, type);
    sdoIds[type] = created.body.id as string;
  }

  // A document of the hospital's (Binary), as FHIR JSON.
  const binary = await as(w, w.prescriber).post('Binary', { resourceType: 'Binary', contentType: 'text/plain', data: Buffer.from('Synthèse').toString('base64') });
  ok(binary, 'Binary');

  const valid: Record<string, Resource> = {
    ...sdoDocuments,
    Patient: testPatient(),
    Organization: { resourceType: 'Organization', name: 'Clinique Nouvelle', identifier: [{ system: FINESS, value: '750009999' }] },
    HealthcareService: { resourceType: 'HealthcareService', name: 'Unité nouvelle', providedBy: { reference: 'Organization/chu' } },
    Location: { ...location, id: undefined, name: 'Site nouveau' } as Location,
    Practitioner: { ...practitioner, id: undefined, identifier: [{ system: 'urn:oid:1.2.250.1.71.4.2.1', value: '810000000098' }] } as Practitioner,
    PractitionerRole: { ...role, id: undefined } as PractitionerRole,
    Questionnaire: { ...sheet, id: undefined, name: 'FicheNouvelle' } as Questionnaire,
    ServiceRequest: { ...request, id: undefined, meta: undefined, identifier: undefined } as ServiceRequest,
    Task: task,
    QuestionnaireResponse: volet('administrative', `Patient/${patientId}`),
    Communication: message(tasks.smr.id as string, 'Encore') as Communication,
    Subscription: subscription,
    Binary: { resourceType: 'Binary', contentType: 'text/plain', data: Buffer.from('Compte rendu de consultation').toString('base64') } as Resource,
  };
  const client = new HostileClient(t.gateway.port as number);
  return {
    t,
    w,
    client,
    tokens: {
      admin: w.admin,
      prescriber: w.prescriber,
      unit: w.unit.smr,
      ror: await t.tokenFor(['ror']),
      mdph,
      esms,
    },
    ids: {
      patient: patientId,
      request: requestId,
      task: tasks.smr.id as string,
      otherTask: tasks.had.id as string,
      volet: voletRef.split('/')[1],
      message: note.body.id as string,
      subscription: subscribed.body.id as string,
      location: 'site-1',
      decision,
      documentReference: sdoIds.DocumentReference,
      consent: sdoIds.Consent,
      binary: binary.body.id as string,
      practitioner: 'ps-1',
      practitionerRole: 'role-1',
      questionnaire: 'fiche-1',
    },
    valid,
    async unchanged(fn) {
      const before = await snapshot(t.gateway.db);
      await fn();
      await expectUnchanged(t.gateway.db, before);
    },
    async close() {
      client.close();
      await t.close();
    },
  };
}

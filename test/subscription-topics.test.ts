/**
 * Topic-based subscriptions (R4 Subscriptions Backport IG) for every party:
 * a unit, a prescriber, an ESMS and an MDPH subscribe, are away while things
 * happen, come back, and are sent every event once and in order; `$events`
 * gives the same events again by number; `$status` counts them; a request's
 * and a volet's updates reach the units they are addressed to; heartbeats.
 */
import { createServer, type Server } from 'node:http';
import type { Bundle, Parameters, ServiceRequest, Subscription, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decisionMoves, esmsStatusConcept, esmsStatusOf, ESMS_STATUSES, type EsmsStatus } from '../mappings/decision/statuses.js';
import { BACKPORT_URLS, TOPICS } from '../mappings/topics.js';
import { freePort, startTestGateway, waitFor, type TestGateway } from './helpers.js';
import { as, current, FINESS, makeWorld, move, submit, type World } from './referral-world.js';

let t: TestGateway;
let w: World;
let esms: string;
let mdph: string;
const servers: Server[] = [];
const MDPH = 'https://aiguillage.org/fhir/NamingSystem/mdph';
const ESMS_FINESS = '750000301';
const HEADER =
  'numero_individu;date_naissance;nom;prenom;sexe;id_decision;id_nat_decision;categorie_esms;date_debut_validite;date_fin_validite;caracterisation_esms;caracterisation_pro;creton;finess_esms';

const topic = (type: string): string => (TOPICS.find((x) => x.type === type) as { url: string }).url;

/** A Backport subscription to `topic`, filtered, delivering to `port`. */
function subscription(topicUrl: string, port: number, options: { filter?: string; content?: 'empty' | 'id-only' | 'full-resource'; heartbeat?: number } = {}): Subscription {
  return {
    resourceType: 'Subscription',
    meta: { profile: [BACKPORT_URLS.profile] },
    status: 'requested',
    reason: 'Suivi',
    criteria: topicUrl,
    ...(options.filter ? { _criteria: { extension: [{ url: BACKPORT_URLS.filterCriteria, valueString: options.filter }] } } : {}),
    channel: {
      ...(options.heartbeat ? { extension: [{ url: BACKPORT_URLS.heartbeatPeriod, valueUnsignedInt: options.heartbeat }] } : {}),
      type: 'rest-hook',
      endpoint: `http://127.0.0.1:${port}/hook`,
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: BACKPORT_URLS.payloadContent, valueCode: options.content ?? 'id-only' }] },
    },
  } as Subscription;
}

/** A subscriber's endpoint on `port`, recording the Bundles it receives. */
async function listen(port: number, received: Bundle[]): Promise<void> {
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      received.push(JSON.parse(text || '{}') as Bundle);
      res.writeHead(200).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
}

/** The status Parameters of a notification. */
const statusOf = (b: Bundle): Parameters => b.entry?.[0]?.resource as Parameters;
const param = (b: Bundle, name: string) => statusOf(b).parameter?.find((p) => p.name === name);

/** The events a notification carries: number and focus, in its order. */
function eventsIn(b: Bundle): { number: number; focus: string }[] {
  return (statusOf(b).parameter ?? [])
    .filter((p) => p.name === 'notification-event')
    .map((p) => ({
      number: Number(p.part?.find((x) => x.name === 'event-number')?.valueString),
      focus: p.part?.find((x) => x.name === 'focus')?.valueReference?.reference?.replace('http://aiguillage.test/fhir/', '') ?? '',
    }));
}

async function create(token: string, body: Subscription): Promise<string> {
  const res = await as(w, token).post('Subscription', body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(res.body.status).toBe('active');
  return res.body.id as string;
}

async function importDecision(decision: string): Promise<void> {
  const csv = `${HEADER}\nI-${decision};2001-02-03;Carre;Camille;F;${decision};NAT-${decision};255;2025-01-01;2029-12-31;;;0;${ESMS_FINESS}\n`;
  const res = await w.t.http.post('/fhir/$import-decisions').set('Authorization', `Bearer ${mdph}`).set('Content-Type', 'text/csv').set('Prefer', 'respond-async').send(csv);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const path = new URL(res.headers['content-location'] as string).pathname;
  await waitFor('the import', async () => (await w.t.http.get(path).set('Authorization', `Bearer ${mdph}`)).status === 200);
}

async function decisionTask(decision: string): Promise<Task> {
  const found = (await as(w, w.admin).get(`ServiceRequest?identifier=${encodeURIComponent(`urn:oid:1.2.250.1.213.7.75|${decision}`)}`)).body as Bundle<ServiceRequest>;
  const request = found.entry?.[0]?.resource as ServiceRequest;
  return ((await as(w, w.admin).get(`Task?focus=ServiceRequest/${request.id}`)).body as Bundle<Task>).entry?.[0]?.resource as Task;
}

async function moveDecisionTask(task: Task): Promise<void> {
  const now = (await as(w, w.admin).get(`Task/${task.id}`)).body as Task;
  const to = decisionMoves(esmsStatusOf(now) as EsmsStatus, 'esms')[0];
  const res = await as(w, esms).put(`Task/${task.id}`, { ...now, status: ESMS_STATUSES[to].taskStatus, businessStatus: esmsStatusConcept(to) }, `W/"${now.meta?.versionId}"`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

/** A subscription's count of events ($status). */
async function eventCount(token: string, id: string): Promise<number> {
  const res = await as(w, token).get(`Subscription/${id}/$status`);
  expect(res.status).toBe(200);
  const bundle = res.body as Bundle;
  expect(bundle.type).toBe('searchset');
  const status = bundle.entry?.[0]?.resource as Parameters;
  expect(status.parameter?.find((p) => p.name === 'type')?.valueCode).toBe('query-status');
  return Number(status.parameter?.find((p) => p.name === 'events-since-subscription-start')?.valueString);
}

beforeAll(async () => {
  t = await startTestGateway({ workers: true, config: { notify: { attempts: 20, backoffMs: 200, timeoutMs: 2_000, allowPrivateEndpoints: true } } });
  w = await makeWorld(t);
  const res = await as(w, w.admin).put('Organization/esms-x', {
    resourceType: 'Organization',
    id: 'esms-x',
    name: 'ESMS X',
    identifier: [{ system: FINESS, value: ESMS_FINESS }],
    type: [{ coding: [{ code: '255' }] }],
    address: [{ postalCode: '75012' }],
  });
  expect(res.status).toBeLessThan(300);
  esms = await t.tokenFor(['esms'], `${FINESS}|${ESMS_FINESS}`);
  mdph = await t.tokenFor(['mdph'], `${MDPH}|75`);
});
afterAll(async () => {
  await t.close();
  for (const s of servers) s.close();
});

describe('topic-based subscriptions', () => {
  it('refuse an unknown topic, a filter on another type, an unknown payload content, with 422', async () => {
    const port = 1;
    for (const bad of [
      subscription('https://aiguillage.org/fhir/SubscriptionTopic/nothing', port),
      subscription(topic('Task'), port, { filter: 'Communication?status=completed' }),
      subscription(topic('Task'), port, { filter: 'Task?nonsense=1' }),
      subscription(topic('Task'), port, { filter: 'Task?_count=1' }),
      { ...subscription(topic('Task'), port), channel: { ...subscription(topic('Task'), port).channel, _payload: { extension: [{ url: BACKPORT_URLS.payloadContent, valueCode: 'everything' }] } } },
      subscription(topic('Task'), port, { heartbeat: 2 }),
      // No SMTP server on this gateway: no e-mail alerts.
      { ...subscription(topic('Task'), port), channel: { type: 'email', endpoint: 'mailto:unite@hopital.test' } },
    ] as Subscription[]) {
      const res = await as(w, w.unit.usp).post('Subscription', bad);
      expect(res.status, JSON.stringify(bad)).toBe(422);
    }
  });

  it('a unit, a prescriber, an ESMS and an MDPH away, then back: every event once, in order; $events gives them again', async () => {
    const parties = { unit: w.unit.usp, prescriber: w.prescriber, esms, mdph } as const;
    const ports: Record<string, number> = {};
    const ids: Record<string, string> = {};
    for (const [name, token] of Object.entries(parties)) {
      ports[name] = await freePort();
      ids[name] = await create(token, subscription(topic('Task'), ports[name]));
    }
    // Away: nobody listens while these happen.
    const { tasks } = await submit(w, ['usp']);
    const task = tasks.usp;
    expect((await move(w, w.unit.usp, await current(w, task.id as string), 'refused')).status).toBe(200);
    await importDecision('DEC-SUB-1');
    const decided = await decisionTask('DEC-SUB-1');
    await moveDecisionTask(decided);
    await moveDecisionTask(decided);
    // What each may read, and so hears of: the referral task (created, read by the unit, refused) on the hospital side, the decision's on the other.
    await waitFor('every event numbered', async () => (await eventCount(w.prescriber, ids.prescriber)) >= 2 && (await eventCount(esms, ids.esms)) >= 3 && (await eventCount(mdph, ids.mdph)) >= 3);
    const received: Record<string, Bundle[]> = {};
    for (const name of Object.keys(parties)) {
      received[name] = [];
      await listen(ports[name], received[name]);
    }
    for (const [name, token] of Object.entries(parties)) {
      const total = await eventCount(token, ids[name]);
      await waitFor(`${name}: every event delivered`, () => received[name].flatMap(eventsIn).length >= total, 30_000);
      const delivered = received[name].flatMap(eventsIn);
      // Once each, in order, numbered from 1.
      expect(
        delivered.map((e) => e.number),
        name
      ).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      const focuses = new Set(delivered.map((e) => e.focus));
      if (name === 'unit' || name === 'prescriber') expect([...focuses], name).toEqual([`Task/${task.id}`]);
      else expect([...focuses], name).toEqual([`Task/${decided.id}`]);
      for (const b of received[name]) {
        expect(b.type).toBe('history');
        expect(param(b, 'type')?.valueCode).toBe('event-notification');
        expect(b.entry?.slice(1).every((e) => e.resource === undefined)).toBe(true); // id-only
      }
      // $events: the same events again, by number (a subscriber that lost them asks for them).
      const again = await as(w, token).get(`Subscription/${ids[name]}/$events?eventsSinceNumber=1`);
      expect(again.status).toBe(200);
      expect(param(again.body as Bundle, 'type')?.valueCode).toBe('query-event');
      expect(eventsIn(again.body as Bundle)).toEqual(delivered);
      const tail = await as(w, token).get(`Subscription/${ids[name]}/$events?eventsSinceNumber=${total}&eventsUntilNumber=${total}`);
      expect(eventsIn(tail.body as Bundle).map((e) => e.number)).toEqual([total]);
    }
    // The unit saw its task created, read (its own first read) and refused; the prescriber the same task.
    expect(await eventCount(w.unit.usp, ids.unit)).toBeGreaterThanOrEqual(2);
    // Nobody reads another's subscription or its events.
    expect((await as(w, esms).get(`Subscription/${ids.mdph}/$events`)).status).toBe(404);
    expect((await as(w, w.unit.had).get(`Subscription/${ids.unit}/$status`)).status).toBe(404);
    expect((await as(w, w.unit.usp).get(`Subscription/${ids.unit}/$events?eventsSinceNumber=x`)).status).toBe(400);
  }, 90_000);

  it('a request’s and a volet’s updates reach the units they are addressed to (full-resource), and only them', async () => {
    const port = await freePort();
    const other = await freePort();
    const heard: Bundle[] = [];
    const otherHeard: Bundle[] = [];
    await listen(port, heard);
    await listen(other, otherHeard);
    await create(w.unit.had, subscription(topic('ServiceRequest'), port, { content: 'full-resource' }));
    await create(w.unit.had, subscription(topic('QuestionnaireResponse'), port, { content: 'id-only' }));
    await create(w.unit.smr, subscription(topic('ServiceRequest'), other));
    const { requestId } = await submit(w, ['had']);
    const request = (await as(w, w.prescriber).get(`ServiceRequest/${requestId}`)).body as ServiceRequest;
    const updated = await as(w, w.prescriber).put(`ServiceRequest/${requestId}`, { ...request, priority: 'urgent' }, `W/"${request.meta?.versionId}"`);
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    // Each event carries the version it was about: sent, then made urgent.
    const versionsHeard = () => heard.flatMap((b) => b.entry?.slice(1) ?? []).filter((e) => e.fullUrl?.endsWith(`/ServiceRequest/${requestId}`)).map((e) => e.resource as ServiceRequest | undefined);
    await waitFor('both versions heard', () => versionsHeard().length >= 2);
    expect(versionsHeard().map((r) => [r?.id, r?.meta?.versionId, r?.priority ?? null])).toEqual([
      [requestId, request.meta?.versionId, null],
      [requestId, updated.body.meta.versionId, 'urgent'],
    ]);
    // The administrative volet the request cites, changed by the prescriber: the unit hears of it.
    const voletRef = request.supportingInfo?.find((s) => s.reference?.startsWith('QuestionnaireResponse/'))?.reference as string;
    const volet = (await as(w, w.prescriber).get(voletRef)).body;
    const changed = await as(w, w.prescriber).put(voletRef, { ...volet, authored: '2026-12-05T10:00:00Z' }, `W/"${volet.meta.versionId}"`);
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    await waitFor('the volet heard', () => heard.some((b) => eventsIn(b).some((e) => e.focus === voletRef)));
    await new Promise((r) => setTimeout(r, 500));
    expect(otherHeard.flatMap(eventsIn).filter((e) => e.focus === `ServiceRequest/${requestId}`)).toEqual([]);
  }, 60_000);

  it('sends a heartbeat when nothing happens for the period', async () => {
    const port = await freePort();
    const heard: Bundle[] = [];
    await listen(port, heard);
    await create(w.unit.usp, subscription(topic('Communication'), port, { heartbeat: 5 }));
    await waitFor('a heartbeat', () => heard.some((b) => param(b, 'type')?.valueCode === 'heartbeat'), 20_000);
    const beat = heard.find((b) => param(b, 'type')?.valueCode === 'heartbeat') as Bundle;
    expect(eventsIn(beat)).toEqual([]);
    expect(param(beat, 'events-since-subscription-start')?.valueString).toBe('0');
  }, 30_000);
});

/** Rest-hook Subscriptions: id-only, retried with back-off, never telling a subscriber what its token may not read. */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Bundle, Parameters, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestGateway, waitFor, type TestGateway } from './helpers.js';
import { as, makeWorld, move, submit, type World } from './referral-world.js';

let t: TestGateway;
let w: World;
const servers: Server[] = [];

interface Delivery {
  headers: IncomingMessage['headers'];
  body: Bundle;
}

/** A subscriber's endpoint on `port`, recording what it receives. */
async function listen(port: number, deliveries: Delivery[]): Promise<void> {
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: JSON.parse(text || '{}') });
      res.writeHead(200).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
}

/** The focus of every event a delivery carries (several may travel together). */
function focusesOf(delivery: Delivery): string[] {
  const status = delivery.body.entry?.[0]?.resource as Parameters;
  return (status.parameter ?? []).filter((p) => p.name === 'notification-event').flatMap((p) => p.part?.find((x) => x.name === 'focus')?.valueReference?.reference ?? []);
}
const heardOf = (deliveries: Delivery[], suffix: string): Delivery[] => deliveries.filter((d) => focusesOf(d).some((f) => f.endsWith(suffix)));

function subscription(criteria: string, port: number): Subscription {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'Tableau de bord',
    criteria,
    channel: { type: 'rest-hook', endpoint: `http://127.0.0.1:${port}/hook`, payload: 'application/fhir+json', header: ['Authorization: Bearer secret-of-subscriber'] },
  };
}

beforeAll(async () => {
  t = await startTestGateway({ workers: true, config: { notify: { attempts: 10, backoffMs: 200, timeoutMs: 2_000, allowPrivateEndpoints: true } } });
  w = await makeWorld(t);
});
afterAll(async () => {
  await t.close();
  for (const s of servers) s.close();
});

describe('subscriptions', () => {
  it('refuses what it cannot honour, with 422', async () => {
    for (const bad of [
      subscription('Patient?name=x', 1),
      subscription('Task?nonsense=1', 1),
      { ...subscription('Task', 1), channel: { type: 'websocket' } },
      { ...subscription('Task', 1), channel: { type: 'rest-hook', endpoint: 'ftp://x' } },
    ]) {
      const res = await as(w, w.unit.usp).post('Subscription', bad);
      expect(res.status, JSON.stringify(bad)).toBe(422);
    }
  });

  it('delivers to a subscriber that was down once it is back, and only what the subscriber may read', async () => {
    const uspPort = await freePort();
    const hadPort = await freePort();
    const usp: Delivery[] = [];
    const had: Delivery[] = [];
    await listen(hadPort, had);
    const created = await as(w, w.unit.usp).post('Subscription', subscription('Task?business-status=sent,read,accepted', uspPort));
    expect(created.status).toBe(201);
    expect(created.body.status).toBe('active');
    // HAD subscribes to every Task: it must still hear only of its own.
    expect((await as(w, w.unit.had).post('Subscription', subscription('Task', hadPort))).status).toBe(201);
    expect((await as(w, w.unit.had).get(`Subscription/${created.body.id}`)).status).toBe(404);

    const { tasks } = await submit(w, ['usp']);
    const task = tasks.usp;
    // USP's endpoint is down: deliveries fail and are retried.
    const deliverJobs = async (): Promise<{ attempts: number; state: string }[]> =>
      (await t.gateway.db.query<{ attempts: number; state: string }>(`SELECT attempts, state FROM job_schedule WHERE queue = 'notify' AND data->>'deliver' = $1`, [created.body.id])).rows;
    await waitFor('two failed attempts', async () => (await deliverJobs()).some((j) => j.attempts >= 2));
    expect((await deliverJobs()).some((j) => j.state === 'pending')).toBe(true);
    await listen(uspPort, usp);
    await waitFor('the delivery after retries', () => heardOf(usp, `/Task/${task.id}`).length > 0);
    const delivery = heardOf(usp, `/Task/${task.id}`)[0];
    expect(delivery.headers.authorization).toBe('Bearer secret-of-subscriber');
    expect(delivery.body.type).toBe('history');
    expect(JSON.stringify(delivery.body)).not.toContain('Dupont'); // id-only: no content
    expect(delivery.body.entry?.[1]).toMatchObject({ fullUrl: `http://aiguillage.test/fhir/Task/${task.id}` });
    expect(delivery.body.entry?.[1]?.resource).toBeUndefined();

    // A move that leaves the criteria is not delivered; HAD heard nothing of USP's task.
    const refused = await move(w, w.unit.usp, task, 'refused');
    expect(refused.status).toBe(200);
    const { tasks: hadTasks } = await submit(w, ['had']);
    await waitFor('HAD’s own notification', () => heardOf(had, `/Task/${hadTasks.had.id}`).length > 0);
    await new Promise((r) => setTimeout(r, 500));
    expect(heardOf(had, `/Task/${task.id}`)).toEqual([]);
    // Once: the version that entered the criteria; the refusal left them.
    expect(usp.flatMap(focusesOf).filter((f) => f.endsWith(`/Task/${task.id}`))).toHaveLength(1);
    // Messages too: a subscription on Communication hears of a message to the unit.
    expect((await as(w, w.unit.had).post('Subscription', subscription('Communication?received:missing=true', hadPort))).status).toBe(201);
    const note = await as(w, w.prescriber).post('Communication', {
      resourceType: 'Communication',
      status: 'completed',
      partOf: [{ reference: `Task/${hadTasks.had.id}` }],
      payload: [{ contentString: 'Dossier complet ?' }],
    });
    expect(note.status).toBe(201);
    await waitFor('the message notification', () => heardOf(had, `/Communication/${note.body.id}`).length > 0);
    const subscriptionNow = await as(w, w.unit.usp).get(`Subscription/${created.body.id}`);
    expect(subscriptionNow.body.status).toBe('active');
  });

  it('tells a subscriber that lost the right to read the type nothing, without retrying', async () => {
    const port = await freePort();
    const heard: Delivery[] = [];
    await listen(port, heard);
    const token = await t.tokenFor(['receiver'], 'Organization/org-smr');
    const created = await as(w, token).post('Subscription', subscription('Task', port));
    expect(created.status).toBe(201);
    const { clientId } = await t.gateway.tokens.verify(token);
    // Its client is given a role that reads no Task.
    await t.gateway.db.query(`UPDATE oauth_client SET roles = '{ror}' WHERE id = $1`, [clientId]);
    const { tasks } = await submit(w, ['smr']);
    // The events are dispatched (no dispatch left pending); none was for this subscriber: nothing numbered, nothing sent.
    await waitFor('the dispatch to run', async () => (await t.gateway.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM job_schedule WHERE queue = 'notify' AND state = 'pending' AND job_id LIKE 'dispatch.%'`)).rows[0].n === 0);
    const { rows } = await t.gateway.db.query<{ n: string }>(`SELECT events_since_start::text AS n FROM subscription WHERE id = $1`, [created.body.id]);
    expect(rows[0].n).toBe('0');
    expect((await t.gateway.db.query(`SELECT 1 FROM job_schedule WHERE queue = 'notify' AND data->>'deliver' = $1`, [created.body.id])).rows).toEqual([]);
    expect(heardOf(heard, `/Task/${tasks.smr.id}`)).toHaveLength(0);
  });
});

/**
 * The whole deadline life-cycle of a request, against real Redis, with
 * durations scaled to seconds: automatic reminder, a FLUSHALL of Redis,
 * automatic cancellation, reactivation, cancellation by the prescriber,
 * archiving. The test runs its own redis-server, so that FLUSHALL is real
 * and other test files keep their Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Communication, ServiceRequest, Task } from '@medplum/fhirtypes';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDuration } from '../mappings/duration.js';
import { businessStatusOf, reasonOf, REFERRAL_FLAG_SYSTEM } from '../mappings/referral.js';
import { nextDeadline } from '../src/domain/referral/deadlines.js';
import { freePort, startTestGateway, waitFor, type TestGateway } from './helpers.js';
import { as, makeWorld, move, submit, type World } from './referral-world.js';

let redisProcess: ChildProcess;
let redisUrl: string;
let t: TestGateway;
let w: World;

const SECOND = parseDuration('2s');

beforeAll(async () => {
  const port = await freePort();
  redisProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  redisUrl = `redis://127.0.0.1:${port}`;
  const probe = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  probe.on('error', () => undefined);
  await waitFor('redis-server', async () => (await probe.ping().catch(() => '')) === 'PONG');
  probe.disconnect();
  t = await startTestGateway({
    workers: true,
    config: {
      redisUrl,
      reconcileIntervalMs: 300,
      // (scaled: 2 months → 2 s, 30 days → 3 s, 15 days → 5 s, wide enough apart for the test's own steps on a loaded machine)
      referralDurations: { manualReminder: parseDuration('72h'), automaticReminder: SECOND, automaticCancellation: parseDuration('3s'), archiving: parseDuration('5s') },
    },
  });
  w = await makeWorld(t);
});

afterAll(async () => {
  await t?.close();
  redisProcess?.kill();
});

describe('deadlines', () => {
  it('reminds, survives a FLUSHALL, cancels, is reactivated, then archived 15 days (scaled) after a cancellation, each once', async () => {
    const { requestId, tasks } = await submit(w, ['smr', 'had']);
    const accepted = (await move(w, w.unit.smr, tasks.smr, 'accepted')).body as Task;
    expect(businessStatusOf(accepted)).toBe('accepted');

    // 1. The automatic reminder reaches the prescriber.
    const reminders = async (): Promise<Communication[]> =>
      ((await as(w, w.prescriber).get(`Communication?part-of=Task/${accepted.id}&category=https://aiguillage.org/fhir/CodeSystem/message-category|reminder`)).body.entry ?? []).map(
        (e: { resource: Communication }) => e.resource
      );
    await waitFor('the automatic reminder', async () => (await reminders()).length === 1);
    expect((await reminders())[0].recipient).toEqual([{ reference: 'Organization/chu' }]);

    // 2. Redis loses everything; PostgreSQL still holds the cancellation deadline, and the reconciler re-creates it.
    const redis = new Redis(redisUrl);
    await redis.flushall();
    expect(await redis.dbsize()).toBe(0);
    redis.disconnect();
    const pending = await t.gateway.db.query<{ job_id: string }>(`SELECT job_id FROM job_schedule WHERE queue = 'deadlines' AND subject = $1 AND state = 'pending'`, [requestId]);
    expect(pending.rows.map((r) => r.job_id.split('.')[2])).toEqual(['cancel']);

    // 3. No prescriber action: every open task is cancelled automatically, the request revoked.
    const taskOf = async (id: string): Promise<Task> => (await as(w, w.admin).get(`Task/${id}`)).body as Task;
    await waitFor('the automatic cancellation', async () => businessStatusOf(await taskOf(accepted.id as string)) === 'cancelled');
    for (const id of [accepted.id, tasks.had.id]) {
      const task = await taskOf(id as string);
      expect(businessStatusOf(task)).toBe('cancelled');
      expect(reasonOf(task)).toBe('automatic-cancellation');
    }
    expect(((await as(w, w.prescriber).get(`ServiceRequest/${requestId}`)).body as ServiceRequest).status).toBe('revoked');

    // 4. The prescriber reactivates before archiving: each task is back as it was.
    const reactivated = await as(w, w.prescriber).post(`ServiceRequest/${requestId}/$reactivate`, { resourceType: 'Parameters' });
    expect(reactivated.status).toBe(200);
    expect(businessStatusOf(await taskOf(accepted.id as string))).toBe('accepted');
    expect(businessStatusOf(await taskOf(tasks.had.id as string))).toBe('sent');

    // 5. The prescriber cancels the request; it is archived after the (scaled) 15 days.
    const request = (await as(w, w.prescriber).get(`ServiceRequest/${requestId}`)).body as ServiceRequest;
    expect((await as(w, w.prescriber).put(`ServiceRequest/${requestId}`, { ...request, status: 'revoked' })).status).toBe(200);
    const archived = (task: { meta?: { tag?: { system?: string; code?: string }[] } }): boolean =>
      (task.meta?.tag ?? []).some((tag) => tag.system === REFERRAL_FLAG_SYSTEM && tag.code === 'archived');
    await waitFor('archiving', async () => archived(await taskOf(accepted.id as string)));
    expect(archived((await as(w, w.prescriber).get(`ServiceRequest/${requestId}`)).body)).toBe(true);
    expect((await as(w, w.unit.smr).get('Task?_tag=https://aiguillage.org/fhir/CodeSystem/referral-flag|archived')).body.entry.map((e: { resource: Task }) => e.resource.id)).toEqual([
      accepted.id,
    ]);
    expect((await as(w, w.prescriber).post(`ServiceRequest/${requestId}/$reactivate`, { resourceType: 'Parameters' })).status).toBe(409);

    // Nothing missed, nothing twice: one reminder; each move once in the task's history; nothing left pending or failed.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await reminders()).toHaveLength(1);
    const history = (await as(w, w.admin).get(`Task/${accepted.id}/_history`)).body.entry.map((e: { resource: Task }) => [
      businessStatusOf(e.resource),
      reasonOf(e.resource) ?? '',
      archived(e.resource),
    ]);
    expect(history.reverse()).toEqual([
      ['sent', '', false],
      ['accepted', '', false],
      ['cancelled', 'automatic-cancellation', false],
      ['accepted', '', false],
      ['cancelled', 'cancelled-by-prescriber', false],
      ['cancelled', 'cancelled-by-prescriber', true],
    ]);
    const left = await t.gateway.db.query(`SELECT job_id, state FROM job_schedule WHERE queue = 'deadlines' AND subject = $1 AND state <> 'done'`, [requestId]);
    expect(left.rows).toEqual([]);
  });
});

describe('nextDeadline', () => {
  const d = { manualReminder: parseDuration('72h'), automaticReminder: parseDuration('2mo'), automaticCancellation: parseDuration('30d'), archiving: parseDuration('15d') };
  const at = (s: string): Date => new Date(s);
  const base = { status: 'active', archived: false, cancelledAt: null, reminderSentAt: null, lastPrescriberActionAt: at('2026-01-10T00:00:00Z'), lastActionAt: at('2026-01-31T00:00:00Z'), unconfirmedAcceptance: true };
  it('follows seed 002: 2 months after the last action, then 30 days, then 15 days after a cancellation', () => {
    expect(nextDeadline(base, d)).toEqual({ kind: 'remind', at: at('2026-03-31T00:00:00Z') });
    expect(nextDeadline({ ...base, reminderSentAt: at('2026-03-31T00:00:00Z') }, d)).toEqual({ kind: 'cancel', at: at('2026-04-30T00:00:00Z') });
    expect(nextDeadline({ ...base, reminderSentAt: at('2026-03-31T00:00:00Z'), lastPrescriberActionAt: at('2026-04-02T00:00:00Z'), lastActionAt: at('2026-04-02T00:00:00Z') }, d)).toEqual({
      kind: 'remind',
      at: at('2026-06-02T00:00:00Z'),
    });
    expect(nextDeadline({ ...base, unconfirmedAcceptance: false }, d)).toBeUndefined();
    expect(nextDeadline({ ...base, status: 'revoked', cancelledAt: at('2026-05-01T00:00:00Z') }, d)).toEqual({ kind: 'archive', at: at('2026-05-16T00:00:00Z') });
    expect(nextDeadline({ ...base, archived: true, cancelledAt: at('2026-05-01T00:00:00Z') }, d)).toBeUndefined();
  });
  it('adds calendar months, clamped to the month’s end', () => {
    expect(nextDeadline({ ...base, lastActionAt: at('2026-12-31T10:00:00Z') }, d)?.at).toEqual(at('2027-02-28T10:00:00Z'));
  });
});

/** The queue registry on real Redis: PostgreSQL holds the schedule, Redis only caches it. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { scheduleJob, type QueueDefinition } from '../src/queues/registry.js';
import { startTestGateway, type TestGateway } from './helpers.js';

const processed: string[] = [];
const echo: QueueDefinition<{ tag: string }> = {
  name: 'test-echo',
  concurrency: 2,
  async process(data) {
    processed.push(data.tag);
  },
};
const flaky: QueueDefinition<{ tag: string }> = {
  name: 'test-flaky',
  attempts: 3,
  backoffMs: 50,
  async process(data, job) {
    if (job.attempt < 2) throw new Error('transient failure');
    processed.push(data.tag);
  },
};

// Finishes in its own transaction: its effect and the job's completion commit together.
const atomic: QueueDefinition<{ tag: string }> = {
  name: 'test-atomic',
  async process(data, job) {
    await t.gateway.db.transaction(async (tx) => {
      await tx.query('INSERT INTO test_effect (tag) VALUES ($1)', [data.tag]);
      await job.complete(tx);
    });
  },
};

let t: TestGateway;
let redis: Redis;

async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!(await predicate())) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function schedule(queue: string, jobId: string, tag: string, inMs = 0): Promise<void> {
  const runAt = new Date(Date.now() + inMs);
  await scheduleJob(t.gateway.db, queue, jobId, { tag }, runAt);
  await t.gateway.queues.push(queue, [{ jobId, data: { tag }, runAt }]);
}

async function state(queue: string, jobId: string): Promise<string | undefined> {
  const { rows } = await t.gateway.db.query<{ state: string }>('SELECT state FROM job_schedule WHERE queue = $1 AND job_id = $2', [queue, jobId]);
  return rows[0]?.state;
}

/** Deletes every Redis key of this gateway's queues, as a FLUSHALL would. */
async function flushQueues(): Promise<number> {
  const keys = await redis.keys(`${t.gateway.config.queuePrefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  return keys.length;
}

beforeAll(async () => {
  t = await startTestGateway({ workers: true, queueDefinitions: [echo, flaky, atomic] as QueueDefinition<never>[] });
  await t.gateway.db.query('CREATE TABLE test_effect (tag text PRIMARY KEY)');
  redis = new Redis(t.gateway.config.redisUrl);
});
afterAll(async () => {
  await t.close();
  await flushQueues();
  redis.disconnect();
});

describe('queues', () => {
  it('runs a recorded job once and marks it done in PostgreSQL', async () => {
    await schedule('test-echo', 'once-1', 'once-1');
    await waitFor(async () => (await state('test-echo', 'once-1')) === 'done');
    expect(processed.filter((p) => p === 'once-1')).toHaveLength(1);
  });

  it('rebuilds delayed jobs lost in a Redis flush from PostgreSQL, and runs each once', async () => {
    await schedule('test-echo', 'flush-1', 'flush-1', 1_500);
    await schedule('test-echo', 'flush-2', 'flush-2', 1_500);
    expect(await flushQueues()).toBeGreaterThan(0);
    expect(await t.gateway.queues.reconcile()).toBeGreaterThanOrEqual(2);
    // Reconciling again while they wait adds nothing twice.
    await t.gateway.queues.reconcile();
    await waitFor(async () => (await state('test-echo', 'flush-1')) === 'done' && (await state('test-echo', 'flush-2')) === 'done');
    await new Promise((r) => setTimeout(r, 300));
    expect(processed.filter((p) => p.startsWith('flush-')).sort()).toEqual(['flush-1', 'flush-2']);
  });

  it('schedules a job recorded while Redis was not told (push lost) at the next reconcile', async () => {
    await scheduleJob(t.gateway.db, 'test-echo', 'lost-1', { tag: 'lost-1' }, new Date());
    await new Promise((r) => setTimeout(r, 300));
    expect(processed).not.toContain('lost-1');
    await t.gateway.queues.reconcile();
    await waitFor(async () => (await state('test-echo', 'lost-1')) === 'done');
    expect(processed.filter((p) => p === 'lost-1')).toHaveLength(1);
  });

  it('does not run a job whose row is no longer pending', async () => {
    await scheduleJob(t.gateway.db, 'test-echo', 'cancelled-1', { tag: 'cancelled-1' }, new Date());
    await t.gateway.db.query(`UPDATE job_schedule SET state = 'done' WHERE job_id = 'cancelled-1'`);
    await t.gateway.queues.push('test-echo', [{ jobId: 'cancelled-1', data: { tag: 'cancelled-1' }, runAt: new Date() }]);
    await new Promise((r) => setTimeout(r, 500));
    expect(processed).not.toContain('cancelled-1');
  });

  it('retries a failing job with back-off', async () => {
    await schedule('test-flaky', 'flaky-1', 'flaky-1');
    await waitFor(async () => (await state('test-flaky', 'flaky-1')) === 'done');
    expect(processed.filter((p) => p === 'flaky-1')).toHaveLength(1);
    const { rows } = await t.gateway.db.query<{ attempts: number }>(`SELECT attempts FROM job_schedule WHERE job_id = 'flaky-1'`);
    expect(rows[0].attempts).toBe(2);
  });

  it('commits a job’s effect and its completion in one transaction', async () => {
    await schedule('test-atomic', 'atomic-1', 'atomic-1');
    await waitFor(async () => (await state('test-atomic', 'atomic-1')) === 'done');
    const { rows } = await t.gateway.db.query('SELECT tag FROM test_effect');
    expect(rows).toEqual([{ tag: 'atomic-1' }]);
  });

  it('refuses job ids with a colon', async () => {
    await expect(scheduleJob(t.gateway.db, 'test-echo', 'a:b', {}, new Date())).rejects.toThrow(/invalid job id/);
  });
});

describe('readiness without Redis', () => {
  it('keeps serving the API while /readyz reports Redis down', async () => {
    const down = await startTestGateway({ config: { redisUrl: 'redis://127.0.0.1:1' } });
    try {
      expect((await down.http.get('/healthz')).status).toBe(200);
      const ready = await down.http.get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body).toEqual({ status: 'not-ready', checks: { postgres: 'up', redis: 'down' } });
      expect(ready.headers['retry-after']).toBe('5');
      expect((await down.http.get('/fhir/metadata')).status).toBe(200);
      expect((await t.http.get('/readyz')).body).toEqual({ status: 'ready', checks: { postgres: 'up', redis: 'up' } });
    } finally {
      await down.close();
    }
  });
});

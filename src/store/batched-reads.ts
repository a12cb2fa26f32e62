/**
 * Reads by id, batched across concurrent requests: the reads of one table
 * under the same visibility rule asked in one turn of the event loop, or
 * while the lane's statements all run, share the next statement, which
 * fetches all their ids at once (`id = ANY(…)`). A statement never takes a
 * read asked after it was sent: each starts after every request it answers
 * arrived, so a read
 * sees all that was committed before it was asked (a caller reads its own
 * writes). Outside transactions only: a transaction reads through its own
 * connection.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { Queryable } from './db.js';
import { raw, run, sql, type SqlFragment } from './sql.js';

/** Most ids one statement fetches. */
const BATCH_IDS = 500;

/**
 * Most statements of one lane running at once: enough that a slow statement
 * (a busy machine) does not hold every read behind it, few enough that reads
 * arriving meanwhile gather into the next ones.
 */
const STATEMENTS = 4;

interface Waiter {
  resolve: (resource: Resource | undefined) => void;
  reject: (err: unknown) => void;
}

/** The reads of one table and visibility rule: the ids waiting, and the statements of theirs running or about to. */
interface Lane {
  table: string;
  type: string;
  visible: SqlFragment;
  waiting: Map<string, Waiter[]>;
  running: number;
  scheduled: boolean;
}

const lanes = new WeakMap<Queryable, Map<string, Lane>>();

/** The current version of `type/id` in `table`, if `visible` holds for its row (a fragment over `t`). */
export function readCurrentBatched(q: Queryable, info: { table: string; type: string }, id: string, visible: SqlFragment): Promise<Resource | undefined> {
  let byKey = lanes.get(q);
  if (!byKey) {
    byKey = new Map<string, Lane>();
    lanes.set(q, byKey);
  }
  const lanesOfQ = byKey;
  const { text, params } = visible.toQuery();
  const key = `${info.table}\u0000${text}\u0000${JSON.stringify(params)}`;
  let lane = byKey.get(key);
  if (!lane) byKey.set(key, (lane = { table: info.table, type: info.type, visible, waiting: new Map(), running: 0, scheduled: false }));
  const current = lane;
  return new Promise((resolve, reject) => {
    const waiters = current.waiting.get(id);
    if (waiters) waiters.push({ resolve, reject });
    else current.waiting.set(id, [{ resolve, reject }]);
    if (!current.scheduled && current.running < STATEMENTS) {
      current.scheduled = true;
      // The reads asked in this turn of the event loop go in the same statement.
      setImmediate(() => {
        current.scheduled = false;
        void send(q, lanesOfQ, key, current);
      });
    }
  });
}

/** Runs a statement for the reads waiting, then for those that arrived meanwhile; drops the lane once idle. */
async function send(q: Queryable, byKey: Map<string, Lane>, key: string, lane: Lane): Promise<void> {
  while (lane.waiting.size > 0) {
    const batch = new Map<string, Waiter[]>();
    for (const [id, waiters] of lane.waiting) {
      if (batch.size >= BATCH_IDS) break;
      batch.set(id, waiters);
    }
    for (const id of batch.keys()) lane.waiting.delete(id);
    lane.running++;
    try {
      const { rows } = await run<{ id: string; content: Resource }>(
        q,
        sql`SELECT t.id, h.content FROM ${raw(lane.table)} t
            JOIN resource_history h ON h.resource_type = ${lane.type} AND h.id = t.id AND h.version = t.version
            WHERE t.id = ANY(${[...batch.keys()]}::text[]) AND ${lane.visible}`,
        { prepare: true }
      );
      const found = new Map(rows.map((r) => [r.id, r.content]));
      for (const [id, waiters] of batch) {
        const content = found.get(id);
        // Each request gets a resource of its own: one may change what it answers with.
        waiters.forEach((w, i) => w.resolve(content && i > 0 ? structuredClone(content) : content));
      }
    } catch (err) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(err);
    } finally {
      lane.running--;
    }
  }
  // An idle lane is dropped: visibility rules name callers, and callers come and go.
  if (lane.running === 0 && !lane.scheduled && byKey.get(key) === lane) byKey.delete(key);
}

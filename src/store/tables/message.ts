/** The `message` table: one row per Communication (messages and reminders about a task). */
import type { Queryable } from '../db.js';
import { run, sql } from '../sql.js';
import type { Columns } from './versions.js';

/** The domain columns of `message` (beside id, version, last_updated) and their SQL types. */
export const MESSAGE_COLUMNS = {
  task_id: 'text',
  sender_keys: 'text[]',
  recipient_keys: 'text[]',
  sent: 'timestamptz',
  received: 'timestamptz',
  category_codes: 'text[]',
} as const satisfies Columns;

/** The keys of a message's recipient side. */
export async function messageRecipients(q: Queryable, id: string): Promise<string[] | undefined> {
  const { rows } = await run<{ recipient_keys: string[] }>(q, sql`SELECT recipient_keys FROM message WHERE id = ${id}`);
  return rows[0]?.recipient_keys;
}

/** The request and the requester side of a message's task. */
export async function messageRequest(q: Queryable, id: string): Promise<{ referral_id: string; requester_keys: string[] } | undefined> {
  const { rows } = await run<{ referral_id: string; requester_keys: string[] }>(
    q,
    sql`SELECT t.referral_id, t.requester_keys FROM task t JOIN message m ON m.task_id = t.id WHERE m.id = ${id}`
  );
  return rows[0];
}

/** When one of these senders last sent a message of this category about a task (0: never). */
export async function lastSent(q: Queryable, taskId: string, category: string, senderKeys: readonly string[]): Promise<number> {
  const { rows } = await run<{ sent: Date | null }>(
    q,
    sql`SELECT max(sent) AS sent FROM message WHERE task_id = ${taskId} AND category_codes @> ARRAY[${category}]::text[] AND sender_keys && ${senderKeys}::text[]`
  );
  return rows[0]?.sent ? new Date(rows[0].sent).getTime() : 0;
}

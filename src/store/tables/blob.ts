/**
 * The `blob` and `blob_part` tables: documents' content, stored once by its
 * SHA-256, in 1 MiB parts, within the writer's transaction (an upload cut
 * short leaves nothing). Content already stored is not stored again: the
 * second upload's parts are dropped and its Binary names the first.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Queryable } from '../db.js';
import { run, sql } from '../sql.js';

export const PART_BYTES = 1 << 20;

/** Stored content. */
export interface BlobInfo {
  hash: string;
  size: number;
  contentType: string;
}

/** Content over the size limit (the transaction is to be rolled back). */
export class BlobTooLarge extends Error {
  constructor(readonly maxBytes: number) {
    super(`The content is over the limit of ${maxBytes} bytes`);
  }
}

/**
 * Stores content as it comes, within `q` (a transaction): hashed on the
 * way, `inspect` shown its first bytes (up to 4 KiB, before anything is
 * stored: it throws to refuse the content), 413 past `maxBytes`.
 */
export async function storeBlob(
  q: Queryable,
  chunks: AsyncIterable<Uint8Array>,
  options: { maxBytes: number; contentType: string; inspect?: (head: Buffer, last: boolean) => Promise<void> }
): Promise<BlobInfo> {
  const storeId = randomUUID();
  const hash = createHash('sha256');
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let size = 0;
  let seq = 0;
  let inspected = !options.inspect;
  const flush = async (all: boolean): Promise<void> => {
    if (!inspected) {
      const head = Buffer.concat(pending);
      await options.inspect?.(head.subarray(0, 4096), all);
      pending = [head];
      inspected = true;
    }
    while (pendingBytes >= PART_BYTES || (all && pendingBytes > 0)) {
      const joined = Buffer.concat(pending);
      const part = joined.subarray(0, PART_BYTES);
      const rest = joined.subarray(part.length);
      await run(q, sql`INSERT INTO blob_part (store_id, seq, data) VALUES (${storeId}::uuid, ${seq++}, ${part})`);
      pending = rest.length > 0 ? [Buffer.from(rest)] : [];
      pendingBytes = rest.length;
    }
  };
  for await (const chunk of chunks) {
    size += chunk.byteLength;
    if (size > options.maxBytes) throw new BlobTooLarge(options.maxBytes);
    hash.update(chunk);
    pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    pendingBytes += chunk.byteLength;
    if (pendingBytes >= PART_BYTES) await flush(false);
  }
  await flush(true);
  const digest = hash.digest('hex');
  const { rows } = await run<{ store_id: string }>(
    q,
    sql`INSERT INTO blob (hash, store_id, size, content_type, parts) VALUES (${digest}, ${storeId}::uuid, ${size}, ${options.contentType}, ${seq})
        ON CONFLICT (hash) DO NOTHING RETURNING store_id`
  );
  // The same content is stored already: this upload's parts go.
  if (rows.length === 0 && seq > 0) await run(q, sql`DELETE FROM blob_part WHERE store_id = ${storeId}::uuid`);
  return { hash: digest, size, contentType: options.contentType };
}

/** Stored content, part by part (one part in memory at a time). */
export async function* blobParts(q: Queryable, location: { storeId: string; parts: number }): AsyncGenerator<Buffer> {
  for (let seq = 0; seq < location.parts; seq++) {
    const { rows } = await run<{ data: Buffer | Uint8Array }>(q, sql`SELECT data FROM blob_part WHERE store_id = ${location.storeId}::uuid AND seq = ${seq}`, { prepare: true });
    if (!rows[0]) throw new Error(`blob ${location.storeId} lacks part ${seq}`);
    const data = rows[0].data;
    yield Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }
}

/**
 * Writing and reading resources: a domain row (the columns of the kind's
 * table) plus the FHIR rendering of every version in `resource_history`, plus
 * the identifier lookup. Table and column names come from the kinds'
 * definitions only; every value is a parameter.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { Row } from '../../mappings/resource-rows.js';
import type { Queryable } from './db.js';
import { join, raw, run, shared, sql, trusted, type SqlFragment } from './sql.js';

/** What the store needs to know of a resource type. */
export interface TableInfo {
  type: string;
  table: string;
}

/** The row written for one version of a resource. */
export interface VersionWrite {
  /** The complete resource, `id` and `meta.versionId`/`meta.lastUpdated` already set. */
  resource: Resource;
  version: number;
  lastUpdated: string;
  /** Domain columns of the kind's table. */
  row: Row;
  identifiers: { system: string; value: string }[];
}

function value(v: Row[string]): SqlFragment {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) return sql`${JSON.stringify(v.json)}::text::jsonb`;
  return sql`${v}`;
}

function columnsOf(row: Row): { names: string[]; values: SqlFragment[] } {
  const names = Object.keys(row);
  return { names, values: names.map((n) => value(row[n])) };
}

function identifierArrays(write: VersionWrite): { systems: string[]; values: string[] } {
  return { systems: write.identifiers.map((i) => i.system), values: write.identifiers.map((i) => i.value) };
}

/**
 * Inserts the first version of a resource in one statement (row, history and
 * identifiers together, so it needs no transaction of its own). Fails with a
 * unique violation if the id exists.
 */
export async function insertFirstVersion(
  q: Queryable,
  info: TableInfo,
  write: VersionWrite,
  /** Another statement to run as part of this one (e.g. the write's audit event). */
  also?: SqlFragment
): Promise<void> {
  const id = write.resource.id as string;
  const { names, values } = columnsOf(write.row);
  const cols = join(names.map((n) => sql`${raw(n)}`), ', ');
  const vals = join(values, ', ');
  const { systems, values: identifierValues } = identifierArrays(write);
  await run(
    q,
    sql`WITH r AS (
        INSERT INTO ${raw(info.table)} (id, version, last_updated${names.length ? sql`, ${cols}` : sql``})
        VALUES (${id}, ${write.version}, ${write.lastUpdated}::timestamptz${names.length ? sql`, ${vals}` : sql``})
      ), h AS (
        INSERT INTO resource_history (resource_type, id, version, last_updated, content)
        VALUES (${info.type}, ${id}, ${write.version}, ${write.lastUpdated}::timestamptz, ${JSON.stringify(write.resource)}::json)
      )${also ? sql`, also AS (${also})` : sql``}
      INSERT INTO resource_identifier (resource_type, resource_id, system, value)
      SELECT ${info.type}, ${id}, s, v FROM unnest(${systems}::text[], ${identifierValues}::text[]) AS x(s, v)`,
    { prepare: true }
  );
}

/** SQL types of a table's columns (`udt_name`: text, int4, _text, jsonb…), read once per table. */
const columnTypeCache = new Map<string, Promise<Map<string, string>>>();

async function columnTypes(q: Queryable, table: string): Promise<Map<string, string>> {
  let types = columnTypeCache.get(table);
  if (!types) {
    types = q
      .query<{ column_name: string; udt_name: string }>(`SELECT column_name, udt_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`, [table])
      .then(({ rows }) => new Map(rows.map((r) => [r.column_name, r.udt_name])));
    types.catch(() => columnTypeCache.delete(table));
    columnTypeCache.set(table, types);
  }
  return types;
}

/** The SQL type of a column, from its `udt_name` (`_text` → `text[]`). */
function sqlType(udt: string): string {
  return udt.startsWith('_') ? `${udt.slice(1)}[]` : udt;
}

/**
 * A PostgreSQL array literal of strings (`{"a","b"}`): array columns travel
 * inside the rows' JSON as this text, cast by PostgreSQL (converting a JSON
 * array element by element costs it several times more).
 */
function arrayLiteral(values: readonly string[]): string {
  let text = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    text += `${i > 0 ? ',' : ''}"${/["\\]/.test(v) ? v.replace(/["\\]/g, '\\$&') : v}"`;
  }
  return `${text}}`;
}

/** jsonb's binary input format: a version byte, then the JSON text. */
const JSONB_VERSION = 1;

/**
 * A JSON array as a statement parameter. To PostgreSQL's driver it goes as
 * UTF-8 bytes written item by item (binary format: jsonb takes a version byte
 * first, json is its text). As one string, JSON.stringify would build it as a
 * tree of parts that had to be copied whole into a fresh flat string before
 * its bytes were counted and copied again, each large copy paging in new
 * memory: a tenth of the gateway's time in a bulk import. The embedded
 * driver takes the text.
 */
export function jsonArrayParam(q: Queryable, items: readonly unknown[], type: 'json' | 'jsonb'): string | Buffer {
  if (q.kind !== 'postgres') return JSON.stringify(items);
  let buffer = Buffer.allocUnsafe(0);
  let offset = 0;
  const ensure = (need: number, rest: number): void => {
    if (need <= buffer.length) return;
    // Room for the rest at about this item's size (doubling past that), so that the bytes are seldom copied.
    const larger = Buffer.allocUnsafe(Math.max(need + rest, 2 * buffer.length));
    buffer.copy(larger, 0, 0, offset);
    buffer = larger;
  };
  ensure(2, 0);
  if (type === 'jsonb') buffer[offset++] = JSONB_VERSION;
  buffer[offset++] = 0x5b; // [
  for (let i = 0; i < items.length; i++) {
    const text = JSON.stringify(items[i]) ?? 'null';
    // At most 3 bytes per UTF-16 unit, then ',' or ']'.
    ensure(offset + 3 * text.length + 2, Math.ceil(1.25 * (text.length + 1) * (items.length - i - 1)));
    if (i > 0) buffer[offset++] = 0x2c; // ,
    offset += buffer.write(text, offset, 'utf8');
  }
  ensure(offset + 1, 0);
  buffer[offset++] = 0x5d; // ]
  return buffer.subarray(0, offset);
}

/**
 * Inserts the first version of several resources of one table in one
 * statement (same columns in every row). Three JSON documents travel, one
 * per table written: the rows as positional arrays `[id, version,
 * lastUpdated, ...columns]`, the renderings, and the identifiers. Each is
 * parsed by PostgreSQL once; the history reads the rows and the renderings
 * side by side (ROWS FROM), so that no rendering is copied into a shared
 * intermediate result. `prepare` when the statement is
 * run often with the same columns (a transaction that sets
 * `plan_cache_mode = force_generic_plan` then also spares the planner the
 * documents: they stay parameters instead of becoming constants it copies).
 */
export async function insertFirstVersions(q: Queryable, info: TableInfo, writes: VersionWrite[], options: { prepare?: boolean } = {}): Promise<void> {
  if (writes.length === 0) return;
  const names = Object.keys(writes[0].row);
  const types = await columnTypes(q, info.table);
  const FIRST = 3; // id, version, last_updated
  const reads = names.map((n, i) => {
    const udt = types.get(n);
    if (!udt) throw new Error(`${info.table} has no column ${n}`);
    // jsonb columns are read as JSON; every other value as text, cast to the column's type.
    return udt === 'jsonb' ? sql`e -> ${trusted(String(FIRST + i))}` : sql`(e ->> ${trusted(String(FIRST + i))})::${trusted(sqlType(udt))}`;
  });
  const rows: unknown[][] = new Array(writes.length);
  const renderings: Resource[] = new Array(writes.length);
  const identifiers: string[][] = [];
  for (let w = 0; w < writes.length; w++) {
    const write = writes[w];
    const resource = write.resource;
    const id = resource.id as string;
    const row: unknown[] = [id, write.version, write.lastUpdated];
    for (const n of names) {
      const v = write.row[n];
      row.push(Array.isArray(v) ? arrayLiteral(v) : v !== null && typeof v === 'object' ? v.json : v);
    }
    rows[w] = row;
    renderings[w] = resource;
    for (const i of write.identifiers) identifiers.push([id, i.system, i.value]);
  }
  const columns = names.length > 0 ? sql`, ${join(names.map((n) => sql`${raw(n)}`), ', ')}` : sql``;
  const rowsDocument = shared(jsonArrayParam(q, rows, 'jsonb'));
  await run(
    q,
    sql`WITH r AS (
        INSERT INTO ${raw(info.table)} (id, version, last_updated${columns})
        SELECT e ->> 0, (e ->> 1)::int4, (e ->> 2)::timestamptz${join(reads.map((r) => sql`, ${r}`), '')}
          FROM jsonb_array_elements(${rowsDocument}::jsonb) AS e
      ), h AS (
        INSERT INTO resource_history (resource_type, id, version, last_updated, content)
        SELECT ${info.type}, e ->> 0, (e ->> 1)::int4, (e ->> 2)::timestamptz, c
          FROM ROWS FROM (jsonb_array_elements(${rowsDocument}::jsonb), json_array_elements(${jsonArrayParam(q, renderings, 'json')}::json)) AS x(e, c)
      )
      INSERT INTO resource_identifier (resource_type, resource_id, system, value)
      SELECT ${info.type}, i ->> 0, i ->> 1, i ->> 2 FROM jsonb_array_elements(${jsonArrayParam(q, identifiers, 'jsonb')}::jsonb) AS i`,
    options
  );
}

/** Current versions of several rows (with the sender's last update), locked in id order for the rest of the transaction. */
export async function lockCurrents(
  q: Queryable,
  info: TableInfo,
  ids: string[],
  /** Read the sender's last update too (directory tables only). */
  withSourceTime = true
): Promise<Map<string, { version: number; content: Resource; sourceUpdatedAt: Date | null }>> {
  const found = new Map<string, { version: number; content: Resource; sourceUpdatedAt: Date | null }>();
  if (ids.length === 0) return found;
  // Lock on the table alone (see lockCurrent), then read the renderings of the rows found (none, for new resources).
  const { rows: locked } = await run<{ id: string }>(q, sql`SELECT t.id FROM ${raw(info.table)} t WHERE t.id = ANY(${ids}::text[]) ORDER BY t.id FOR UPDATE`);
  if (locked.length === 0) return found;
  const { rows } = await run<{ id: string; version: number; content: Resource; source_updated_at: Date | null }>(
    q,
    sql`SELECT t.id, t.version, h.content${withSourceTime ? sql`, t.source_updated_at` : sql``} FROM ${raw(info.table)} t
        JOIN resource_history h ON h.resource_type = ${info.type} AND h.id = t.id AND h.version = t.version
        WHERE t.id = ANY(${locked.map((r) => r.id)}::text[])`
  );
  for (const r of rows) found.set(r.id, { version: r.version, content: r.content, sourceUpdatedAt: withSourceTime && r.source_updated_at ? new Date(r.source_updated_at) : null });
  return found;
}

/** Which rows hold which of these national keys. */
export async function nationalKeyHolders(q: Queryable, info: TableInfo, keys: string[]): Promise<Map<string, string[]>> {
  const holders = new Map<string, string[]>();
  if (keys.length === 0) return holders;
  const { rows } = await run<{ id: string; national_keys: string[] }>(q, sql`SELECT t.id, t.national_keys FROM ${raw(info.table)} t WHERE t.national_keys && ${keys}::text[] ORDER BY t.id`);
  for (const r of rows) for (const key of r.national_keys) holders.set(key, [...(holders.get(key) ?? []), r.id]);
  return holders;
}

/** Writes a new version over the current one (call within a transaction holding the row lock). */
export async function writeNextVersion(q: Queryable, info: TableInfo, write: VersionWrite): Promise<void> {
  const id = write.resource.id as string;
  const { names } = columnsOf(write.row);
  const sets = names.map((n) => sql`${raw(n)} = ${value(write.row[n])}`);
  const { systems, values } = identifierArrays(write);
  await run(
    q,
    sql`WITH r AS (
        UPDATE ${raw(info.table)} SET version = ${write.version}, last_updated = ${write.lastUpdated}::timestamptz${sets.length ? sql`, ${join(sets, ', ')}` : sql``}
        WHERE id = ${id}
      ), h AS (
        INSERT INTO resource_history (resource_type, id, version, last_updated, content)
        VALUES (${info.type}, ${id}, ${write.version}, ${write.lastUpdated}::timestamptz, ${JSON.stringify(write.resource)}::json)
      ), d AS (
        DELETE FROM resource_identifier i
        WHERE i.resource_type = ${info.type} AND i.resource_id = ${id}
          AND NOT EXISTS (SELECT 1 FROM unnest(${systems}::text[], ${values}::text[]) AS x(s, v) WHERE x.s = i.system AND x.v = i.value)
      )
      INSERT INTO resource_identifier (resource_type, resource_id, system, value)
      SELECT ${info.type}, ${id}, s, v FROM unnest(${systems}::text[], ${values}::text[]) AS x(s, v)
      ON CONFLICT DO NOTHING`
  );
}

/**
 * The current version of a row and its rendering, locking the row for the
 * rest of the transaction. The row is locked by a query on its own table
 * (a lock taken through a join can drop a row updated concurrently), then
 * its rendering is read by a second statement, which sees the committed
 * version the lock waited for.
 */
export async function lockCurrent(
  q: Queryable,
  info: TableInfo,
  id: string,
  visible: SqlFragment,
  withSourceTime = false
): Promise<{ version: number; content: Resource; sourceUpdatedAt: Date | null } | undefined> {
  const { rows } = await run<{ version: number; source_updated_at: Date | null }>(
    q,
    sql`SELECT t.version${withSourceTime ? sql`, t.source_updated_at` : sql``} FROM ${raw(info.table)} t WHERE t.id = ${id} AND ${visible} FOR UPDATE`
  );
  const row = rows[0];
  if (!row) return undefined;
  const content = await run<{ content: Resource }>(q, sql`SELECT content FROM resource_history WHERE resource_type = ${info.type} AND id = ${id} AND version = ${row.version}`);
  return { version: row.version, content: content.rows[0].content, sourceUpdatedAt: row.source_updated_at ? new Date(row.source_updated_at) : null };
}

/** Ids of the rows holding any of these national keys. */
export async function findByNationalKeys(q: Queryable, info: TableInfo, keys: string[]): Promise<string[]> {
  const { rows } = await run<{ id: string }>(q, sql`SELECT t.id FROM ${raw(info.table)} t WHERE t.national_keys && ${keys}::text[] ORDER BY t.id`);
  return rows.map((r) => r.id);
}

/** The current rendering of a resource, if it exists and `visible` holds for its row. */
export async function readCurrent(
  q: Queryable,
  info: TableInfo,
  id: string,
  visible: SqlFragment,
  /** A statement to run as part of the read, over its result `r (content, version)` (e.g. the read's audit event). */
  also?: SqlFragment
): Promise<Resource | undefined> {
  const read = sql`SELECT h.content, t.version FROM ${raw(info.table)} t
        JOIN resource_history h ON h.resource_type = ${info.type} AND h.id = t.id AND h.version = t.version
        WHERE t.id = ${id} AND ${visible}`;
  const { rows } = await run<{ content: Resource }>(q, also ? sql`WITH r AS (${read}), also AS (${also}) SELECT content FROM r` : read, { prepare: true });
  return rows[0]?.content;
}

/** One version's rendering, if the resource exists and `visible` holds for its current row. */
export async function readVersion(q: Queryable, info: TableInfo, id: string, version: number, visible: SqlFragment): Promise<Resource | undefined> {
  const { rows } = await run<{ content: Resource }>(
    q,
    sql`SELECT h.content FROM resource_history h
        JOIN ${raw(info.table)} t ON t.id = h.id
        WHERE h.resource_type = ${info.type} AND h.id = ${id} AND h.version = ${version} AND ${visible}`
  );
  return rows[0]?.content;
}

/** A page of history entries, newest first. */
export interface HistoryPage {
  entries: { content: Resource; version: number; lastUpdated: Date; id: string }[];
  /** Cursor of the next page, if there is one. */
  next?: { lastUpdated: string; id: string; version: number };
}

/** History of one resource (`id`) or of the whole type, newest first, keyset-paged. */
export async function readHistory(
  q: Queryable,
  info: TableInfo,
  options: { id?: string; since?: string; count: number; after?: { lastUpdated: string; id: string; version: number }; visible: SqlFragment }
): Promise<HistoryPage> {
  const where: SqlFragment[] = [sql`h.resource_type = ${info.type}`, options.visible];
  if (options.id) where.push(sql`h.id = ${options.id}`);
  if (options.since) where.push(sql`h.last_updated >= ${options.since}::timestamptz`);
  if (options.after) {
    const a = options.after;
    where.push(
      sql`(h.last_updated < ${a.lastUpdated}::timestamptz OR (h.last_updated = ${a.lastUpdated}::timestamptz AND (h.id > ${a.id} OR (h.id = ${a.id} AND h.version < ${a.version}))))`
    );
  }
  const { rows } = await run<{ content: Resource; version: number; last_updated: Date; id: string }>(
    q,
    sql`SELECT h.content, h.version, h.last_updated, h.id FROM resource_history h
        JOIN ${raw(info.table)} t ON t.id = h.id
        WHERE ${join(where, ' AND ')}
        ORDER BY h.last_updated DESC, h.id ASC, h.version DESC
        LIMIT ${options.count + 1}`
  );
  const entries = rows.slice(0, options.count).map((r) => ({ content: r.content, version: r.version, lastUpdated: new Date(r.last_updated), id: r.id }));
  const last = entries[entries.length - 1];
  return {
    entries,
    next: rows.length > options.count && last ? { lastUpdated: last.lastUpdated.toISOString(), id: last.id, version: last.version } : undefined,
  };
}

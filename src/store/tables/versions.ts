/**
 * Writing and reading resources: a domain row (the columns of the kind's
 * table) plus the FHIR rendering of every version in `resource_history`, plus
 * the identifier lookup. Table and column names come from the kinds'
 * definitions only; every value is a parameter.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { Row } from '../../../mappings/resource-rows.js';
import type { Queryable } from '../db.js';
import { join, raw, run, shared, sql, trusted, type SqlFragment } from '../sql.js';

/** A table's domain columns (beside id, version, last_updated) and their SQL types (`text`, `text[]`, `timestamptz`…). */
export type Columns = Readonly<Record<string, string>>;

/** What the store needs to know of a resource type: its name, its domain table and that table's columns. */
export interface TableInfo {
  type: string;
  table: string;
  columns: Columns;
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

/**
 * A PostgreSQL array literal of strings (`{"a","b"}`): an array column's
 * value travels as this text, cast by PostgreSQL (an array of arrays must be
 * rectangular, and these are not).
 */
function arrayLiteral(values: readonly string[]): string {
  let text = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    text += `${i > 0 ? ',' : ''}"${/["\\]/.test(v) ? v.replace(/["\\]/g, '\\$&') : v}"`;
  }
  return `${text}}`;
}

/** Type oids of the array elements sent in binary (pg_type). */
const ELEMENT_OID = { text: 25, json: 114 } as const;

/**
 * A one-dimensional array of text (or json) values as a statement parameter.
 * To PostgreSQL's driver it goes in the binary array format: each value's
 * length, then its UTF-8 bytes, which PostgreSQL takes as they are (a
 * document or an array literal would be parsed, and every string in it
 * unescaped, to be cut into the same values). The embedded driver takes the
 * values as a JavaScript array.
 */
export function textArrayParam(q: Queryable, values: readonly (string | null)[], element: keyof typeof ELEMENT_OID): Buffer | (string | null)[] {
  if (q.kind !== 'postgres') return values as (string | null)[];
  let size = 20;
  let nulls = 0;
  for (const v of values) {
    if (v === null) nulls = 1;
    size += 4 + (v === null ? 0 : Buffer.byteLength(v, 'utf8'));
  }
  const buffer = Buffer.allocUnsafe(size);
  buffer.writeInt32BE(1, 0); // dimensions
  buffer.writeInt32BE(nulls, 4); // has nulls
  buffer.writeUInt32BE(ELEMENT_OID[element], 8);
  buffer.writeInt32BE(values.length, 12);
  buffer.writeInt32BE(1, 16); // lower bound
  let offset = 20;
  for (const v of values) {
    if (v === null) {
      buffer.writeInt32BE(-1, offset);
      offset += 4;
    } else {
      const length = buffer.write(v, offset + 4, 'utf8');
      buffer.writeInt32BE(length, offset);
      offset += 4 + length;
    }
  }
  return buffer;
}

/** A domain column's value as the text PostgreSQL casts to the column's type. */
function columnText(v: Row[string] | undefined): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return arrayLiteral(v);
  if (typeof v === 'object') return JSON.stringify(v.json);
  return String(v);
}

/**
 * Inserts the first version of several resources of one table in one
 * statement (same columns in every row). Every column travels as one array
 * parameter of text (binary format: see textArrayParam), cast to the
 * column's type; the renderings as an array of json. The history reads the
 * id, version and time arrays the table's insert reads (each sent once), and
 * the identifiers are three more arrays. `prepare` when the statement is run
 * often with the same columns (a transaction that sets `plan_cache_mode =
 * force_generic_plan` then also spares the planner the arrays: they stay
 * parameters instead of becoming constants it copies).
 */
export async function insertFirstVersions(q: Queryable, info: TableInfo, writes: VersionWrite[], options: { prepare?: boolean } = {}): Promise<void> {
  if (writes.length === 0) return;
  const names = Object.keys(writes[0].row);
  const n = writes.length;
  const ids = new Array<string>(n);
  const versions = new Array<string>(n);
  const times = new Array<string>(n);
  const renderings = new Array<string>(n);
  const identifiers: { ids: string[]; systems: string[]; values: string[] } = { ids: [], systems: [], values: [] };
  for (let w = 0; w < n; w++) {
    const write = writes[w];
    const id = write.resource.id as string;
    ids[w] = id;
    versions[w] = String(write.version);
    times[w] = write.lastUpdated;
    renderings[w] = JSON.stringify(write.resource);
    for (const i of write.identifiers) {
      identifiers.ids.push(id);
      identifiers.systems.push(i.system);
      identifiers.values.push(i.value);
    }
  }
  const columns = names.map((name) => {
    const type = info.columns[name];
    if (!type) throw new Error(`${info.table} has no column ${name}`);
    const values = new Array<string | null>(n);
    for (let w = 0; w < n; w++) values[w] = columnText(writes[w].row[name]);
    return { type, param: textArrayParam(q, values, 'text') };
  });
  const id = shared(textArrayParam(q, ids, 'text'));
  const version = shared(textArrayParam(q, versions, 'text'));
  const time = shared(textArrayParam(q, times, 'text'));
  // Domain column i is read from the array aliased c{i}, then cast to its type.
  const arrays = join(columns.map((c) => sql`, ${c.param}::text[]`), '');
  const aliases = trusted(columns.map((_, i) => `, c${i}`).join(''));
  const casts = join(columns.map((c, i) => sql`, ${trusted(`c${i}`)}::${trusted(c.type)}`), '');
  await run(
    q,
    sql`WITH r AS (
        INSERT INTO ${raw(info.table)} (id, version, last_updated${join(names.map((name) => sql`, ${raw(name)}`), '')})
        SELECT id, version::int4, last_updated::timestamptz${casts}
          FROM unnest(${id}::text[], ${version}::text[], ${time}::text[]${arrays}) AS x(id, version, last_updated${aliases})
      ), h AS (
        INSERT INTO resource_history (resource_type, id, version, last_updated, content)
        SELECT ${info.type}, id, version::int4, last_updated::timestamptz, content
          FROM unnest(${id}::text[], ${version}::text[], ${time}::text[], ${textArrayParam(q, renderings, 'json')}::json[]) AS x(id, version, last_updated, content)
      )
      INSERT INTO resource_identifier (resource_type, resource_id, system, value)
      SELECT ${info.type}, id, system, value
        FROM unnest(${textArrayParam(q, identifiers.ids, 'text')}::text[], ${textArrayParam(q, identifiers.systems, 'text')}::text[], ${textArrayParam(q, identifiers.values, 'text')}::text[]) AS x(id, system, value)`,
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

/**
 * The rows `t` holding any of these national keys, looked up key by key in
 * the GIN index. Asked as one overlap (`&&`) of hundreds of keys (a batch's),
 * the planner, taking each key for a fair share of the table, chose to scan
 * the whole table instead: most of PostgreSQL's time in a directory push.
 */
function keyMatches(info: TableInfo, keys: string[]): SqlFragment {
  return sql`unnest(${keys}::text[]) AS k(key) JOIN ${raw(info.table)} t ON t.national_keys @> ARRAY[k.key]`;
}

/** Which rows hold which of these national keys. */
export async function nationalKeyHolders(q: Queryable, info: TableInfo, keys: string[]): Promise<Map<string, string[]>> {
  const holders = new Map<string, string[]>();
  if (keys.length === 0) return holders;
  const { rows } = await run<{ id: string; national_keys: string[] }>(q, sql`SELECT DISTINCT t.id, t.national_keys FROM ${keyMatches(info, keys)} ORDER BY t.id`);
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
  const { rows } = await run<{ id: string }>(q, sql`SELECT DISTINCT t.id FROM ${keyMatches(info, keys)} ORDER BY t.id`);
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

/** One version's rendering as stored in the history. */
export async function versionContent<R extends Resource = Resource>(q: Queryable, type: string, id: string, version: number): Promise<R | undefined> {
  const { rows } = await run<{ content: R }>(q, sql`SELECT content FROM resource_history WHERE resource_type = ${type} AND id = ${id} AND version = ${version}`);
  return rows[0]?.content;
}

/** The last value a top-level string element had in a resource's history other than `excluded` (e.g. a request's status before its cancellation). */
export async function lastValueOtherThan(q: Queryable, type: string, id: string, element: string, excluded: string): Promise<string | undefined> {
  const { rows } = await run<{ value: string }>(
    q,
    sql`SELECT content->>${element} AS value FROM resource_history WHERE resource_type = ${type} AND id = ${id} AND content->>${element} <> ${excluded} ORDER BY version DESC LIMIT 1`
  );
  return rows[0]?.value;
}

/** The resources of a type holding these values of an identifier system, by value. */
export async function identifierHolders(q: Queryable, type: string, system: string, values: readonly string[]): Promise<Map<string, string[]>> {
  const { rows } = await run<{ value: string; holder: string }>(
    q,
    // Value by value (the lateral join fixes the order): the decision import plans generically, and with the
    // statistics of a table that was empty when it began, `value = ANY(…)` or a plain join scans every
    // national id instead of probing the index once per value.
    sql`SELECT v.value, i.holder
          FROM unnest(${values}::text[]) AS v(value)
          CROSS JOIN LATERAL (SELECT resource_id AS holder FROM resource_identifier WHERE resource_type = ${type} AND value = v.value AND system = ${system} OFFSET 0) AS i`
  );
  const holders = new Map<string, string[]>();
  for (const r of rows) holders.set(r.value, [...(holders.get(r.value) ?? []), r.holder]);
  return holders;
}

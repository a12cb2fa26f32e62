/**
 * The store's two ways of writing a first version (one resource; many in one
 * statement, as imports and directory pushes do) store the same row, the
 * same rendering and the same identifiers, whatever the values hold: quotes,
 * backslashes, braces, commas, accents, empty strings and arrays, nulls,
 * numbers, JSON columns. Run on PostgreSQL and on the embedded database.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Location } from '@medplum/fhirtypes';
import { openDatabase, type Database } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { LOCATION_COLUMNS } from '../src/store/tables/location.js';
import { insertFirstVersion, insertFirstVersions, textArrayParam, type VersionWrite } from '../src/store/tables/versions.js';
import { createTestDatabase } from './helpers.js';

const LOCATION = { type: 'Location', table: 'location', columns: LOCATION_COLUMNS };
const NOW = '2026-11-23T10:00:00.000Z';

const AWKWARD = ['plain', 'a "quoted" word', 'back\\slash', 'trailing\\', '{braces,and,commas}', 'NULL', '', ' spaced ', 'é’ — ✓', "it's"];

function write(id: string, i: number): VersionWrite {
  const resource: Location = {
    resourceType: 'Location',
    id,
    meta: { versionId: '1', lastUpdated: NOW },
    name: AWKWARD[i % AWKWARD.length],
    identifier: [
      { system: 'urn:test', value: AWKWARD[(i + 1) % AWKWARD.length] || 'x' },
      { system: 'urn:test:other', value: `v"${i}\\` },
    ],
  };
  return {
    resource,
    version: 1,
    lastUpdated: NOW,
    identifiers: resource.identifier!.map((x) => ({ system: x.system!, value: x.value! })),
    row: {
      status: i % 3 === 0 ? null : 'active',
      name: AWKWARD[i % AWKWARD.length],
      type_codes: i % 4 === 0 ? [] : AWKWARD.slice(0, 1 + (i % AWKWARD.length)),
      latitude: i % 2 === 0 ? 48.856613 + i / 7 : null,
      longitude: -0.1 * i,
      capacities: { json: [{ status: '01', count: i, label: AWKWARD[i % AWKWARD.length] }] },
      source_updated_at: i % 2 === 0 ? NOW : null,
      tags: [AWKWARD[(i + 3) % AWKWARD.length]],
    },
  };
}

async function stored(db: Database, prefix: string): Promise<unknown[]> {
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT substr(l.id, length($1) + 1) AS id, l.version, l.last_updated, l.status, l.name, l.type_codes, l.latitude, l.longitude, l.capacities, l.source_updated_at, l.tags,
            h.content::jsonb - 'id' AS content,
            (SELECT array_agg(i.system || '=' || i.value ORDER BY i.system, i.value) FROM resource_identifier i WHERE i.resource_type = 'Location' AND i.resource_id = l.id) AS identifiers
       FROM location l JOIN resource_history h ON h.resource_type = 'Location' AND h.id = l.id AND h.version = l.version
      WHERE l.id LIKE $1 || '%' ORDER BY l.id`,
    [prefix]
  );
  return rows;
}

async function sameBothWays(db: Database): Promise<void> {
  await migrate(db);
  const n = 25;
  for (let i = 0; i < n; i++) await insertFirstVersion(db, LOCATION, write(`one-${String(i).padStart(2, '0')}`, i));
  await insertFirstVersions(db, LOCATION, Array.from({ length: n }, (_, i) => write(`many-${String(i).padStart(2, '0')}`, i)));
  const one = await stored(db, 'one-');
  const many = await stored(db, 'many-');
  expect(one).toHaveLength(n);
  expect(many).toEqual(one);
  // And the values are the ones written, not merely the same mistake twice.
  const row = many[1] as { name: string; type_codes: string[]; capacities: unknown; tags: string[]; identifiers: string[] };
  expect(row.name).toBe(AWKWARD[1]);
  expect(row.type_codes).toEqual(AWKWARD.slice(0, 2));
  expect(row.capacities).toEqual([{ status: '01', count: 1, label: AWKWARD[1] }]);
  expect(row.tags).toEqual([AWKWARD[4]]);
  expect(row.identifiers).toEqual([`urn:test=${AWKWARD[2]}`, `urn:test:other=v"1\\`]);
  expect((many[4] as { type_codes: string[] }).type_codes).toEqual([]);
  await arraysArriveWhole(db);
  // Renderings are kept as the text written, to the byte.
  const { rows: texts } = await db.query<{ text: string }>(`SELECT content::text AS text FROM resource_history WHERE resource_type = 'Location' AND id = 'many-03'`);
  expect(texts[0].text).toBe(JSON.stringify(write('many-03', 3).resource));
}

/** Array parameters (binary on PostgreSQL) arrive value for value, whatever they hold and however long they are. */
async function arraysArriveWhole(db: Database): Promise<void> {
  const values = [...AWKWARD, null, 'é’😀', '', ...Array.from({ length: 3000 }, (_, i) => `${'x'.repeat(i % 700)}’${AWKWARD[i % AWKWARD.length]}`)];
  for (const n of [0, 1, 11, values.length]) {
    const { rows } = await db.query<{ v: string | null }>(`SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS x(v, i) ORDER BY i`, [textArrayParam(db, values.slice(0, n), 'text')]);
    expect(rows.map((r) => r.v)).toEqual(values.slice(0, n));
  }
  const documents = [{ a: [1, 2.5, true], b: 'é’😀' }, ...AWKWARD.map((text, i) => ({ i, text }))].map((d) => JSON.stringify(d));
  const { rows } = await db.query<{ v: string }>(`SELECT v::text AS v FROM unnest($1::json[]) WITH ORDINALITY AS x(v, i) ORDER BY i`, [textArrayParam(db, documents, 'json')]);
  expect(rows.map((r) => r.v)).toEqual(documents);
  // json is checked on arrival.
  await expect(db.query(`SELECT unnest($1::json[])`, [textArrayParam(db, ['{"a": 1}', '{"a": '], 'json')])).rejects.toThrow(/json/i);
}

describe('first versions written one by one or many at once', () => {
  it('store the same on PostgreSQL', async () => {
    const db = await openDatabase({ databaseUrl: await createTestDatabase(), dataDir: '' });
    try {
      await sameBothWays(db);
    } finally {
      await db.close();
    }
  });

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiguillage-store-'));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  it('store the same on the embedded database', async () => {
    const db = await openDatabase({ dataDir });
    try {
      await sameBothWays(db);
    } finally {
      await db.close();
    }
  });
});

describe('prepared statements on PostgreSQL', () => {
  it('run with generic plans (planned once per connection); other statements and transactions keep plans made for their values', async () => {
    const db = await openDatabase({ databaseUrl: await createTestDatabase(), dataDir: '', poolSize: 3 });
    try {
      const mode = async (q: Pick<Database, 'query'>, name?: string): Promise<string> =>
        (await q.query<{ m: string }>(`SELECT current_setting('plan_cache_mode') AS m, $1::int AS n`, [1], name)).rows[0].m;
      // Several at once: each pool opens more than one connection, and every one has its setting.
      expect(await Promise.all([1, 2, 3, 4].map(() => mode(db, 'plan_mode_probe')))).toEqual(Array(4).fill('force_generic_plan'));
      expect(await Promise.all([1, 2, 3, 4].map(() => mode(db)))).toEqual(Array(4).fill('auto'));
      expect(await db.transaction((tx) => mode(tx, 'plan_mode_probe'))).toBe('auto');
      // The reason: a prepared read of a few ids by `= ANY` is planned again at every execution in the default mode.
      const ids = ['a', 'b', 'c'];
      await db.exec(`CREATE TABLE probe (id text PRIMARY KEY, v int); INSERT INTO probe SELECT 'k' || g, g FROM generate_series(1, 5000) g; ANALYZE probe`);
      const plans = async (q: Pick<Database, 'query'>): Promise<{ generic_plans: number; custom_plans: number }> => {
        for (let i = 0; i < 8; i++) await q.query(`SELECT v FROM probe WHERE id = ANY($1::text[])`, [ids], 'probe_by_ids');
        return (await q.query<{ generic_plans: number; custom_plans: number }>(`SELECT generic_plans::int, custom_plans::int FROM pg_prepared_statements WHERE name = 'probe_by_ids'`)).rows[0];
      };
      expect((await db.transaction((tx) => plans(tx))).custom_plans).toBe(8);
      await db.exec(`DROP TABLE probe`);
    } finally {
      await db.close();
    }
  });
});

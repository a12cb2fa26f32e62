/**
 * Computes the `search_values` of directory rows stored before their
 * expression parameters existed (migration 017 adds the column empty): run
 * at start, in batches, until no row is left. A row written meanwhile gets
 * its values from its write, so the two never disagree for long.
 */
import type { Database } from '../../store/db.js';
import { rowsWithoutSearchValues, storeSearchValues } from '../../store/tables/search-values.js';
import { allKinds } from '../registry.js';

const BATCH = 500;

/** Indexes every row whose values are missing; returns how many it indexed. */
export async function reindexSearchValues(db: Database): Promise<number> {
  let done = 0;
  for (const kind of allKinds().filter((k) => 'search_values' in k.columns)) {
    for (;;) {
      const rows = await rowsWithoutSearchValues(db, kind, BATCH);
      if (rows.length === 0) break;
      const values = rows.map((r) => {
        const computed = kind.toRow(r.content).search_values;
        return { id: r.id, json: computed && typeof computed === 'object' && 'json' in computed ? computed.json : {} };
      });
      await storeSearchValues(db, kind, values);
      done += rows.length;
    }
  }
  return done;
}

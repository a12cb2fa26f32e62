/**
 * The group commit of read and refusal records: records appended while an
 * insert runs wait for the next one, so many requests share one statement
 * (and one WAL flush); `append` resolves once the records are stored, before
 * the request answers.
 */
import type { Database } from '../../store/db.js';
import { insertAuditRows, type AuditRow } from '../../store/tables/audit-event.js';
import { rowsOf, type AuditTrail } from './trail.js';

interface Waiting {
  rows: AuditRow[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Distinct networks of unauthenticated callers counted apart in one minute (per process). */
const AGGREGATE_KEYS_PER_MINUTE = 1_000;

/** Most events one group insert carries. */
const GROUP_ROWS = 1_000;

/**
 * The group commit of read and refusal events: events appended while an
 * insert runs wait for the next one, so many requests share one statement
 * (and one WAL flush). `append` resolves once the events are stored.
 */
export class AuditLog {
  private waiting: Waiting[] = [];
  private running = false;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private lastInsert = -Infinity;

  constructor(
    private readonly db: Database,
    /** Under load (an insert less than 5 ms ago), how long events wait for others to share their insert. */
    private readonly lingerMs = 1
  ) {}

  /** The minute the aggregated rows of unauthenticated callers are counted in, and their keys so far. */
  private minute = '';
  private minuteKeys = new Set<string>();

  /** Stores a trail's pending events (outside any transaction) and empties it. */
  append(trail: AuditTrail | undefined, now: Date): Promise<void> {
    if (!trail || trail.pending.length === 0) return Promise.resolve();
    const rows = rowsOf(trail, trail.pending.splice(0), now.toISOString()).map((row) => this.bounded(row));
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ rows, resolve, reject });
      if (this.running || this.timer) return;
      const start = (): void => {
        this.timer = undefined;
        void this.drain();
      };
      // Idle, the events appended in this turn of the event loop (a batch of reads answered together) share the insert.
      this.timer = performance.now() - this.lastInsert > 5 ? setImmediate(start) : setTimeout(start, this.lingerMs);
    });
  }

  /**
   * Past AGGREGATE_KEYS_PER_MINUTE networks in a minute (a flood from many
   * addresses), the next ones are counted together: the table grows by a
   * bounded number of rows a minute, whatever the flood.
   */
  private bounded(row: AuditRow): AuditRow {
    const key = row.aggregate_key;
    if (!key) return row;
    const minute = key.slice(0, 16);
    if (minute !== this.minute) {
      this.minute = minute;
      this.minuteKeys.clear();
    }
    if (this.minuteKeys.has(key) || this.minuteKeys.size < AGGREGATE_KEYS_PER_MINUTE) {
      this.minuteKeys.add(key);
      return row;
    }
    const [, , ...rest] = key.split('|');
    return { ...row, source_ip: null, aggregate_key: [minute, 'many networks', ...rest].join('|') };
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.waiting.length > 0) {
        const group: Waiting[] = [];
        let size = 0;
        while (this.waiting.length > 0 && (group.length === 0 || size + this.waiting[0].rows.length <= GROUP_ROWS)) {
          const next = this.waiting.shift() as Waiting;
          group.push(next);
          size += next.rows.length;
        }
        try {
          await insertAuditRows(this.db, group.flatMap((w) => w.rows));
          for (const w of group) w.resolve();
        } catch (err) {
          for (const w of group) w.reject(err);
        }
        this.lastInsert = performance.now();
      }
    } finally {
      this.running = false;
    }
  }
}

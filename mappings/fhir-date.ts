/** FHIR date and dateTime values as ranges (pure). */

const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?$/;

/** A range of instants, low inclusive, high exclusive, as epoch milliseconds. */
export interface InstantRange {
  low: number;
  high: number;
}

/**
 * The range of instants a FHIR date/dateTime/instant denotes at its own
 * precision: "2024" is the whole year, "2024-03-05T10:00" the whole minute.
 * A time without zone is read as UTC. Returns undefined when not a valid value.
 */
export function instantRange(value: string): InstantRange | undefined {
  const d = DATE.exec(value);
  if (d) {
    const [, y, m, day] = d;
    const year = Number(y);
    if (year === 0) return undefined; // FHIR years run from 0001
    if (!m) return checked(utc(year, 0, 1), utc(year + 1, 0, 1));
    const month = Number(m) - 1;
    if (month < 0 || month > 11) return undefined;
    if (!day) return checked(utc(year, month, 1), utc(year, month + 1, 1));
    const low = utc(year, month, Number(day));
    if (new Date(low).getUTCDate() !== Number(day)) return undefined;
    return checked(low, low + 86_400_000);
  }
  const t = DATE_TIME.exec(value);
  if (!t) return undefined;
  const [, y, mo, da, hh, mi, ss, frac, zone] = t;
  if (Number(y) === 0 || Number(hh) > 23 || Number(mi) > 59 || (ss && Number(ss) > 59)) return undefined;
  if (zone && zone !== 'Z') {
    // FHIR's zones run from -13:59 to +14:00.
    const minutes = Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4));
    if (Number(zone.slice(4)) > 59 || minutes > (zone[0] === '+' ? 14 * 60 : 13 * 60 + 59)) return undefined;
  }
  const iso = `${y}-${mo}-${da}T${hh}:${mi}:${ss ?? '00'}${frac ? frac.slice(0, 4) : ''}${zone ?? 'Z'}`;
  const low = Date.parse(iso);
  if (Number.isNaN(low) || new Date(Date.UTC(Number(y), Number(mo) - 1, Number(da))).getUTCDate() !== Number(da)) return undefined;
  const step = frac ? 1 : ss ? 1000 : 60_000;
  return checked(low, low + step);
}

/** Date.UTC for any year (Date.UTC reads years 0–99 as 1900–1999). */
function utc(year: number, month: number, day: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  return date.getTime();
}

/** Earliest and latest instants PostgreSQL reads from an ISO string (years 0001–9999). */
export const FIRST_INSTANT = Date.parse('0001-01-01T00:00:00Z');
export const LAST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * An instant as a PostgreSQL timestamptz literal: ISO 8601, or `-infinity` /
 * `infinity` beyond the years 0001–9999 (an ISO string of another year is no
 * literal PostgreSQL reads).
 */
export function sqlInstant(ms: number): string {
  if (ms < FIRST_INSTANT) return '-infinity';
  if (ms > LAST_INSTANT) return 'infinity';
  return new Date(ms).toISOString();
}

function checked(low: number, high: number): InstantRange | undefined {
  return Number.isFinite(low) && Number.isFinite(high) ? { low, high } : undefined;
}

/** The calendar days a FHIR date covers, both inclusive, as YYYY-MM-DD. */
export function dateRange(value: string): { low: string; high: string } | undefined {
  const range = instantRange(value);
  if (!range) return undefined;
  return { low: new Date(range.low).toISOString().slice(0, 10), high: new Date(range.high - 1).toISOString().slice(0, 10) };
}

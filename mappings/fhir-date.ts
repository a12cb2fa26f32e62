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
    if (!m) return checked(Date.UTC(year, 0, 1), Date.UTC(year + 1, 0, 1));
    const month = Number(m) - 1;
    if (month > 11) return undefined;
    if (!day) return checked(Date.UTC(year, month, 1), Date.UTC(year, month + 1, 1));
    const low = Date.UTC(year, month, Number(day));
    if (new Date(low).getUTCDate() !== Number(day)) return undefined;
    return checked(low, low + 86_400_000);
  }
  const t = DATE_TIME.exec(value);
  if (!t) return undefined;
  const [, y, mo, da, hh, mi, ss, frac, zone] = t;
  if (Number(hh) > 23 || Number(mi) > 59 || (ss && Number(ss) > 59)) return undefined;
  const iso = `${y}-${mo}-${da}T${hh}:${mi}:${ss ?? '00'}${frac ? frac.slice(0, 4) : ''}${zone ?? 'Z'}`;
  const low = Date.parse(iso);
  if (Number.isNaN(low) || new Date(Date.UTC(Number(y), Number(mo) - 1, Number(da))).getUTCDate() !== Number(da)) return undefined;
  const step = frac ? 1 : ss ? 1000 : 60_000;
  return checked(low, low + step);
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

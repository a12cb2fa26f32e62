/**
 * Durations of the deadlines (seed 002: 72 h, 2 months, 30 days, 15 days),
 * written as `<n><unit>` with unit ms, s, min, h, d or mo (calendar months).
 */

/** A duration: calendar months plus a fixed number of milliseconds. */
export interface Duration {
  months: number;
  ms: number;
  /** As written, for messages. */
  text: string;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `72h`, `2mo`, `30d`, `1500ms`…; throws on anything else. */
export function parseDuration(text: string): Duration {
  const m = /^(\d{1,9})(ms|s|min|h|d|mo)$/.exec(text.trim());
  if (!m) throw new Error(`invalid duration "${text}": expected a number and a unit among ms, s, min, h, d, mo (e.g. 72h, 2mo)`);
  const n = Number(m[1]);
  return m[2] === 'mo' ? { months: n, ms: 0, text } : { months: 0, ms: n * UNIT_MS[m[2]], text };
}

/** `date` plus `duration`: calendar months first (clamped to the month's last day), then milliseconds. */
export function addDuration(date: Date, duration: Duration): Date {
  const d = new Date(date.getTime());
  if (duration.months) {
    const day = d.getUTCDate();
    d.setUTCDate(1);
    d.setUTCMonth(d.getUTCMonth() + duration.months);
    const last = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
    d.setUTCDate(Math.min(day, last));
  }
  return new Date(d.getTime() + duration.ms);
}

/** The deadlines of admission requests. */
export interface ReferralDurations {
  /** A side may remind the other this long after the status it waits on (72 h). */
  manualReminder: Duration;
  /** Automatic reminder to the prescriber after this long without action (2 months). */
  automaticReminder: Duration;
  /** Automatic cancellation this long after the automatic reminder (30 days). */
  automaticCancellation: Duration;
  /** Archiving this long after a cancellation (15 days). */
  archiving: Duration;
}

export const DEFAULT_REFERRAL_DURATIONS: ReferralDurations = {
  manualReminder: parseDuration('72h'),
  automaticReminder: parseDuration('2mo'),
  automaticCancellation: parseDuration('30d'),
  archiving: parseDuration('15d'),
};

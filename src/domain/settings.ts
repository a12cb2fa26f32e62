/** Settings of the domain rules that come from the configuration, with their defaults (type and data only). */
import { parseDuration, type Duration } from '../../mappings/duration.js';

/** Failed `$claim`s allowed per client and per individual number within a window (a brute force of birth dates). */
export interface ClaimLimit {
  maxFailures: number;
  window: Duration;
}

/** A handful an hour (issue 13: 202 guesses found a birth date in under 2 s). */
export const DEFAULT_CLAIM_LIMIT: ClaimLimit = { maxFailures: 5, window: parseDuration('1h') };

/** Structured JSON logs (pino). */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Creates the process logger; logs go to stderr so that CLI output on stdout stays machine-readable. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'aiguillage' } }, pino.destination({ fd: 2, sync: false }));
}

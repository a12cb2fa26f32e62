/**
 * Logs (pino): JSON lines on stderr, what log collectors read; readable
 * lines (pino-pretty, local times) when stderr is a terminal, or whenever
 * `LOG_FORMAT=pretty` (`LOG_FORMAT=json` forces JSON). stdout stays for the
 * CLI's machine-readable output.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/** How log lines are written. */
export type LogFormat = 'json' | 'pretty';

/** The format: LOG_FORMAT when set, else pretty on a terminal and JSON otherwise. */
export function logFormat(env: NodeJS.ProcessEnv = process.env, isTty: boolean = process.stderr.isTTY === true): LogFormat {
  const asked = env.LOG_FORMAT;
  if (asked === 'json' || asked === 'pretty') return asked;
  if (asked) throw new Error(`LOG_FORMAT is json or pretty, got "${asked}"`);
  return isTty ? 'pretty' : 'json';
}

/** Creates the process logger. */
export function createLogger(level: string, format: LogFormat = logFormat()): Logger {
  const options = { level, base: { service: 'aiguillage' } };
  if (format === 'pretty') return pino(options, pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l o', ignore: 'service,pid,hostname' }));
  return pino(options, pino.destination({ fd: 2, sync: false }));
}

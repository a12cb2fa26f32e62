import net from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { it } from 'vitest';
import { start } from '../src/main.js';
import { createTestDatabase, loadTestConfig } from './helpers.js';
import { createClient } from '../src/auth/clients.js';

it('abort', async () => {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk: Buffer, _e, done) { for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l)); done(); } });
  const gateway = await start(loadTestConfig({ databaseUrl: await createTestDatabase(), port: 0 }), { api: true, workers: false, logger: pino({ level: 'debug' }, stream) });
  const addr = (gateway.server as any).address();
  console.log(addr);
}, 60000);

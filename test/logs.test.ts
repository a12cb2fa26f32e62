/** Log lines: their format, and why a refused request was refused (at debug). */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import supertest from 'supertest';
import { describe, expect, it } from 'vitest';
import { logFormat } from '../src/logger.js';
import { start } from '../src/main.js';
import { createTestDatabase, loadTestConfig } from './helpers.js';

describe('log format', () => {
  it('is readable on a terminal, JSON otherwise, as LOG_FORMAT says when set', () => {
    expect(logFormat({}, true)).toBe('pretty');
    expect(logFormat({}, false)).toBe('json');
    expect(logFormat({ LOG_FORMAT: 'json' }, true)).toBe('json');
    expect(logFormat({ LOG_FORMAT: 'pretty' }, false)).toBe('pretty');
    expect(() => logFormat({ LOG_FORMAT: 'xml' }, false)).toThrow('LOG_FORMAT is json or pretty, got "xml"');
  });
});

describe('request log', () => {
  it('gives at debug the reason of a 4xx answer', async () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const gateway = await start(loadTestConfig({ databaseUrl: await createTestDatabase() }), { api: true, workers: false, logger: pino({ level: 'debug' }, stream) });
    try {
      const http = supertest(gateway.server as NonNullable<typeof gateway.server>);
      expect((await http.get('/fhir/Patient?birthdate=notadate')).status).toBe(401);
      expect((await http.get('/fhir/metadata')).status).toBe(200);
      const refused = lines.filter((l) => l.msg === 'request refused');
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({ method: 'GET', path: '/fhir/Patient', status: 401 });
      expect(refused[0].reason).toBe('Authentication required');
    } finally {
      await gateway.shutdown();
    }
    expect(lines.some((l) => l.msg === 'stopping')).toBe(true);
    expect(lines.some((l) => l.msg === 'stopped')).toBe(true);
  });
});

/** The `aiguillage` command: migrate, client create, seed, and a clean refusal of bad arguments. */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import pg from 'pg';
import { nodeMajor } from '../src/runtime.js';
import { createTestDatabase } from './helpers.js';

const run = promisify(execFile);
let databaseUrl: string;

function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', REDIS_URL: inject('redisUrl'), AIGUILLAGE_QUEUE_PREFIX: 'test-cli' },
    timeout: 60_000,
  });
}

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
});

describe('aiguillage CLI', () => {
  it('creates a client and prints its credentials as JSON, storing only a hash', async () => {
    const { stdout } = await cli(['client', 'create', '--name', 'EHR CHU', '--roles', 'prescriber,care-team', '--organization', 'https://finess.esante.gouv.fr|750000001']);
    const created = JSON.parse(stdout) as { client_id: string; client_secret: string };
    expect(created.client_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.client_secret.length).toBeGreaterThanOrEqual(40);
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    const { rows } = await db.query('SELECT name, roles, organization FROM oauth_client WHERE id = $1', [created.client_id]);
    await db.end();
    expect(rows).toEqual([{ name: 'EHR CHU', roles: ['prescriber', 'care-team'], organization: 'https://finess.esante.gouv.fr|750000001' }]);
  });

  it('lists, deactivates, rotates and deletes clients', async () => {
    const created = JSON.parse((await cli(['client', 'create', '--name', 'ROR IdF', '--roles', 'ror', '--expires-in', '90d'])).stdout) as { client_id: string; client_secret: string };
    const listed = JSON.parse((await cli(['client', 'list', '--json'])).stdout) as { client_id: string; active: boolean; client_secret_expires_at: number }[];
    const mine = listed.find((c) => c.client_id === created.client_id);
    expect(mine?.active).toBe(true);
    expect(mine?.client_secret_expires_at).toBeGreaterThan(Date.now() / 1000 + 89 * 86_400);
    expect((await cli(['client', 'list'])).stdout).toContain(`${created.client_id}\tactive`);
    expect(JSON.parse((await cli(['client', 'deactivate', created.client_id])).stdout)).toMatchObject({ client_id: created.client_id, active: false });
    const rotated = JSON.parse((await cli(['client', 'rotate', created.client_id])).stdout) as { client_secret: string };
    expect(rotated.client_secret).not.toBe(created.client_secret);
    await cli(['client', 'delete', created.client_id]);
    expect((await cli(['client', 'list'])).stdout).not.toContain(created.client_id);
    await expect(cli(['client', 'deactivate', created.client_id])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('No client') });
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    const { rows } = await db.query<{ subtype: string }>(`SELECT interaction AS subtype FROM audit_event WHERE query = $1 ORDER BY recorded`, [`client ${created.client_id}`]);
    await db.end();
    expect(rows.map((r) => r.subtype)).toEqual(['client-create', 'client-deactivate', 'client-rotate', 'client-delete']);
  }, 90_000);

  it('shows the share of rows applied, not 100 % from the first rows', async () => {
    const header = fs.readFileSync('fixtures/decisions/valid.csv', 'utf8').split('\n')[0];
    const rows = Array.from({ length: 4_500 }, (_, i) => `P${i};2010-04-12;Martin;Léo;M;BIG-${i};;183;2025-01-01;2028-12-31;2;;0;750000201`);
    const file = path.join(os.tmpdir(), `aiguillage-progress-${process.pid}.csv`);
    fs.writeFileSync(file, `${header}\n${rows.join('\n')}\n`);
    try {
      const { stderr } = await cli(['import-decisions', file, '--mdph', '76']);
      const shares = [...stderr.matchAll(/(\d+)% (\d+) of 4500 rows/g)].map((m) => Number(m[1]));
      expect(shares.length).toBeGreaterThan(1);
      expect(shares[0]).toBeLessThan(100);
      expect(shares[shares.length - 1]).toBe(100);
      expect([...shares].sort((a, b) => a - b)).toEqual(shares);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }, 90_000);

  it('imports an MDPH decisions file with a progress bar and prints the report', async () => {
    const { stdout, stderr } = await cli(['import-decisions', 'fixtures/decisions/valid.csv', '--mdph', '75']);
    const result = JSON.parse(stdout) as { state: string; rowsOk: number; rowsRejected: number; report: string[] };
    expect(result).toMatchObject({ state: 'completed', rowsOk: 5, rowsRejected: 0 });
    expect(stderr).toContain('100% 5 of 5 rows');
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM referral WHERE module = 'decision' AND department = '75'`);
    await db.end();
    expect(rows[0].n).toBe(4);
    await expect(cli(['import-decisions', 'fixtures/decisions/mixed.csv', '--mdph', '75'])).rejects.toMatchObject({ code: 1, stdout: expect.stringContaining('"rowsRejected":10') });
    await expect(cli(['import-decisions', 'fixtures/decisions/valid.csv'])).rejects.toMatchObject({ code: 2 });
  }, 90_000); // three runs of the CLI, each a process that loads the gateway

  it('refuses unknown roles and malformed organizations with exit code 2', async () => {
    await expect(cli(['client', 'create', '--name', 'x', '--roles', 'superuser'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('unknown role') });
    await expect(cli(['client', 'create', '--name', 'x', '--roles', 'ror', '--organization', 'nope'])).rejects.toMatchObject({ code: 2 });
    await expect(cli(['frobnicate'])).rejects.toMatchObject({ code: 2 });
  });

  it('seeds the demo directory idempotently', async () => {
    expect((await cli(['seed'])).stdout).toContain('Seeded 8');
    await cli(['seed']);
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM healthcare_service');
    const versions = await db.query<{ v: number }>(`SELECT max(version) AS v FROM organization`);
    await db.end();
    expect(rows[0].n).toBe(3);
    expect(versions.rows[0].v).toBe(1); // re-seeding the same content writes no new version
  });
});

describe('aiguillage start', () => {
  it('serves on the embedded database by default and stops cleanly on SIGTERM', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiguillage-start-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
      env: { ...process.env, DATABASE_URL: '', AIGUILLAGE_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', REDIS_URL: inject('redisUrl'), AIGUILLAGE_QUEUE_PREFIX: 'test-start' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // Killed even when the test times out while waiting (its finally would then never run).
    onTestFinished(() => void child.kill('SIGKILL'));
    let buffer = '';
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stderr.on('data', (chunk: Buffer) => {
          buffer += chunk.toString();
          const m = /"port":(\d+),[^\n]*FHIR API listening/.exec(buffer);
          if (m) resolve(Number(m[1]));
        });
        child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${buffer}`)));
      });
      const res = await fetch(`http://127.0.0.1:${port}/fhir/metadata`);
      expect(res.status).toBe(200);
      expect(fs.existsSync(path.join(dataDir, 'aiguillage.lock'))).toBe(true);
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(fs.existsSync(path.join(dataDir, 'aiguillage.lock'))).toBe(false);
      // On Node 20 (past end of life) the operator is told to move to 24; not on 22 or 24.
      expect(buffer.includes('past end of life')).toBe(nodeMajor() < 22);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('configuration errors', () => {
  const failing = (env: Record<string, string>) =>
    run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'migrate'], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, timeout: 60_000 }).then(
      () => expect.fail('the command should have failed'),
      (err: { code: number; stderr: string }) => err
    );

  it('name the variable and what was expected, in one line, exit code 1', async () => {
    const host = await failing({ DATABASE_URL: 'postgres://postgres@base.invalid:5432/x' });
    expect(host.code).toBe(1);
    expect(host.stderr.trim()).toMatch(/^aiguillage: DATABASE_URL: cannot resolve the host "base\.invalid"/);
    const missing = new URL(databaseUrl);
    missing.pathname = '/aiguillage_no_such_database';
    const db = await failing({ DATABASE_URL: missing.toString() });
    expect(db.stderr.trim()).toMatch(/^aiguillage: DATABASE_URL names the database "aiguillage_no_such_database", which does not exist .*createdb/);
    expect(db.stderr.trim().split('\n')).toHaveLength(1);
    const port = await failing({ DATABASE_URL: databaseUrl, PORT: 'eighty' });
    expect(port.stderr.trim()).toBe('aiguillage: PORT must be a non-negative integer, got "eighty"');
  }, 60_000);
});

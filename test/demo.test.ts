/**
 * `aiguillage demo` on a fresh embedded database, run twice, then the
 * gateway started on it and the printed steps followed with the clients of
 * `demo-clients.json`; and `client create` while that gateway runs.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Bundle, Task } from '@medplum/fhirtypes';
import { fromRoot } from '../src/paths.js';

const run = promisify(execFile);
/** tsx, loaded from the repository (the commands run in a directory of their own). */
const TSX = pathToFileURL(fromRoot('node_modules/tsx/dist/loader.mjs')).href;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'aiguillage-demo-'));
const env = { ...process.env, DATABASE_URL: '', AIGUILLAGE_DATA_DIR: path.join(work, 'data'), LOG_LEVEL: 'info', REDIS_URL: inject('redisUrl'), AIGUILLAGE_QUEUE_PREFIX: `test-demo-${process.pid}` };

function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, ['--import', TSX, fromRoot('src/cli.ts'), ...args], { cwd: work, env, timeout: 90_000 });
}

interface Credentials {
  clients: { role: string; client_id: string; client_secret: string }[];
}

let gateway: ChildProcess | undefined;
let base = '';

async function tokenOf(clientId: string, secret: string): Promise<string> {
  const res = await fetch(`${base}/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
    body: 'grant_type=client_credentials',
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function get(token: string, route: string): Promise<Bundle> {
  const res = await fetch(`${base}/fhir/${route}`, { headers: { Authorization: `Bearer ${token}` } });
  expect(res.status, route).toBe(200);
  return (await res.json()) as Bundle;
}

beforeAll(async () => {
  const first = await cli(['demo']);
  expect(first.stdout).toMatch(/sample admission request: sent/);
  expect(first.stdout).toMatch(/sample MDPH decision: imported/);
  const again = await cli(['demo']);
  expect(again.stdout).toMatch(/sample admission request: there already/);
  expect(again.stdout).toMatch(/sample MDPH decision: there already/);
  expect(again.stdout).toMatch(/PRESCRIBER=\$\(curl -s -u '[0-9a-f-]{36}:[^']+' -d grant_type=client_credentials/);
  gateway = spawn(process.execPath, ['--import', TSX, fromRoot('src/cli.ts'), 'start'], { cwd: work, env: { ...env, PORT: '0', HOST: '127.0.0.1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buffer = '';
    gateway?.stderr?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const m = /"port":(\d+),[^\n]*FHIR API listening/.exec(buffer);
      if (m) resolve(Number(m[1]));
    });
    gateway?.once('exit', (code) => reject(new Error(`exited early with ${code}: ${buffer}`)));
  });
  base = `http://127.0.0.1:${port}`;
  // The local admin credential is written just after the listening line.
  for (let i = 0; i < 100 && !fs.existsSync(path.join(work, 'data', 'local-admin.json')); i++) await new Promise((r) => setTimeout(r, 50));
}, 180_000);

afterAll(async () => {
  if (gateway && gateway.exitCode === null) {
    const exited = new Promise((resolve) => gateway?.once('exit', resolve));
    gateway.kill('SIGTERM');
    await exited;
  }
  fs.rmSync(work, { recursive: true, force: true });
});

describe('aiguillage demo', () => {
  it('writes one client per role, private, whose second run renewed the secrets', async () => {
    const file = path.join(work, 'demo-clients.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const { clients } = JSON.parse(fs.readFileSync(file, 'utf8')) as Credentials;
    expect(clients.map((c) => c.role).sort()).toEqual(['admin', 'admin-social', 'care-team', 'esms', 'mdph', 'non-medical-manager', 'portal', 'prescriber', 'receiver', 'ror']);
    for (const c of clients) await tokenOf(c.client_id, c.client_secret);
  });

  it('leaves a request the receiving unit reads and the prescriber follows, and a decision the ESMS pulls', async () => {
    const { clients } = JSON.parse(fs.readFileSync(path.join(work, 'demo-clients.json'), 'utf8')) as Credentials;
    const token = (role: string) => {
      const c = clients.find((x) => x.role === role) as Credentials['clients'][number];
      return tokenOf(c.client_id, c.client_secret);
    };
    const unit = await get(await token('receiver'), 'Task?_include=Task:focus');
    const unitTasks = (unit.entry ?? []).filter((e) => e.resource?.resourceType === 'Task');
    expect(unitTasks).toHaveLength(1);
    expect((unitTasks[0].resource as Task).owner?.reference).toBe('HealthcareService/demo-hs-ehpad');

    const followed = await get(await token('prescriber'), 'Task?_include=Task:focus');
    expect((followed.entry ?? []).filter((e) => e.resource?.resourceType === 'ServiceRequest')).toHaveLength(1);
    expect((followed.entry ?? []).filter((e) => e.resource?.resourceType === 'Task')).toHaveLength(3);

    const esms = await get(await token('esms'), 'Task');
    expect(esms.entry ?? []).toHaveLength(1);
  });

  it('creates, lists and deactivates clients through the running gateway, which holds the embedded database', async () => {
    const { stdout } = await cli(['client', 'create', '--name', 'EHR while running', '--roles', 'prescriber', '--organization', 'https://finess.esante.gouv.fr|750000001']);
    const created = JSON.parse(stdout) as { client_id: string; client_secret: string };
    await tokenOf(created.client_id, created.client_secret);
    const listed = await cli(['client', 'list']);
    expect(listed.stdout).toContain('EHR while running');
    await cli(['client', 'deactivate', created.client_id]);
    const refused = await fetch(`${base}/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${Buffer.from(`${created.client_id}:${created.client_secret}`).toString('base64')}` },
      body: 'grant_type=client_credentials',
    });
    expect(refused.status).toBe(401);
  });
});

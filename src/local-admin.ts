/**
 * The embedded database belongs to the gateway process that opened it, so
 * the CLI cannot open it while the gateway runs. Instead, a gateway serving
 * the API on the embedded database publishes a local admin credential in its
 * data directory (`local-admin.json`, readable by its owner only, removed at
 * stop): `aiguillage client …` finds it and manages clients through the
 * running gateway's `/admin/clients` API, audited like any admin call.
 * Whoever can read the data directory can read the database itself, so the
 * file grants nothing more.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createClient, rotateClient, listClients } from './auth/clients.js';
import { auditTrail } from './domain/audit/trail.js';
import type { Database } from './store/db.js';

/** The name of the gateway's own local admin client (one, its secret renewed at each start). */
export const LOCAL_ADMIN_NAME = 'aiguillage local CLI';

const FILE = 'local-admin.json';

/** How the CLI reaches a running gateway. */
export interface LocalAdmin {
  url: string;
  client_id: string;
  client_secret: string;
  pid: number;
}

/** Publishes the local admin credential of a gateway listening at `url`; returns what removes it. */
export async function publishLocalAdmin(db: Database, dataDir: string, url: string): Promise<() => void> {
  const trail = auditTrail({ principal: { clientId: 'aiguillage', roles: ['admin'], gateway: true } });
  const secret = await db.transaction(async (q) => {
    const existing = (await listClients(q)).find((c) => c.name === LOCAL_ADMIN_NAME && c.active);
    if (existing) return { client_id: existing.id, client_secret: (await rotateClient(q, existing.id, {}, trail)).client_secret as string };
    return createClient(q, { name: LOCAL_ADMIN_NAME, roles: ['admin'] }, trail);
  });
  const file = path.join(dataDir, FILE);
  const admin: LocalAdmin = { url, ...secret, pid: process.pid };
  fs.writeFileSync(file, JSON.stringify(admin), { mode: 0o600 });
  return () => fs.rmSync(file, { force: true });
}

/** The credential of a gateway running on this data directory, if one is. */
export function runningGateway(dataDir: string): LocalAdmin | undefined {
  let admin: LocalAdmin;
  try {
    admin = JSON.parse(fs.readFileSync(path.join(dataDir, FILE), 'utf8')) as LocalAdmin;
  } catch {
    return undefined;
  }
  try {
    process.kill(admin.pid, 0);
    return admin;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? admin : undefined;
  }
}

/** Calls the running gateway's client API as its local admin; the answer's JSON (or undefined for 204). */
export async function callRunningGateway(admin: LocalAdmin, method: string, route: string, body?: unknown): Promise<unknown> {
  const token = await fetch(`${admin.url}/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${Buffer.from(`${admin.client_id}:${admin.client_secret}`).toString('base64')}` },
    body: 'grant_type=client_credentials',
  });
  if (!token.ok) throw new Error(`the running gateway at ${admin.url} refused its local admin credential (${token.status})`);
  const { access_token } = (await token.json()) as { access_token: string };
  const res = await fetch(`${admin.url}/admin/clients${route}`, {
    method,
    headers: { Authorization: `Bearer ${access_token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status === 204) return undefined;
  const answer = (await res.json()) as { issue?: { diagnostics?: string }[] };
  if (!res.ok) throw new Error(answer.issue?.[0]?.diagnostics ?? `the running gateway answered ${res.status}`);
  return answer;
}

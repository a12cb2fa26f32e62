/**
 * The `aiguillage` command.
 *
 *   aiguillage start [--processes N] API and workers in one process (npm start), or in N
 *   aiguillage serve [--processes N] the API only, in one process or N sharing the port
 *   aiguillage worker                the workers only
 *   aiguillage migrate               apply database migrations
 *   aiguillage client create|list|deactivate|activate|rotate|delete …   OAuth2 clients
 *   aiguillage seed                  load a small demo directory
 *   aiguillage demo                  demo directory, a client per role, a sample request and decision
 *   aiguillage import-decisions FILE --mdph DEPT   import an MDPH decisions file
 */
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import type { JSONWebKeySet } from 'jose';
import { addDuration, parseDuration } from '../mappings/duration.js';
import { activateClient, checkClientInput, ClientError, createClient, deactivateClient, deleteClient, listClients, rotateClient } from './auth/clients.js';
import { auditTrail } from './domain/audit/trail.js';
import { clientJson } from './http/client-routes.js';
import { loadConfig } from './config.js';
import { ROLES, type Role } from './core/principal.js';
import { createLogger } from './logger.js';
import { openStore, start, type Gateway } from './main.js';
import { fromRoot } from './paths.js';
import { nodeSupportWarning } from './runtime.js';
import { demoInstructions, makeDemo } from './demo.js';
import { callRunningGateway, runningGateway, type LocalAdmin } from './local-admin.js';
import { handleFhir } from './fhir/dispatch.js';
import { rorClient } from './queues/workers/ror-sync.js';
import { importReport } from './domain/decision/import-report.js';
import { runImport } from './domain/decision/import-run.js';
import { acceptImport } from './domain/decision/import-upload.js';
import { pushScheduled } from './fhir/types.js';
import { openSync, runSync } from './ror/pull.js';
import { markJobDone } from './store/tables/job-schedule.js';
import { clusterProcessId, clusterRefusal, isClusterProcess, offerMetrics, runPrimary } from './cluster.js';

const USAGE = `Usage: aiguillage <command>

Commands:
  start [--processes N]
             run the FHIR API and the workers in one process, or in N processes sharing the port
             (each runs the API and the workers; default WEB_CONCURRENCY, else 1; N > 1 needs DATABASE_URL)
  serve [--processes N]
             run the FHIR API only, in one process or in N sharing the port
  worker     run the background workers only
  migrate    apply the database migrations
  client create --name NAME --roles ROLE[,ROLE] [--organization SYSTEM|VALUE | Organization/ID] [--expires-in 90d] [--jwks FILE]
             create an OAuth2 client; prints {"client_id","client_secret"} (with --jwks: private_key_jwt, no secret)
  client list [--json] | deactivate ID | activate ID | delete ID | rotate ID [--expires-in 90d] [--jwks FILE]
             the clients; deactivating, rotating or deleting one revokes its tokens within seconds
  seed       load a small demo directory (idempotent)
  demo       on the embedded database: the demo directory, one client per role (credentials in
             ./demo-clients.json), a sample request and decision; prints the next steps
  import-decisions FILE --mdph DEPT
             import an MDPH decisions file (CSV, see mappings/decision/file.ts) now, showing progress;
             prints the report; exit code 1 when rows were rejected
  ror-sync [--full]
             pull the directory from the ROR API (ROR_BASE_URL…) now, showing progress;
             a delta after a completed pull, a full $export load otherwise or with --full

Roles: ${ROLES.join(', ')}
Configuration comes from the environment (see README).`;

function fail(message: string): never {
  process.stderr.write(`aiguillage: ${message}\n`);
  process.exit(2);
}

function runUntilSignal(gateway: Gateway): void {
  const stop = (signal: string): void => {
    gateway.logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    gateway.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        gateway.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      }
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/** `--expires-in 90d`: a date that far ahead. */
function expiresIn(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  try {
    const duration = parseDuration(text);
    if (duration.months === 0 && duration.ms === 0) throw new Error('a duration above zero');
    return addDuration(new Date(), duration);
  } catch (err) {
    fail(`--expires-in: ${(err as Error).message}`);
  }
}

/** `--jwks FILE`: a JSON Web Key Set of public keys. */
function jwksFile(file: string | undefined): JSONWebKeySet | undefined {
  if (file === undefined) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as JSONWebKeySet;
  } catch (err) {
    fail(`--jwks: ${(err as Error).message}`);
  }
}

const CLIENT_USAGE = `usage: aiguillage client create --name NAME --roles ROLE[,ROLE] [--organization SYSTEM|VALUE | Organization/ID] [--expires-in 90d] [--jwks FILE]
       aiguillage client list [--json]
       aiguillage client deactivate|activate|delete ID
       aiguillage client rotate ID [--expires-in 90d] [--jwks FILE]`;

/** `aiguillage client …`: the life of OAuth2 clients, on the database (each change an AuditEvent by the CLI). */
async function clientCommand(config: ReturnType<typeof loadConfig>, args: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { name: { type: 'string' }, roles: { type: 'string' }, organization: { type: 'string' }, 'expires-in': { type: 'string' }, jwks: { type: 'string' }, json: { type: 'boolean' } },
  });
  const [action, id] = positionals;
  if (!['create', 'list', 'deactivate', 'activate', 'delete', 'rotate'].includes(action ?? '')) fail(CLIENT_USAGE);
  if (action !== 'create' && action !== 'list' && !id) fail(CLIENT_USAGE);
  const input =
    action === 'create'
      ? (() => {
          if (!values.name) fail('--name is required');
          try {
            return checkClientInput({ name: values.name, roles: (values.roles ?? '').split(',').map((r) => r.trim()).filter(Boolean), organization: values.organization });
          } catch (err) {
            fail((err as Error).message);
          }
        })()
      : undefined;
  const secretExpiresAt = expiresIn(values['expires-in']);
  const jwks = jwksFile(values.jwks);
  const running = config.databaseUrl ? undefined : runningGateway(config.dataDir);
  if (running) {
    // The gateway holds the embedded database: the change goes through it.
    try {
      const out = await clientThroughGateway(running, action, id, { ...input, jwks, secretExpiresAt, json: values.json });
      process.stdout.write(`${typeof out === 'string' ? out : JSON.stringify(out)}\n`);
    } catch (err) {
      fail((err as Error).message);
    }
    return;
  }
  const db = await openStore(config, createLogger('warn'));
  const trail = auditTrail({ principal: { clientId: 'aiguillage-cli', roles: ['admin'] } });
  try {
    const out = await db.transaction(async (q): Promise<unknown> => {
      switch (action) {
        case 'create':
          return createClient(q, { ...(input as NonNullable<typeof input>), jwks, secretExpiresAt }, trail);
        case 'list': {
          const clients = await listClients(q);
          if (values.json) return clients.map(clientJson);
          const lines = clients.map((c) =>
            [c.id, c.active ? 'active' : 'inactive', c.authMethod, c.roles.join(','), c.organization ?? '-', c.secretExpiresAt ? `expires ${c.secretExpiresAt.toISOString()}` : '-', c.name].join('\t')
          );
          return ['id\tstate\tauthentication\troles\torganization\tsecret\tname', ...lines].join('\n');
        }
        case 'deactivate':
          return clientJson(await deactivateClient(q, id, trail));
        case 'activate':
          return clientJson(await activateClient(q, id, trail));
        case 'rotate': {
          const rotated = await rotateClient(q, id, { jwks, secretExpiresAt }, trail);
          return { ...clientJson(rotated.client), ...(rotated.client_secret ? { client_secret: rotated.client_secret } : {}) };
        }
        default:
          await deleteClient(q, id, trail);
          return { client_id: id, deleted: true };
      }
    });
    process.stdout.write(`${typeof out === 'string' ? out : JSON.stringify(out)}\n`);
  } catch (err) {
    if (err instanceof ClientError) fail(err.message);
    throw err;
  } finally {
    await db.close();
  }
}

/** The `client` actions, through the running gateway's `/admin/clients` API. */
async function clientThroughGateway(
  admin: LocalAdmin,
  action: string,
  id: string | undefined,
  input: { name?: string; roles?: Role[]; organization?: string; jwks?: JSONWebKeySet; secretExpiresAt?: Date; json?: boolean }
): Promise<unknown> {
  const expiresIn = input.secretExpiresAt ? { client_secret_expires_in: Math.max(1, Math.round((input.secretExpiresAt.getTime() - Date.now()) / 1000)) } : {};
  const path = `/${encodeURIComponent(id ?? '')}`;
  switch (action) {
    case 'create': {
      const made = (await callRunningGateway(admin, 'POST', '', { client_name: input.name, roles: input.roles, organization: input.organization, jwks: input.jwks, ...expiresIn })) as Record<string, unknown>;
      return { client_id: made.client_id, ...(made.client_secret ? { client_secret: made.client_secret } : {}) };
    }
    case 'list': {
      const { clients } = (await callRunningGateway(admin, 'GET', '')) as { clients: Record<string, unknown>[] };
      if (input.json) return clients;
      const lines = clients.map((c) =>
        [c.client_id, c.active ? 'active' : 'inactive', c.token_endpoint_auth_method === 'private_key_jwt' ? 'private_key_jwt' : 'client_secret', (c.roles as string[]).join(','), c.organization ?? '-', c.client_secret_expires_at ? `expires ${new Date((c.client_secret_expires_at as number) * 1000).toISOString()}` : '-', c.client_name].join('\t')
      );
      return ['id\tstate\tauthentication\troles\torganization\tsecret\tname', ...lines].join('\n');
    }
    case 'deactivate':
    case 'activate':
      return callRunningGateway(admin, 'POST', `${path}/${action}`);
    case 'rotate':
      return callRunningGateway(admin, 'POST', `${path}/rotate`, { jwks: input.jwks, ...expiresIn });
    default:
      await callRunningGateway(admin, 'DELETE', path);
      return { client_id: id, deleted: true };
  }
}

/** The data rows of a CSV file: its lines but the header (a value holding a line break counts as two: the bar may then stop short of 100 %, never run past it). */
async function dataRows(file: string): Promise<number> {
  let lines = 0;
  let last = 10;
  for await (const chunk of fs.createReadStream(file) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    last = chunk[chunk.length - 1];
  }
  if (last !== 10) lines++;
  return Math.max(0, lines - 1);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const config = loadConfig();
  switch (command) {
    case 'start':
    case 'serve':
    case 'worker': {
      const { values } = parseArgs({ args: rest, options: { processes: { type: 'string' } } });
      if (values.processes !== undefined && command === 'worker') fail('worker takes no --processes: run as many worker commands as wanted');
      if (values.processes !== undefined && !/^[1-9]\d*$/.test(values.processes)) fail(`--processes is a number of processes (1 or more), got "${values.processes}"`);
      const processes = command === 'worker' ? 1 : values.processes !== undefined ? Number(values.processes) : config.processes;
      const refusal = clusterRefusal(config, processes);
      if (refusal) fail(refusal);
      if (processes > 1 && !isClusterProcess()) {
        await runPrimary(config, processes, createLogger(config.logLevel));
        return;
      }
      if (isClusterProcess()) {
        // One of the primary's processes: its metrics are the primary's to serve, its log lines say which it is.
        offerMetrics();
        const gateway = await start(
          { ...config, metrics: undefined },
          { api: true, workers: command === 'start', logger: createLogger(config.logLevel).child({ apiProcess: clusterProcessId(), pid: process.pid }) }
        );
        offerMetrics(gateway.metrics.registry);
        process.once('disconnect', () => process.kill(process.pid, 'SIGTERM')); // the primary is gone
        runUntilSignal(gateway);
        return;
      }
      const gateway = await start(config, { api: command !== 'worker', workers: command !== 'serve' });
      const nodeWarning = nodeSupportWarning();
      if (nodeWarning) gateway.logger.warn(nodeWarning);
      runUntilSignal(gateway);
      return;
    }
    case 'migrate': {
      const logger = createLogger(config.logLevel);
      const db = await openStore(config, logger);
      await db.close();
      return;
    }
    case 'client': {
      await clientCommand(config, rest);
      return;
    }
    case 'seed': {
      const gateway = await start(config, { api: false, workers: false, logger: createLogger('warn') });
      try {
        const bundle = JSON.parse(fs.readFileSync(fromRoot('fixtures', 'demo-directory.json'), 'utf8')) as unknown;
        const response = await handleFhir(gateway.services, {
          method: 'POST',
          path: '',
          query: new URLSearchParams(),
          body: bundle,
          principal: { clientId: 'seed', roles: ['admin'] },
        });
        const entries = (response.body as { entry?: unknown[] }).entry ?? [];
        process.stdout.write(`Seeded ${entries.length} directory resources (Organization, HealthcareService, Location).\n`);
      } finally {
        await gateway.shutdown();
      }
      return;
    }
    case 'demo': {
      if (config.databaseUrl) fail('demo runs on the embedded database: unset DATABASE_URL (or use seed and client create on a server)');
      if (runningGateway(config.dataDir)) fail(`a gateway is running on ${config.dataDir}: stop it, run demo, then start it again`);
      const { clients, done } = await makeDemo(config);
      const file = path.resolve('demo-clients.json');
      fs.writeFileSync(file, `${JSON.stringify({ baseUrl: config.baseUrl, clients }, null, 2)}\n`, { mode: 0o600 });
      fs.chmodSync(file, 0o600);
      process.stdout.write(`${done.map((d) => `- ${d}`).join('\n')}\n\n${demoInstructions(clients, config.baseUrl, file)}`);
      return;
    }
    case 'ror-sync': {
      const { values } = parseArgs({ args: rest, options: { full: { type: 'boolean' } } });
      if (!config.ror) fail('ror-sync needs ROR_BASE_URL (and ROR_TOKEN_URL, ROR_CLIENT_ID, ROR_CLIENT_SECRET, the ROR_* headers)');
      const gateway = await start(config, { api: false, workers: false, logger: createLogger('warn') });
      try {
        const { services } = gateway;
        const id = await openSync(services.db, values.full ? 'full' : 'auto', services.clock.now(), config.ror.pageSize);
        const result = await runSync(
          {
            db: services.db,
            validator: services.validator,
            clock: services.clock,
            client: rorClient(config.ror),
            onProgress: (p) =>
              process.stderr.write(
                `\r${p.mode} pull ${p.id.slice(0, 8)}: ${p.applied} applied, ${p.skipped} unchanged, ${p.rejected} rejected${p.files ? ` (file ${Math.min(p.file_index + 1, p.files.length)}/${p.files.length})` : ''}   `
              ),
          },
          id
        );
        process.stderr.write('\n');
        process.stdout.write(`${JSON.stringify({ id: result.id, mode: result.mode, state: result.state, applied: result.applied, skipped: result.skipped, rejected: result.rejected, errors: result.errors.slice(0, 10) })}\n`);
        if (result.state !== 'completed') process.exitCode = 1;
      } finally {
        await gateway.shutdown();
      }
      return;
    }
    case 'import-decisions': {
      const { values, positionals } = parseArgs({ args: rest, options: { mdph: { type: 'string' } }, allowPositionals: true });
      const file = positionals[0];
      if (!file || !values.mdph) fail('usage: aiguillage import-decisions FILE --mdph DEPT');
      if (!/^(\d{2,3}|2[AB])$/.test(values.mdph)) fail(`--mdph is a department code (2 or 3 digits, or 2A/2B), got "${values.mdph}"`);
      if (!fs.existsSync(file)) fail(`no such file: ${file}`);
      const gateway = await start(config, { api: false, workers: false, logger: createLogger('warn') });
      try {
        const { db, clock } = gateway.services;
        const principal = { clientId: 'aiguillage-cli', roles: ['mdph' as Role], organization: `https://aiguillage.org/fhir/NamingSystem/mdph|${values.mdph}` };
        // The bar follows rows applied out of the file's data rows (counted first: the file is stored whole before any row is applied).
        const total = await dataRows(file);
        const accepted = await acceptImport(db, principal, values.mdph, fs.createReadStream(file), config.maxImportBytes);
        // Run here, not by a worker: the CLI shows the progress.
        await markJobDone(db, 'mdph-import', accepted.job.jobId);
        const started = Date.now();
        let rowsDone = 0;
        const result = await runImport(
          {
            db,
            clock,
            push: (jobs) => pushScheduled(gateway.services, jobs),
            onChunk: ({ rows }) => {
              rowsDone += rows;
              const share = total > 0 ? Math.min(1, rowsDone / total) : 1;
              const bar = '#'.repeat(Math.round(share * 30)).padEnd(30, '.');
              const rate = Math.round(rowsDone / Math.max(0.001, (Date.now() - started) / 1000));
              process.stderr.write(`\r[${bar}] ${Math.round(share * 100)}% ${rowsDone} of ${total} rows, ${rate} rows/s   `);
            },
          },
          accepted.id
        );
        process.stderr.write('\n');
        const report = await importReport(db, principal, accepted.id);
        process.stdout.write(`${JSON.stringify({ id: accepted.id, encoding: accepted.encoding, ...result, report: report.outcome.issue?.slice(0, 20).map((i) => i.diagnostics) })}\n`);
        if (result.state !== 'completed' || result.rowsRejected > 0) process.exitCode = 1;
      } finally {
        await gateway.shutdown();
      }
      return;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      fail(`unknown command "${command}"\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`aiguillage: ${(err as Error).message ?? String(err)}\n`);
  process.exit(1);
});

/**
 * `aiguillage demo`: everything needed to try the three jobs on the embedded
 * database. It loads the demo directory and an ESMS, makes one client per
 * role with a matching organization, sends a sample admission request to
 * three units and imports a sample MDPH decision, all through the gateway's
 * own code paths. It writes the clients' credentials to `demo-clients.json`
 * (readable by its owner only) and prints the next steps. Run again, it
 * renews the demo clients' secrets and adds nothing twice.
 */
import fs from 'node:fs';
import type { Bundle } from '@medplum/fhirtypes';
import { createClient, listClients, rotateClient } from './auth/clients.js';
import type { Config } from './config.js';
import type { Principal, Role } from './core/principal.js';
import { auditTrail } from './domain/audit/trail.js';
import { runImport } from './domain/decision/import-run.js';
import { acceptImport } from './domain/decision/import-upload.js';
import { handleFhir } from './fhir/dispatch.js';
import { pushScheduled, type FhirServices } from './fhir/types.js';
import { createLogger } from './logger.js';
import { start } from './main.js';
import { fromRoot } from './paths.js';
import { markJobDone } from './store/tables/job-schedule.js';

const HOSPITAL = 'https://finess.esante.gouv.fr|750000001';
const MDPH_75 = 'https://aiguillage.org/fhir/NamingSystem/mdph|75';
const ESMS = 'https://finess.esante.gouv.fr|750000301';
const PORTAL = 'https://finess.esante.gouv.fr|750000777';
const DEMO_REQUEST = 'https://aiguillage.org/fhir/demo|request-1';

/** One client per role, and the organization it acts for. */
export const DEMO_CLIENTS: readonly { role: Role; organization?: string; what: string }[] = [
  { role: 'prescriber', organization: HOSPITAL, what: 'the hospital’s EHR: sends admission requests, follows the answers' },
  { role: 'care-team', organization: HOSPITAL, what: 'the hospital’s care team' },
  { role: 'admin-social', organization: HOSPITAL, what: 'the hospital’s administrative and social manager' },
  { role: 'non-medical-manager', organization: HOSPITAL, what: 'the hospital’s non-medical manager' },
  { role: 'portal', organization: PORTAL, what: 'a person-facing portal: Grand Âge requests (EHPAD, USLD) made for the person' },
  { role: 'receiver', organization: 'Organization/demo-ej-ehpad', what: 'the EHPAD Les Tilleuls, a receiving unit: reads and answers requests' },
  { role: 'mdph', organization: MDPH_75, what: 'the MDPH of Paris: imports orientation decisions' },
  { role: 'esms', organization: ESMS, what: 'the IME Les Peupliers, an ESMS: pulls and answers decisions' },
  { role: 'ror', what: 'the national directory (ROR): pushes directory updates' },
  { role: 'admin', what: 'the gateway’s administrator' },
];

/** A demo client's credentials. */
export interface DemoClient {
  role: Role;
  organization?: string;
  client_id: string;
  client_secret: string;
}

const demoName = (role: Role): string => `demo ${role}`;

async function fhir(services: FhirServices, principal: Principal, method: string, path: string, body?: unknown, query = ''): Promise<{ status: number; body: unknown }> {
  const response = await handleFhir(services, { method, path, query: new URLSearchParams(query), body, principal });
  return { status: response.status, body: response.body };
}

function fixture(name: string): string {
  return fs.readFileSync(fromRoot('fixtures', name), 'utf8');
}

/** Makes the demo (idempotent); returns the clients and what it did. */
export async function makeDemo(config: Config): Promise<{ clients: DemoClient[]; done: string[] }> {
  const gateway = await start(config, { api: false, workers: false, logger: createLogger('warn') });
  const done: string[] = [];
  try {
    const { services } = gateway;
    const admin: Principal = { clientId: 'aiguillage-demo', roles: ['admin'] };
    const directory = await fhir(services, admin, 'POST', '', JSON.parse(fixture('demo-directory.json')));
    const esms = await fhir(services, admin, 'PUT', 'Organization/demo-esms-ime', JSON.parse(fixture('demo/esms.json')));
    if (directory.status !== 200 || esms.status >= 300) throw new Error(`the demo directory was refused: ${JSON.stringify([directory.body, esms.body]).slice(0, 500)}`);
    done.push('demo directory: 3 organizations, 2 places, 3 units (SMR, HAD, EHPAD), and an ESMS (IME Les Peupliers)');

    const trail = auditTrail({ principal: admin });
    const clients = await services.db.transaction(async (q) => {
      const existing = await listClients(q);
      const made: DemoClient[] = [];
      for (const { role, organization } of DEMO_CLIENTS) {
        const found = existing.find((c) => c.name === demoName(role) && c.active);
        const secret = found
          ? { client_id: found.id, client_secret: (await rotateClient(q, found.id, {}, trail)).client_secret as string }
          : await createClient(q, { name: demoName(role), roles: [role], ...(organization ? { organization } : {}) }, trail);
        made.push({ role, ...(organization ? { organization } : {}), ...secret });
      }
      return made;
    });
    done.push(`${clients.length} clients, one per role (secrets renewed if they existed)`);

    const prescriber = clients.find((c) => c.role === 'prescriber') as DemoClient;
    const asPrescriber: Principal = { clientId: prescriber.client_id, roles: ['prescriber'], organization: HOSPITAL };
    const already = await fhir(services, asPrescriber, 'GET', 'ServiceRequest', undefined, `identifier=${DEMO_REQUEST}`);
    if (((already.body as Bundle).entry ?? []).length > 0) {
      done.push('sample admission request: there already');
    } else {
      const sent = await fhir(services, asPrescriber, 'POST', '', JSON.parse(fixture('demo/request.json')));
      if (sent.status !== 200) throw new Error(`the sample request was refused: ${JSON.stringify(sent.body).slice(0, 500)}`);
      done.push('sample admission request: sent to the SMR, HAD and EHPAD units');
    }

    const { rows } = await services.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM decision_import WHERE department = '75' AND state = 'completed'`);
    if (rows[0].n > 0) {
      done.push('sample MDPH decision: there already');
    } else {
      const mdph = clients.find((c) => c.role === 'mdph') as DemoClient;
      const principal: Principal = { clientId: mdph.client_id, roles: ['mdph'], organization: MDPH_75 };
      async function* file(): AsyncGenerator<Uint8Array> {
        yield Buffer.from(fixture('demo/decisions.csv'), 'utf8');
      }
      const accepted = await acceptImport(services.db, principal, '75', file(), config.maxImportBytes);
      await markJobDone(services.db, 'mdph-import', accepted.job.jobId);
      const result = await runImport({ db: services.db, clock: services.clock, push: (jobs) => pushScheduled(services, jobs) }, accepted.id);
      if (result.rowsOk !== 1) throw new Error(`the sample decision was not imported: ${JSON.stringify(result)}`);
      done.push('sample MDPH decision: imported for the IME Les Peupliers');
    }
    return { clients, done };
  } finally {
    await gateway.shutdown();
  }
}

/** What to do next, with the clients' credentials. */
export function demoInstructions(clients: readonly DemoClient[], baseUrl: string, credentialsFile: string): string {
  const token = (role: Role): string => {
    const c = clients.find((x) => x.role === role) as DemoClient;
    return `${role.toUpperCase().replace('-', '_')}=$(curl -s -u '${c.client_id}:${c.client_secret}' -d grant_type=client_credentials ${baseUrl}/oauth2/token | jq -r .access_token)`;
  };
  const lines = [
    `Credentials of the demo clients: ${credentialsFile} (keep it private).`,
    '',
    'Clients:',
    ...DEMO_CLIENTS.map((c) => `  ${c.role.padEnd(13)} ${c.what}`),
    '',
    'Next steps:',
    '  1. start the gateway (Redis at REDIS_URL for background jobs):',
    '       npm start',
    '  2. tokens (OAuth2 client_credentials), e.g.:',
    `       ${token('prescriber')}`,
    `       ${token('receiver')}`,
    `       ${token('esms')}`,
    `       ${token('mdph')}`,
    '     (the other roles likewise, from the same file)',
    '  3. the receiving unit reads the request addressed to it:',
    `       curl -s "${baseUrl}/fhir/Task?_include=Task:focus" -H "Authorization: Bearer $RECEIVER" | jq '.entry[].resource | {resourceType, id, status}'`,
    '  4. the prescriber follows its request and its three tasks:',
    `       curl -s "${baseUrl}/fhir/Task?_include=Task:focus" -H "Authorization: Bearer $PRESCRIBER" | jq '.entry[].resource | {resourceType, id, owner: .owner.reference, businessStatus: .businessStatus.coding[0].code}'`,
    '  5. the ESMS pulls the decision it is notified of:',
    `       curl -s "${baseUrl}/fhir/Task" -H "Authorization: Bearer $ESMS" | jq '.entry[].resource | {id, status, businessStatus: .businessStatus.coding[0].code}'`,
    '  6. the MDPH imports another file (answered 202, then poll the Content-Location):',
    `       curl -si -X POST "${baseUrl}/fhir/\\$import-decisions" -H "Authorization: Bearer $MDPH" -H 'Prefer: respond-async' -H 'Content-Type: text/csv' --data-binary @fixtures/demo/decisions.csv`,
    '',
    'What each step means, and how a unit answers or an ESMS moves a decision: docs/examples/.',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The work lists of orientation decisions (issue 17): an ESMS's by section,
 * an MDPH's by validity colour, Creton, priority; search by name or decision
 * number; CSV and XLSX exports; nobody else's.
 */
import type { Bundle, ServiceRequest, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esmsStatusConcept, ESMS_STATUSES } from '../mappings/decision/statuses.js';
import { FHIR_JSON, startTestGateway, waitFor, type TestGateway } from './helpers.js';

let t: TestGateway;
const tokens: Record<string, string> = {};
const MDPH = 'https://aiguillage.org/fhir/NamingSystem/mdph';
const FINESS = 'https://finess.esante.gouv.fr';
const HEADER =
  'numero_individu;date_naissance;nom;prenom;sexe;id_decision;id_nat_decision;categorie_esms;date_debut_validite;date_fin_validite;caracterisation_esms;caracterisation_pro;creton;finess_esms';

const get = (who: string, path: string) => t.http.get(path).set('Authorization', `Bearer ${tokens[who]}`);

/** A day `days` after the gateway's today. */
function inDays(days: number): string {
  const d = t.gateway.services.clock.now();
  return new Date(d.getTime() + days * 86_400_000).toISOString().slice(0, 10);
}

beforeAll(async () => {
  t = await startTestGateway({ workers: true });
  tokens.admin = await t.tokenFor(['admin']);
  const res = await t.http
    .put('/fhir/Organization/esms-w')
    .set('Authorization', `Bearer ${tokens.admin}`)
    .set('Content-Type', FHIR_JSON)
    .send({ resourceType: 'Organization', id: 'esms-w', name: 'Foyer Les Mimosas', identifier: [{ system: FINESS, value: '750000401' }], type: [{ coding: [{ code: '255' }] }], address: [{ postalCode: '75012' }] });
  expect(res.status).toBeLessThan(300);
  tokens.esms = await t.tokenFor(['esms'], `${FINESS}|750000401`);
  tokens.mdph = await t.tokenFor(['mdph'], `${MDPH}|75`);
  tokens.otherMdph = await t.tokenFor(['mdph'], `${MDPH}|13`);
  tokens.prescriber = await t.tokenFor(['prescriber'], `${FINESS}|750000001`);
  const csv = [
    HEADER,
    `I-W1;2001-02-03;Carre;Camille;F;DEC-W1;NAT-W1;255;2025-01-01;${inDays(10)};2;;1;750000401`,
    `I-W2;1999-05-06;Lebrun;Paul;M;DEC-W2;NAT-W2;255;2025-01-01;${inDays(60)};;;0;750000401`,
    `I-W3;1998-07-08;Morel;Lina;F;DEC-W3;NAT-W3;255;2025-01-01;${inDays(400)};3;;0;750000401`,
  ].join('\n');
  const imported = await t.http.post('/fhir/$import-decisions').set('Authorization', `Bearer ${tokens.mdph}`).set('Content-Type', 'text/csv').set('Prefer', 'respond-async').send(`${csv}\n`);
  expect(imported.status).toBe(202);
  const path = new URL(imported.headers['content-location'] as string).pathname;
  await waitFor('the import', async () => (await get('mdph', path)).status === 200);
  // The ESMS puts Lebrun on its waiting list.
  const decision = ((await get('admin', `/fhir/ServiceRequest?identifier=${encodeURIComponent('urn:oid:1.2.250.1.213.7.75|DEC-W2')}`)).body as Bundle<ServiceRequest>).entry?.[0]?.resource as ServiceRequest;
  const task = ((await get('admin', `/fhir/Task?focus=ServiceRequest/${decision.id}`)).body as Bundle<Task>).entry?.[0]?.resource as Task;
  const moved = await t.http
    .put(`/fhir/Task/${task.id}`)
    .set('Authorization', `Bearer ${tokens.esms}`)
    .set('Content-Type', FHIR_JSON)
    .set('If-Match', `W/"${task.meta?.versionId}"`)
    .send({ ...task, status: ESMS_STATUSES['42'].taskStatus, businessStatus: esmsStatusConcept('42') });
  expect(moved.status, JSON.stringify(moved.body)).toBe(200);
});
afterAll(() => t.close());

const people = (res: { body: { rows: { person: string }[] } }): string[] => res.body.rows.map((r) => r.person).sort();

describe('decisions work lists', () => {
  it('an ESMS’s, by section, searched by name or decision number', async () => {
    expect(people(await get('esms', '/dashboard/decisions'))).toEqual(['Carre Camille', 'Lebrun Paul', 'Morel Lina']);
    expect(people(await get('esms', '/dashboard/decisions?section=waiting-list'))).toEqual(['Lebrun Paul']);
    expect(people(await get('esms', '/dashboard/decisions?section=notified'))).toEqual(['Carre Camille', 'Morel Lina']);
    expect(people(await get('esms', '/dashboard/decisions?name=mor'))).toEqual(['Morel Lina']);
    expect(people(await get('esms', '/dashboard/decisions?decision=DEC-W1'))).toEqual(['Carre Camille']);
    const row = (await get('esms', '/dashboard/decisions?decision=DEC-W2')).body.rows[0];
    expect(row).toMatchObject({ status: '42', section: 'waiting-list', sectionLabel: 'Liste d’attente', esms: 'Foyer Les Mimosas', department: '75', category: '255', creton: 'non' });
  });

  it('an MDPH’s, by validity colour, Creton and priority', async () => {
    expect(people(await get('mdph', '/dashboard/decisions'))).toEqual(['Carre Camille', 'Lebrun Paul', 'Morel Lina']);
    expect(people(await get('mdph', '/dashboard/decisions?validity=red'))).toEqual(['Carre Camille']);
    expect(people(await get('mdph', '/dashboard/decisions?validity=orange'))).toEqual(['Lebrun Paul']);
    expect(people(await get('mdph', '/dashboard/decisions?validity=green'))).toEqual(['Morel Lina']);
    expect(people(await get('mdph', '/dashboard/decisions?creton=true'))).toEqual(['Carre Camille']);
    expect(people(await get('mdph', '/dashboard/decisions?priority=3'))).toEqual(['Morel Lina']);
    expect((await get('otherMdph', '/dashboard/decisions')).body.rows).toEqual([]);
  });

  it('exports as CSV and XLSX', async () => {
    const csv = await get('mdph', '/dashboard/decisions?format=csv');
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    const lines = csv.text.replace(/^\uFEFF/, '').trim().split('\r\n');
    expect(lines[0].split(';').slice(0, 3)).toEqual(['N° de décision', 'Personne', 'Date de naissance']);
    expect(lines).toHaveLength(4);
    const xlsx = await get('esms', '/dashboard/decisions').set('Accept', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet').buffer(true);
    expect(xlsx.status).toBe(200);
    expect(xlsx.headers['content-type']).toMatch(/spreadsheetml/);
  });

  it('is an ESMS’s or an MDPH’s only, and refuses what it does not understand', async () => {
    expect((await get('prescriber', '/dashboard/decisions')).status).toBe(403);
    expect((await t.http.get('/dashboard/decisions')).status).toBe(401);
    for (const q of ['section=everything', 'validity=purple', 'creton=maybe', 'priority=high', 'colour=blue']) expect((await get('esms', `/dashboard/decisions?${q}`)).status, q).toBe(400);
  });
});

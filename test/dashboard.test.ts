/** Dashboards: the five sections of seed 002, search by name and request number, unread counts, CSV and XLSX exports. */
import type { ServiceRequest } from '@medplum/fhirtypes';
import ExcelJS from 'exceljs';
import { parisTime } from '../src/http/dashboard-routes.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_REFERRAL_DURATIONS } from '../mappings/duration.js';
import { runDeadline } from '../src/domain/referral/deadline-run.js';
import type { DeadlineJob } from '../src/jobs/catalogue.js';
import { startTestGateway, testPatient, type TestGateway } from './helpers.js';
import { as, idFrom, makeWorld, message, move, submission, type UnitName, type World } from './referral-world.js';

let t: TestGateway;
let w: World;
const clock = { offsetMs: 0, now: () => new Date(Date.now() + clock.offsetMs) };

async function submitFor(family: string, units: UnitName[]): Promise<{ requestId: string; tasks: Record<string, import('@medplum/fhirtypes').Task> }> {
  const bundle = submission(units, testPatient({ name: [{ use: 'official', family, given: ['Léa'] }] }));
  (bundle.entry?.[5]?.resource as ServiceRequest).identifier = [{ system: 'urn:oid:1.2.250.1.71.4.2.7.750000001.dossier', value: `DOS-${family}` }];
  const res = await as(w, w.prescriber).post('', bundle);
  expect(res.status).toBe(200);
  const requestId = idFrom(res.body.entry[5].response.location);
  const tasks = Object.fromEntries(
    ((await as(w, w.prescriber).get(`Task?focus=ServiceRequest/${requestId}`)).body.entry ?? []).map((e: { resource: import('@medplum/fhirtypes').Task }) => [
      (e.resource.owner?.reference as string).split('/')[1],
      e.resource,
    ])
  );
  return { requestId, tasks };
}

beforeAll(async () => {
  t = await startTestGateway({ clock });
  w = await makeWorld(t);
  // In progress (with an unread message), refused, admitted, cancelled and archived, all at SMR.
  const inProgress = await submitFor('Martin', ['smr']);
  await as(w, w.prescriber).post('Communication', message(inProgress.tasks.smr.id as string, 'Bonjour'));
  const refused = await submitFor('Bernard', ['smr']);
  await move(w, w.unit.smr, refused.tasks.smr, 'refused');
  const admitted = await submitFor('Durand', ['smr']);
  const accepted = (await move(w, w.unit.smr, admitted.tasks.smr, 'accepted')).body;
  const confirmed = (await move(w, w.prescriber, accepted, 'confirmed')).body;
  await move(w, w.unit.smr, confirmed, 'admitted');
  const cancelled = await submitFor('Petit', ['smr']);
  await move(w, w.prescriber, cancelled.tasks.smr, 'cancelled');
  const archived = await submitFor('Robert', ['smr', 'had']);
  const request = (await as(w, w.prescriber).get(`ServiceRequest/${archived.requestId}`)).body;
  await as(w, w.prescriber).put(`ServiceRequest/${archived.requestId}`, { ...request, status: 'revoked' });
  // Fifteen days later the archiving deadline runs (called directly: no Redis here).
  const { rows } = await t.gateway.db.query<{ job_id: string; data: DeadlineJob }>(`SELECT job_id, data FROM job_schedule WHERE queue = 'deadlines' AND subject = $1 AND state = 'pending'`, [
    archived.requestId,
  ]);
  clock.offsetMs = 16 * 86_400_000;
  const ran = await runDeadline({ db: t.gateway.db, clock, durations: DEFAULT_REFERRAL_DURATIONS }, rows[0].job_id, rows[0].data);
  clock.offsetMs = 0;
  expect(ran.done).toBe('archive');
});
afterAll(() => t.close());

const get = (token: string, query: string) => t.http.get(`/dashboard/tasks?${query}`).set('Authorization', `Bearer ${token}`);

describe('dashboards', () => {
  it('sorts a unit’s tasks into the five sections', async () => {
    const all = await get(w.unit.smr, 'view=unit');
    expect(all.status).toBe(200);
    const bySection = Object.fromEntries(['in-progress', 'refused', 'admissions', 'cancelled', 'archived'].map((s) => [s, all.body.rows.filter((r: { section: string }) => r.section === s).map((r: { patient: string }) => r.patient)]));
    expect(bySection).toEqual({ 'in-progress': ['Martin Léa'], refused: ['Bernard Léa'], admissions: ['Durand Léa'], cancelled: ['Petit Léa'], archived: ['Robert Léa'] });
    for (const section of ['in-progress', 'refused', 'admissions', 'cancelled', 'archived']) {
      const one = await get(w.unit.smr, `view=unit&section=${section}`);
      expect(one.body.rows.map((r: { section: string }) => r.section)).toEqual([section]);
    }
    expect((await get(w.unit.had, 'view=unit')).body.rows.map((r: { patient: string }) => r.patient)).toEqual(['Robert Léa']);
  });

  it('finds by patient name (accents and case ignored) or request number, and counts unread messages', async () => {
    const byName = await get(w.unit.smr, 'view=unit&name=martin');
    expect(byName.body.rows).toHaveLength(1);
    expect(byName.body.rows[0].unread).toBe(1);
    expect((await get(w.unit.smr, 'view=unit&name=LÉA')).body.rows).toHaveLength(5);
    const byNumber = await get(w.unit.smr, 'view=unit&request=DOS-Durand');
    expect(byNumber.body.rows.map((r: { patient: string; statusLabel: string }) => [r.patient, r.statusLabel])).toEqual([['Durand Léa', 'Demande d’admission finalisée – patient admis'.replace('’', "'")]]);
    const prescriber = await get(w.prescriber, 'view=prescriber&section=in-progress');
    expect(prescriber.body.rows.map((r: { patient: string; unread: number }) => [r.patient, r.unread])).toEqual([['Martin Léa', 0]]);
  });

  it('writes instants in Paris time, winter and summer', () => {
    expect(parisTime('2026-12-05T09:15:00.000Z')).toBe('2026-12-05T10:15:00+01:00');
    expect(parisTime('2026-07-14T22:30:05.000Z')).toBe('2026-07-15T00:30:05+02:00');
  });

  it('exports the same list as CSV and as a real XLSX file', async () => {
    const json = (await get(w.unit.smr, 'view=unit')).body.rows;
    const csv = await get(w.unit.smr, 'view=unit&format=csv');
    expect(csv.headers['content-type']).toContain('text/csv');
    const lines = csv.text.replace(/^\uFEFF/, '').trim().split('\r\n');
    expect(lines[0].split(';').slice(0, 3)).toEqual(['Rubrique', 'Patient', 'Date de naissance']);
    expect(lines.slice(1).map((l) => l.split(';')[1])).toEqual(json.map((r: { patient: string }) => r.patient));
    // Exports read in Paris time with the offset, and say why a task was refused or cancelled.
    const heading = lines[0].split(';');
    const row = (patient: string) => Object.fromEntries(heading.map((h, i) => [h, (lines.find((l) => l.split(';')[1] === patient) as string).split(';')[i]]));
    const refused = row('Bernard Léa');
    expect(refused['Motif de refus ou d’annulation']).toBe('Pas de place disponible');
    expect(row('Petit Léa')['Motif de refus ou d’annulation']).toBe('Annulée par le prescripteur');
    expect(row('Martin Léa')['Motif de refus ou d’annulation']).toBe('');
    const since = json.find((r: { patient: string }) => r.patient === 'Bernard Léa').since as string;
    expect(refused.Depuis).toBe(parisTime(since));
    expect(refused.Depuis).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00$/);
    expect(new Date(refused.Depuis).getTime()).toBe(Math.floor(new Date(since).getTime() / 1000) * 1000);

    const xlsx = await get(w.unit.smr, 'view=unit').set('Accept', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet').buffer(true).parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    });
    expect(xlsx.status).toBe(200);
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.load(new Uint8Array(xlsx.body as Buffer).buffer as ArrayBuffer);
    const sheet = workbook.getWorksheet('Tableau de bord');
    expect(sheet?.getRow(1).getCell(2).value).toBe('Patient');
    const patients: string[] = [];
    sheet?.eachRow((row, n) => {
      if (n > 1) patients.push(String(row.getCell(2).value));
    });
    expect(patients).toEqual(json.map((r: { patient: string }) => r.patient));
  });

  it('refuses callers without the side’s role or organization, and bad parameters', async () => {
    expect((await get(w.prescriber, 'view=unit')).status).toBe(403);
    expect((await get(w.unit.smr, 'view=prescriber')).status).toBe(403);
    expect((await t.http.get('/dashboard/tasks')).status).toBe(401);
    expect((await get(w.unit.smr, 'view=unit&section=nope')).status).toBe(400);
    expect((await get(w.unit.smr, 'view=unit&bogus=1')).status).toBe(400);
    expect((await get(w.unit.smr, 'view=unit&format=pdf')).status).toBe(406);
  });
});

/** Smoke suite on the embedded database (PGlite): the default of `npm start`, and data surviving a restart. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import supertest from 'supertest';
import type { Patient } from '@medplum/fhirtypes';
import { openDatabase } from '../src/store/db.js';
import { FHIR_JSON, startTestGateway, testPatient } from './helpers.js';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiguillage-embedded-'));
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

describe('embedded database', () => {
  it('serves metadata, writes, searches, and keeps data and tokens across a restart', async () => {
    const first = await startTestGateway({ config: { dataDir, databaseUrl: undefined } });
    expect(first.gateway.db.kind).toBe('embedded');
    let token: string;
    let created: Patient;
    try {
      expect((await first.http.get('/fhir/metadata')).status).toBe(200);
      token = await first.tokenFor(['prescriber'], 'https://finess.esante.gouv.fr|750000001');
      const res = await first.http.post('/fhir/Patient').set('Authorization', `Bearer ${token}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(testPatient()));
      expect(res.status).toBe(201);
      created = res.body;
      const update = await first.http
        .put(`/fhir/Patient/${created.id}`)
        .set('Authorization', `Bearer ${token}`)
        .set('If-Match', 'W/"1"')
        .set('Content-Type', FHIR_JSON)
        .send(JSON.stringify({ ...created, gender: 'other' }));
      expect(update.status).toBe(200);
      // A second process may not open the same directory while the first holds it.
      await expect(openDatabase({ dataDir })).rejects.toThrow(/in use by process/);
    } finally {
      await first.close();
    }

    const second = await startTestGateway({ config: { dataDir, databaseUrl: undefined } });
    try {
      const read = await supertest(second.gateway.server as never).get(`/fhir/Patient/${created.id}`).set('Authorization', `Bearer ${token}`);
      expect(read.status).toBe(200);
      expect(read.body.gender).toBe('other');
      expect(read.body.meta.versionId).toBe('2');
      const search = await second.http.get(`/fhir/Patient?identifier=${created.identifier?.[0].value}`).set('Authorization', `Bearer ${token}`);
      expect(search.body.entry.map((e: { resource: Patient }) => e.resource.id)).toEqual([created.id]);
      expect((await second.http.get(`/fhir/Patient/${created.id}/_history/1`).set('Authorization', `Bearer ${token}`)).body.gender).toBe('female');
    } finally {
      await second.close();
    }
  }, 60_000);
});

describe('embedded database, every module', () => {
  it('takes a referral transaction, an MDPH import, indicators and a dashboard export', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiguillage-embedded-modules-'));
    const t = await startTestGateway({ config: { dataDir: dir, databaseUrl: undefined } });
    try {
      const { as, makeWorld, submission } = await import('./referral-world.js');
      const w = await makeWorld(t);
      expect((await as(w, w.prescriber).post('', submission(['smr', 'had']))).status).toBe(200);
      expect((await as(w, w.unit.smr).get('Task')).body.entry).toHaveLength(1);
      const mdph = await t.tokenFor(['mdph'], 'https://aiguillage.org/fhir/NamingSystem/mdph|75');
      const upload = await t.http
        .post('/fhir/$import-decisions')
        .set('Authorization', `Bearer ${mdph}`)
        .set('Prefer', 'respond-async')
        .set('Content-Type', 'text/csv')
        .send(fs.readFileSync('fixtures/decisions/valid.csv'));
      expect(upload.status).toBe(202);
      const { runImport } = await import('../src/domain/decision/import-run.js');
      const id = new URL(upload.headers['content-location']).pathname.split('/').pop() as string;
      expect(await runImport({ db: t.gateway.db, clock: t.gateway.services.clock }, id)).toMatchObject({ state: 'completed', rowsOk: 5 });
      const indicators = await t.http.get('/fhir/$indicators').set('Authorization', `Bearer ${mdph}`);
      expect(indicators.status).toBe(200);
      expect(indicators.body.parameter.filter((p: { name: string }) => p.name === 'group').length).toBeGreaterThan(0);
      const xlsx = await t.http.get('/dashboard/tasks?view=unit&format=xlsx').set('Authorization', `Bearer ${w.unit.smr}`);
      expect(xlsx.status).toBe(200);
    } finally {
      await t.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Referral indicators (issue 17): `$indicators?module=referral` per month,
 * department, care and unit, from the rollup the `indicators` worker
 * recomputes in the background; flows by origin department.
 */
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, waitFor, type TestGateway } from './helpers.js';
import { as, current, FINESS, HOSPITAL_FINESS, makeWorld, move, submit, type World } from './referral-world.js';

let t: TestGateway;
let w: World;

beforeAll(async () => {
  t = await startTestGateway({ workers: true, config: { indicatorsRefreshMs: 1_000 } });
  w = await makeWorld(t);
  // The units' and the prescriber's departments come from their organizations' addresses.
  const put = async (id: string, body: object) => expect((await as(w, w.admin).put(`Organization/${id}`, body)).status).toBe(200);
  await put('chu', { resourceType: 'Organization', id: 'chu', name: 'CHU Exemple', identifier: [{ system: FINESS, value: HOSPITAL_FINESS }], address: [{ postalCode: '33000' }] });
  await put('org-smr', { resourceType: 'Organization', id: 'org-smr', name: 'Établissement SMR', identifier: [{ system: FINESS, value: '750000100' }], address: [{ postalCode: '75014' }] });
});
afterAll(() => t.close());

const part = (group: ParametersParameter, name: string) => group.part?.find((p) => p.name === name);

describe('referral indicators', () => {
  it('count what happened to the requests per month, department, care and unit, and the flows between departments', async () => {
    const refused = (await submit(w, ['smr'])).tasks.smr;
    expect((await move(w, w.unit.smr, await current(w, refused.id as string), 'refused', 'no-place')).status).toBe(200);
    const admitted = (await submit(w, ['smr'])).tasks.smr;
    expect((await move(w, w.unit.smr, await current(w, admitted.id as string), 'accepted')).status).toBe(200);
    expect((await move(w, w.prescriber, await current(w, admitted.id as string), 'confirmed')).status).toBe(200);
    expect((await move(w, w.unit.smr, await current(w, admitted.id as string), 'admitted')).status).toBe(200);
    await submit(w, ['smr']); // left unread
    const cancelled = (await submit(w, ['smr'])).tasks.smr;
    expect((await move(w, w.prescriber, await current(w, cancelled.id as string), 'cancelled', 'cancelled-by-prescriber')).status).toBe(200);

    const month = t.gateway.services.clock.now().toISOString().slice(0, 7);
    const read = async (by = 'unit'): Promise<Parameters> => (await as(w, w.admin).get(`$indicators?module=referral&from=${month}&to=${month}&department=75&care=SMR&by=${by}&flows=true`)).body as Parameters;
    // The rollup is recomputed every second by the worker: wait for one that saw all four.
    await waitFor('the rollup', async () => (await read()).parameter?.some((p) => p.name === 'group' && part(p, 'sent')?.valueInteger === 4));
    const answer = await read();
    expect(answer.parameter?.find((p) => p.name === 'computedAt')?.valueInstant).toBeDefined();
    const groups = (answer.parameter ?? []).filter((p) => p.name === 'group');
    expect(groups).toHaveLength(1);
    const g = groups[0];
    expect(part(g, 'month')?.valueString).toBe(month);
    expect(part(g, 'department')?.valueString).toBe('75');
    expect(part(g, 'care')?.valueString).toBe('SMR');
    expect(part(g, 'unit')?.valueReference?.reference).toBe('HealthcareService/smr');
    expect([part(g, 'sent')?.valueInteger, part(g, 'read')?.valueInteger, part(g, 'answered')?.valueInteger, part(g, 'admitted')?.valueInteger, part(g, 'refused')?.valueInteger]).toEqual([4, 2, 2, 1, 1]);
    expect([part(g, 'cancelled')?.valueInteger, part(g, 'automaticCancellations')?.valueInteger]).toEqual([1, 0]);
    expect(part(g, 'readRate')?.valueDecimal).toBe(0.5);
    expect(part(g, 'admissionRate')?.valueDecimal).toBe(0.25);
    expect(part(g, 'refusalRate')?.valueDecimal).toBe(0.25);
    expect(part(g, 'firstAnswerMedianHours')?.valueDecimal).toBeGreaterThanOrEqual(0);
    expect(part(g, 'admissionMedianDays')?.valueDecimal).toBeGreaterThanOrEqual(0);
    expect(g.part?.filter((p) => p.name === 'refusalReason').map((p) => [part(p, 'reason')?.valueString, part(p, 'count')?.valueInteger])).toEqual([['no-place', 1]]);
    expect(g.part?.filter((p) => p.name === 'cancellationReason').map((p) => [part(p, 'reason')?.valueString, part(p, 'count')?.valueInteger])).toEqual([['cancelled-by-prescriber', 1]]);
    const flows = (answer.parameter ?? []).filter((p) => p.name === 'flow');
    expect(flows.map((f) => [part(f, 'originDepartment')?.valueString, part(f, 'department')?.valueString, part(f, 'sent')?.valueInteger, part(f, 'admitted')?.valueInteger])).toEqual([['33', '75', 4, 1]]);
    // By department (the default): the same counts, for all the department's units, with no unit named.
    const byDepartment = ((await read('department')).parameter ?? []).filter((p) => p.name === 'group');
    expect(byDepartment).toHaveLength(1);
    expect(part(byDepartment[0], 'unit')).toBeUndefined();
    expect([part(byDepartment[0], 'sent')?.valueInteger, part(byDepartment[0], 'admitted')?.valueInteger]).toEqual([4, 1]);
    // Another department, another care: nothing.
    const none = (await as(w, w.admin).get(`$indicators?module=referral&from=${month}&to=${month}&department=13`)).body as Parameters;
    expect(none.parameter?.filter((p) => p.name === 'group')).toEqual([]);
  }, 30_000);

  it('export as CSV and XLSX, with the same parameters and rights', async () => {
    const month = t.gateway.services.clock.now().toISOString().slice(0, 7);
    const csv = await w.t.http.get(`/dashboard/indicators?format=csv&from=${month}&to=${month}&department=75&care=SMR`).set('Authorization', `Bearer ${w.admin}`);
    expect(csv.status).toBe(200);
    const lines = csv.text.replace(/^\uFEFF/, '').trim().split('\r\n');
    expect(lines[0].split(';').slice(0, 5)).toEqual(['Mois', 'Département', 'Prise en charge', 'Unité', 'Demandes envoyées']);
    expect(lines.slice(1).map((l) => l.split(';').slice(0, 5))).toEqual([[month, '75', 'SMR', '', '4']]);
    const xlsx = await w.t.http.get(`/dashboard/indicators?format=xlsx&by=unit`).set('Authorization', `Bearer ${w.admin}`).buffer(true);
    expect(xlsx.status).toBe(200);
    expect(xlsx.headers['content-type']).toMatch(/spreadsheetml/);
    expect((await w.t.http.get('/dashboard/indicators?format=csv').set('Authorization', `Bearer ${w.prescriber}`)).status).toBe(403);
    expect((await w.t.http.get('/dashboard/indicators?format=csv&flows=true').set('Authorization', `Bearer ${w.admin}`)).status).toBe(400);
  });

  it('a territory (an ARS, a departmental council) reads its own departments only', async () => {
    const paris = await t.tokenFor(['territory'], 'https://aiguillage.org/fhir/NamingSystem/territory|dept-75');
    const idf = await t.tokenFor(['territory'], 'https://aiguillage.org/fhir/NamingSystem/territory|region-11');
    const paca = await t.tokenFor(['territory'], 'https://aiguillage.org/fhir/NamingSystem/territory|region-93');
    const groups = async (token: string, q = ''): Promise<string[]> =>
      (((await as(w, token).get(`$indicators?module=referral${q}`)).body as Parameters).parameter ?? []).filter((p) => p.name === 'group').map((g) => part(g, 'department')?.valueString as string);
    expect(new Set(await groups(paris))).toEqual(new Set(['75']));
    expect(new Set(await groups(idf))).toEqual(new Set(['75']));
    expect(await groups(paca)).toEqual([]);
    expect((await as(w, paca).get('$indicators?module=referral&department=75')).status).toBe(403);
    // The flows it sees touch its territory: Gironde (33) to Paris for Île-de-France, nothing for PACA.
    const flows = ((await as(w, idf).get('$indicators?module=referral&flows=true')).body as Parameters).parameter?.filter((p) => p.name === 'flow') ?? [];
    expect(flows.length).toBeGreaterThan(0);
    // Nothing else: no patient data, no decision indicators.
    expect((await as(w, paris).get('Patient')).status).toBe(403);
    expect((await as(w, paris).get('$indicators')).status).toBe(403);
  });

  it('are for an admin or a territory, and refuse what they do not understand', async () => {
    expect((await as(w, w.prescriber).get('$indicators?module=referral')).status).toBe(403);
    expect((await as(w, await t.tokenFor(['territory'], 'Organization/chu')).get('$indicators?module=referral')).status).toBe(403);
    for (const q of ['module=referral&from=2026-13', 'module=referral&care=XYZ', 'module=referral&department=ABC', 'module=referral&from=2026-12&to=2026-01', 'module=referral&colour=blue', 'module=referral&by=region', 'module=referral&flows=yes', 'module=everything']) {
      const res = await as(w, w.admin).get(`$indicators?${q}`);
      expect(res.status, q).toBe(400);
    }
  });
});

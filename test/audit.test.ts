/** The audit trail: every read and write of patient data leaves an AuditEvent, a write's in its own transaction. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent, Bundle, Patient } from '@medplum/fhirtypes';
import { startTestGateway, testPatient, type TestGateway } from './helpers.js';
import { as, makeWorld, submit, type World } from './referral-world.js';

let t: TestGateway;
let w: World;
beforeAll(async () => {
  t = await startTestGateway();
  w = await makeWorld(t);
});
afterAll(() => t.close());

async function events(query: string): Promise<AuditEvent[]> {
  const res = await as(w, w.admin).get(`AuditEvent?${query}`);
  expect(res.status).toBe(200);
  return ((res.body as Bundle<AuditEvent>).entry ?? []).map((e) => e.resource as AuditEvent);
}

function entityRefs(event: AuditEvent): string[] {
  return (event.entity ?? []).flatMap((e) => (e.what?.reference ? [e.what.reference] : []));
}

describe('audit trail', () => {
  it('records a create with who, organization, action, resource, outcome, source address and request id, as valid FHIR', async () => {
    const res = await as(w, w.prescriber).post('Patient', testPatient()).set('X-Request-Id', 'audit-create-1');
    expect(res.status).toBe(201);
    const id = (res.body as Patient).id as string;
    const [event] = await events(`entity=Patient/${id}&action=C`);
    expect(event).toBeDefined();
    t.gateway.services.validator.validate(event);
    expect(event).toMatchObject({ resourceType: 'AuditEvent', action: 'C', outcome: '0', subtype: [{ code: 'create' }] });
    expect(entityRefs(event)).toEqual([`Patient/${id}/_history/1`]);
    const [client, organization] = event.agent;
    expect(client.requestor).toBe(true);
    expect(client.who?.identifier?.value).toMatch(/.+/);
    expect(client.network?.address).toMatch(/127\.0\.0\.1/);
    expect(client.role?.[0]?.coding?.[0]?.code).toBe('prescriber');
    expect(organization.who?.identifier).toEqual({ system: 'https://finess.esante.gouv.fr', value: '750000001' });
    const detail = event.entity?.flatMap((e) => e.detail ?? []) ?? [];
    expect(detail).toContainEqual({ type: 'X-Request-Id', valueString: 'audit-create-1' });
    // Searchable by request id and by client.
    expect((await events('request-id=audit-create-1')).map((e) => e.id)).toEqual([event.id]);
    expect((await events(`agent=${client.who?.identifier?.value}&entity=Patient/${id}`)).map((e) => e.id)).toContain(event.id);
    // And readable by id.
    const read = await as(w, w.admin).get(`AuditEvent/${event.id}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(event);
  });

  it('records reads, searches (with every patient returned) and refused reads', async () => {
    const created = await as(w, w.prescriber).post('Patient', testPatient({ name: [{ family: 'Auditée', given: ['Anne'] }] }));
    const id = (created.body as Patient).id as string;
    expect((await as(w, w.prescriber).get(`Patient/${id}`)).status).toBe(200);
    expect((await as(w, w.prescriber).get(`Patient/${id}/_history/1`)).status).toBe(200);
    expect((await as(w, w.prescriber).get(`Patient?family=Auditée`)).status).toBe(200);
    // A unit that has no request for this patient: 404, recorded as a refusal.
    expect((await as(w, w.unit.smr).get(`Patient/${id}`)).status).toBe(404);
    const trail = await events(`entity=Patient/${id}&_count=50`);
    const summary = trail.map((e) => `${e.action} ${e.subtype?.[0]?.code} ${e.outcome}`).sort();
    expect(summary).toEqual(['C create 0', 'R read 0', 'R read 4', 'R search-type 0', 'R vread 0']);
    const search = trail.find((e) => e.subtype?.[0]?.code === 'search-type') as AuditEvent;
    const query = search.entity?.find((e) => e.query)?.query as string;
    expect(Buffer.from(query, 'base64').toString('utf8')).toContain('family=Audit');
    const refused = trail.find((e) => e.outcome === '4') as AuditEvent;
    expect(refused.outcomeDesc).toContain('not found');
  });

  it('records each entry of a transaction, and the status moves of tasks', async () => {
    const { requestId, patientId, tasks } = await submit(w, ['smr']);
    const [submitted] = await events(`entity=ServiceRequest/${requestId}&action=C`);
    expect(submitted).toBeDefined();
    expect((await events(`entity=Patient/${patientId}&action=C`)).length).toBe(1);
    const task = tasks['org-smr'] ?? Object.values(tasks)[0];
    // The task the gateway created for the unit is recorded with the submission, as the prescriber's doing.
    const [taskCreated] = await events(`entity=Task/${task.id}&action=C`);
    expect(taskCreated.agent[0].role?.[0]?.coding?.[0]?.code).toBe('prescriber');
    const res = await as(w, w.unit.smr).get(`Task/${task.id}`);
    expect(res.status).toBe(200);
    expect((await events(`entity=Task/${task.id}&action=R`)).length).toBeGreaterThanOrEqual(1);
  });

  it('a write and its audit commit together: when the audit cannot be stored, the write is not either', async () => {
    const before = Number((await t.gateway.db.query<{ n: string }>('SELECT count(*) AS n FROM patient')).rows[0].n);
    await t.gateway.db.exec(`ALTER TABLE audit_event ADD CONSTRAINT audit_refused CHECK (action <> 'C') NOT VALID`);
    try {
      const res = await as(w, w.prescriber).post('Patient', testPatient());
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(res.body.resourceType).toBe('OperationOutcome');
    } finally {
      await t.gateway.db.exec('ALTER TABLE audit_event DROP CONSTRAINT audit_refused');
    }
    const after = Number((await t.gateway.db.query<{ n: string }>('SELECT count(*) AS n FROM patient')).rows[0].n);
    expect(after).toBe(before);
  });

  it('records refusals before the FHIR core: a bad token on patient data', async () => {
    const res = await t.http.get('/fhir/Patient?family=Personne').set('Authorization', 'Bearer not.a.token').set('X-Request-Id', 'audit-bad-token');
    expect(res.status).toBe(401);
    const [event] = await events('request-id=audit-bad-token');
    expect(event).toMatchObject({ action: 'R', outcome: '4', subtype: [{ code: 'search-type' }] });
    expect(event.agent[0].who).toEqual({ display: 'anonymous' });
  });

  it('records dashboard exports as reads of the tasks they list', async () => {
    await submit(w, ['had']);
    const res = await t.http.get('/dashboard/tasks?view=unit&format=csv').set('Authorization', `Bearer ${w.unit.had}`).set('X-Request-Id', 'audit-dashboard');
    expect(res.status).toBe(200);
    const [event] = await events('request-id=audit-dashboard');
    expect(event.action).toBe('R');
    expect(entityRefs(event).length).toBeGreaterThanOrEqual(1);
    expect(entityRefs(event).every((r) => r.startsWith('Task/'))).toBe(true);
  });

  it('is read by admin only, and checks its search parameters', async () => {
    expect((await t.http.get('/fhir/AuditEvent')).status).toBe(401);
    const denied = await as(w, w.prescriber).get('AuditEvent');
    expect(denied.status).toBe(403);
    expect(denied.body.resourceType).toBe('OperationOutcome');
    expect((await as(w, w.admin).get('AuditEvent?date=2026-13-45')).status).toBe(400);
    expect((await as(w, w.admin).get('AuditEvent?colour=blue')).status).toBe(400);
    expect((await as(w, w.admin).get('AuditEvent?action=X')).status).toBe(400);
    expect((await as(w, w.admin).get('AuditEvent/no-such-event')).status).toBe(404);
    expect((await as(w, w.admin).post('AuditEvent', { resourceType: 'AuditEvent' })).status).toBe(405);
    // Dates and paging.
    const today = new Date().toISOString().slice(0, 10);
    const page = await as(w, w.admin).get(`AuditEvent?date=${today}&_count=2`);
    expect(page.status).toBe(200);
    const bundle = page.body as Bundle;
    expect(bundle.entry).toHaveLength(2);
    const next = bundle.link?.find((l) => l.relation === 'next')?.url as string;
    const second = await as(w, w.admin).get(`AuditEvent?${new URL(next).search.slice(1)}`);
    expect(second.status).toBe(200);
    const firstIds = bundle.entry?.map((e) => e.resource?.id);
    for (const e of (second.body as Bundle).entry ?? []) expect(firstIds).not.toContain(e.resource?.id);
    expect((await events('date=lt2000-01-01')).length).toBe(0);
  });
});

describe('audit trail, content types', () => {
  it('a POST with the wrong content type on patient data is refused and recorded', async () => {
    const res = await t.http.post('/fhir/Patient').set('Authorization', `Bearer ${w.prescriber}`).set('Content-Type', 'text/plain').set('X-Request-Id', 'audit-415').send('{}');
    expect(res.status).toBe(415);
    const [event] = await events('request-id=audit-415');
    expect(event).toMatchObject({ action: 'C', outcome: '4' });
  });
});


import type { Bundle, Communication, Consent, QuestionnaireResponse, ServiceRequest, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowedMoves, BUSINESS_STATUSES, businessStatusOf, reasonOf, type BusinessStatus, type Side } from '../mappings/referral.js';
import { startTestGateway, testPatient, type TestGateway } from './helpers.js';
import { as, consentOf, SMR_CATEGORY, current, idFrom, makeWorld, message, move, moved, sendable, submit, submission, volet, type UnitName, type World } from './referral-world.js';

let t: TestGateway;
let w: World;
const clock = { offsetMs: 0, now: () => new Date(Date.now() + clock.offsetMs) };

beforeAll(async () => {
  t = await startTestGateway({ clock });
  w = await makeWorld(t);
});
afterAll(() => t.close());

const statuses = (tasks: Task[]): Record<string, string | undefined> =>
  Object.fromEntries(tasks.map((task) => [(task.owner?.reference as string).split('/')[1], businessStatusOf(task)]));

describe('the seeds’ scenario, end to end', () => {
  it('one request to three units: read, refusal, agreement then acceptance, messages, confirmation, admission', async () => {
    // The EHR posts one transaction: patient, three volets, the request.
    const res = await as(w, w.prescriber).post('', submission(['smr', 'had', 'usp']));
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: { response: { status: string } }) => e.response.status)).toEqual(['201', '201', '201', '201', '201', '201']);
    const requestId = idFrom(res.body.entry[5].response.location);
    const request = (await as(w, w.prescriber).get(`ServiceRequest/${requestId}`)).body as ServiceRequest;
    expect(request.supportingInfo?.map((s) => s.reference?.split('/')[0])).toEqual(['QuestionnaireResponse', 'QuestionnaireResponse', 'QuestionnaireResponse', 'Consent']);
    expect(request.authoredOn).toBeDefined();

    // One task per unit, all sent.
    const prescriberView = await as(w, w.prescriber).get(`Task?focus=ServiceRequest/${requestId}`);
    expect(statuses(prescriberView.body.entry.map((e: { resource: Task }) => e.resource))).toEqual({ smr: 'sent', had: 'sent', usp: 'sent' });

    // Each unit sees its own task only, and the request, patient and volets behind it.
    const smrList = await as(w, w.unit.smr).get('Task?business-status=sent');
    expect(smrList.body.entry).toHaveLength(1);
    const smrTask = smrList.body.entry[0].resource as Task;
    expect(smrTask.owner?.reference).toBe('HealthcareService/smr');
    expect((await as(w, w.unit.smr).get(`ServiceRequest/${requestId}`)).status).toBe(200);
    expect((await as(w, w.unit.smr).get(smrTask.for?.reference as string)).status).toBe(200);
    expect((await as(w, w.unit.smr).get(request.supportingInfo?.[0].reference as string)).status).toBe(200);
    const hadTask = ((await as(w, w.unit.had).get('Task')).body.entry[0].resource) as Task;
    const uspTask = ((await as(w, w.unit.usp).get('Task')).body.entry[0].resource) as Task;
    expect((await as(w, w.unit.had).get(`Task/${smrTask.id}`)).status).toBe(404);

    // SMR reads it: its first read moves it to "read".
    const read = await as(w, w.unit.smr).get(`Task/${smrTask.id}`);
    expect(businessStatusOf(read.body)).toBe('read');
    expect(read.body.status).toBe('received');

    // HAD refuses with a reason.
    const refused = await move(w, w.unit.had, hadTask, 'refused', 'no-place');
    expect(refused.status).toBe(200);
    expect(reasonOf(refused.body)).toBe('no-place');

    // USP agrees in principle with a window, then accepts with a date.
    const agreed = await move(w, w.unit.usp, uspTask, 'agreed-in-principle');
    expect(agreed.status).toBe(200);
    expect(agreed.body.restriction.period).toEqual({ start: '2026-12-01', end: '2026-12-15' });
    const accepted = await move(w, w.unit.usp, agreed.body, 'accepted');
    expect(accepted.status).toBe(200);
    expect(accepted.body.restriction.period.start).toBe('2026-12-05');

    // Messages both ways, with read tracking.
    const toUnit = await as(w, w.prescriber).post('Communication', message(uspTask.id as string, 'La patiente peut-elle arriver le 5 au matin ?'));
    expect(toUnit.status).toBe(201);
    expect(toUnit.body.sent).toBeDefined();
    expect(toUnit.body.sender).toEqual({ reference: 'Organization/chu' });
    expect(toUnit.body.recipient).toEqual([{ reference: 'Organization/org-usp' }]);
    const unread = await as(w, w.unit.usp).get(`Communication?part-of=Task/${uspTask.id}&received:missing=true`);
    expect(unread.body.entry).toHaveLength(1);
    expect((await as(w, w.unit.smr).get(`Communication/${toUnit.body.id}`)).status).toBe(404);
    const markRead = await as(w, w.unit.usp).put(`Communication/${toUnit.body.id}`, { ...toUnit.body, received: new Date().toISOString() });
    expect(markRead.status).toBe(200);
    expect((await as(w, w.unit.usp).get(`Communication?part-of=Task/${uspTask.id}&received:missing=true`)).body.entry).toBeUndefined();
    const reply = await as(w, w.unit.usp).post('Communication', message(uspTask.id as string, 'Oui, arrivée à 10 h.'));
    expect(reply.status).toBe(201);
    expect((await as(w, w.prescriber).get('Communication?recipient=Organization/chu&received:missing=true')).body.entry).toHaveLength(1);
    const fromUnit = (await as(w, w.prescriber).get(`Communication?sender=Organization/org-usp&part-of=Task/${uspTask.id}`)).body.entry;
    expect(fromUnit.map((e: { resource: Communication }) => e.resource.id)).toEqual([reply.body.id]);

    // The prescriber confirms USP: SMR's open task is cancelled (other unit chosen), HAD stays refused.
    const confirmed = await move(w, w.prescriber, accepted.body, 'confirmed');
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.status).toBe('in-progress');
    const smrNow = (await as(w, w.unit.smr).get(`Task/${smrTask.id}`)).body as Task;
    expect(businessStatusOf(smrNow)).toBe('cancelled');
    expect(reasonOf(smrNow)).toBe('other-unit-chosen');
    expect(businessStatusOf((await as(w, w.unit.had).get(`Task/${hadTask.id}`)).body)).toBe('refused');

    // USP admits the patient.
    const admitted = await move(w, w.unit.usp, confirmed.body, 'admitted');
    expect(admitted.status).toBe(200);
    expect(admitted.body.status).toBe('completed');

    // Each side's view at the end.
    const finalView = await as(w, w.prescriber).get(`Task?focus=ServiceRequest/${requestId}`);
    expect(statuses(finalView.body.entry.map((e: { resource: Task }) => e.resource))).toEqual({ smr: 'cancelled', had: 'refused', usp: 'admitted' });
    expect((await as(w, w.unit.usp).get('Task?business-status=admitted')).body.entry.map((e: { resource: Task }) => e.resource.id)).toContain(uspTask.id);
    const history = await as(w, w.unit.usp).get(`Task/${uspTask.id}/_history`);
    expect(history.body.entry.map((e: { resource: Task }) => businessStatusOf(e.resource))).toEqual(['admitted', 'confirmed', 'accepted', 'agreed-in-principle', 'sent']);
  });
});

describe('submission', () => {
  it('refuses unknown or unusable units with 422 and stores nothing', async () => {
    await t.http
      .put('/fhir/HealthcareService/closed')
      .set('Authorization', `Bearer ${w.admin}`)
      .set('Content-Type', 'application/fhir+json')
      .send({ resourceType: 'HealthcareService', id: 'closed', active: false, providedBy: { reference: 'Organization/org-smr' } });
    const count = async (): Promise<number> => Number((await t.gateway.db.query<{ n: string }>('SELECT count(*) AS n FROM referral')).rows[0].n);
    const before = await count();
    for (const unit of ['nowhere', 'closed']) {
      const res = await as(w, w.prescriber).post('', submission(['smr', unit]));
      expect(res.status).toBe(422);
      expect(res.body.issue[0].diagnostics).toContain(`HealthcareService/${unit}`);
    }
    const noUnit = await as(w, w.prescriber).post('', submission([]));
    expect(noUnit.status).toBe(422);
    expect(await count()).toBe(before);
    expect((await as(w, w.unit.smr).post('Task', moved({ resourceType: 'Task', status: 'requested', intent: 'order' }, 'sent'))).status).toBe(422);
    expect((await as(w, w.prescriber).post('Task', moved({ resourceType: 'Task', status: 'requested', intent: 'order' }, 'sent'))).status).toBe(422);
  });

  it('accepts a ServiceRequest posted alone for an existing patient, with its volets', async () => {
    const patient = await as(w, w.prescriber).post('Patient', testPatient());
    const res = await as(w, w.prescriber).post('ServiceRequest', {
      resourceType: 'ServiceRequest',
      status: 'active',
      intent: 'order',
      category: SMR_CATEGORY,
      subject: { reference: `Patient/${patient.body.id}` },
      performer: [{ reference: 'HealthcareService/had' }],
      supportingInfo: await sendable(w, `Patient/${patient.body.id}`),
    });
    expect(res.status).toBe(201);
    expect((await as(w, w.unit.had).get(`Task?focus=ServiceRequest/${res.body.id}`)).body.entry).toHaveLength(1);
    const otherPatient = await as(w, w.unit.smr).get(`Patient/${patient.body.id}`);
    expect(otherPatient.status).toBe(404);
  });
});

const REACH: Record<BusinessStatus, [Side, BusinessStatus][]> = {
  sent: [],
  read: [['unit', 'read']],
  'agreed-in-principle': [['unit', 'agreed-in-principle']],
  accepted: [['unit', 'accepted']],
  confirmed: [
    ['unit', 'accepted'],
    ['prescriber', 'confirmed'],
  ],
  admitted: [
    ['unit', 'accepted'],
    ['prescriber', 'confirmed'],
    ['unit', 'admitted'],
  ],
  refused: [['unit', 'refused']],
  cancelled: [['prescriber', 'cancelled']],
};

async function taskIn(state: BusinessStatus, unit: UnitName = 'smr'): Promise<Task> {
  const { tasks } = await submit(w, [unit]);
  let task = tasks[unit];
  for (const [side, to] of REACH[state]) {
    const res = await move(w, side === 'unit' ? w.unit[unit] : w.prescriber, task, to);
    if (res.status !== 200) throw new Error(`reaching ${state}: ${res.status} ${JSON.stringify(res.body)}`);
    task = res.body;
  }
  return task;
}

describe('the status table', () => {
  for (const from of BUSINESS_STATUSES) {
    it(`from ${from}: every allowed move succeeds, every other is 409 naming the allowed ones`, async () => {
      const task = await taskIn(from);
      for (const side of ['unit', 'prescriber'] as Side[]) {
        const token = side === 'unit' ? w.unit.smr : w.prescriber;
        for (const to of BUSINESS_STATUSES.filter((s) => s !== from)) {
          const allowed = allowedMoves(from, side).includes(to);
          const target = allowed ? await taskIn(from) : task;
          const res = await move(w, token, target, to);
          expect({ side, to, status: res.status }).toEqual({ side, to, status: allowed ? 200 : 409 });
          if (!allowed) {
            const named = allowedMoves(from, side);
            for (const m of named) expect(res.body.issue[0].diagnostics).toContain(m);
          } else {
            expect(businessStatusOf(res.body)).toBe(to);
          }
        }
      }
      // Refused moves changed nothing.
      expect((await current(w, task.id as string)).meta?.versionId).toBe(task.meta?.versionId);
    });
  }

  it('requires the details of each move, and keeps gateway fields', async () => {
    const task = await taskIn('read');
    const noWindow = await as(w, w.unit.smr).put(`Task/${task.id}`, { ...moved(task, 'agreed-in-principle'), restriction: undefined }, `W/"${task.meta?.versionId}"`);
    expect(noWindow.status).toBe(422);
    expect(noWindow.body.issue[0].expression).toEqual(['Task.restriction.period']);
    const noDate = await as(w, w.unit.smr).put(`Task/${task.id}`, { ...moved(task, 'accepted'), restriction: undefined }, `W/"${task.meta?.versionId}"`);
    expect(noDate.status).toBe(422);
    const noReason = await as(w, w.unit.smr).put(`Task/${task.id}`, { ...moved(task, 'refused'), statusReason: { text: 'non' } }, `W/"${task.meta?.versionId}"`);
    expect(noReason.status).toBe(422);
    const wrongStatus = await as(w, w.unit.smr).put(`Task/${task.id}`, { ...moved(task, 'refused'), status: 'completed' }, `W/"${task.meta?.versionId}"`);
    expect(wrongStatus.status).toBe(422);
    const otherOwner = await as(w, w.unit.smr).put(`Task/${task.id}`, { ...moved(task, 'refused'), owner: { reference: 'HealthcareService/had' } }, `W/"${task.meta?.versionId}"`);
    expect(otherOwner.status).toBe(422);
    expect((await current(w, task.id as string)).meta?.versionId).toBe(task.meta?.versionId);
  });

  it('lets neither another unit nor a care team move a task', async () => {
    const task = await taskIn('read');
    expect((await move(w, w.unit.had, task, 'refused')).status).toBe(404);
    expect((await move(w, w.careTeam, task, 'cancelled')).status).toBe(403);
  });

  it('concurrent answers on one task: one wins, the other gets 412, nothing is lost', async () => {
    const task = await taskIn('read');
    const [a, b] = await Promise.all([move(w, w.unit.smr, task, 'accepted'), move(w, w.prescriber, task, 'cancelled')]);
    expect([a.status, b.status].sort()).toEqual([200, 412]);
    const now = await current(w, task.id as string);
    expect(now.meta?.versionId).toBe(String(Number(task.meta?.versionId) + 1));
    const history = await as(w, w.admin).get(`Task/${task.id}/_history`);
    expect(history.body.entry).toHaveLength(Number(task.meta?.versionId) + 1);
  });
});

describe('volets', () => {
  it('admin-social writes only the administrative volet; only a prescriber validates the medical one', async () => {
    const patient = (await as(w, w.prescriber).post('Patient', testPatient())).body;
    const subject = `Patient/${patient.id}`;
    expect((await as(w, w.adminSocial).post('QuestionnaireResponse', volet('administrative', subject))).status).toBe(201);
    expect((await as(w, w.adminSocial).post('QuestionnaireResponse', volet('medical', subject, 'in-progress'))).status).toBe(403);
    expect((await as(w, w.adminSocial).post('QuestionnaireResponse', volet('care', subject, 'in-progress'))).status).toBe(403);
    const draft = await as(w, w.careTeam).post('QuestionnaireResponse', volet('medical', subject, 'in-progress'));
    expect(draft.status).toBe(201);
    expect((await as(w, w.careTeam).post('QuestionnaireResponse', volet('medical', subject, 'completed'))).status).toBe(403);
    expect((await as(w, w.careTeam).put(`QuestionnaireResponse/${draft.body.id}`, { ...draft.body, status: 'completed' })).status).toBe(403);
    expect((await as(w, w.careTeam).post('QuestionnaireResponse', volet('care', subject, 'completed'))).status).toBe(201);
    const validated = await as(w, w.prescriber).put(`QuestionnaireResponse/${draft.body.id}`, { ...draft.body, status: 'completed' });
    expect(validated.status).toBe(200);
    expect((await as(w, w.unit.smr).post('QuestionnaireResponse', volet('administrative', subject))).status).toBe(403);
    const unknown = await as(w, w.prescriber).post('QuestionnaireResponse', { ...volet('medical', subject), questionnaire: 'http://example.org/q' });
    expect(unknown.status).toBe(422);
  });
});

describe('request-wide actions', () => {
  it('the prescriber cancels the whole request; reactivation restores each task; updates keep the request date', async () => {
    const { requestId, tasks } = await submit(w, ['smr', 'had', 'usp']);
    await move(w, w.unit.had, tasks.had, 'refused');
    const accepted = (await move(w, w.unit.usp, tasks.usp, 'accepted')).body as Task;
    const request = (await as(w, w.prescriber).get(`ServiceRequest/${requestId}`)).body as ServiceRequest;

    // An update: units see it; the initial date is kept; a new unit gets a task.
    const updated = await as(w, w.prescriber).put(`ServiceRequest/${requestId}`, {
      ...request,
      authoredOn: '2020-01-01T00:00:00Z',
      note: [{ text: 'Précision' }],
      performer: [...(request.performer ?? [])],
    });
    expect(updated.status).toBe(200);
    expect(updated.body.authoredOn).toBe(request.authoredOn);
    expect((await as(w, w.unit.smr).get(`ServiceRequest/${requestId}`)).body.note).toEqual([{ text: 'Précision' }]);
    expect((await as(w, w.unit.smr).put(`ServiceRequest/${requestId}`, updated.body)).status).toBe(403);

    expect((await as(w, w.careTeam).put(`ServiceRequest/${requestId}`, { ...updated.body, status: 'revoked' })).status).toBe(403);
    const cancelled = await as(w, w.prescriber).put(`ServiceRequest/${requestId}`, { ...updated.body, status: 'revoked' });
    expect(cancelled.status).toBe(200);
    const after = (await as(w, w.prescriber).get(`Task?focus=ServiceRequest/${requestId}`)).body.entry.map((e: { resource: Task }) => e.resource);
    expect(statuses(after)).toEqual({ smr: 'cancelled', had: 'refused', usp: 'cancelled' });
    expect(after.filter((x: Task) => businessStatusOf(x) === 'cancelled').every((x: Task) => reasonOf(x) === 'cancelled-by-prescriber')).toBe(true);
    expect((await as(w, w.prescriber).put(`ServiceRequest/${requestId}`, { ...cancelled.body, status: 'active' })).status).toBe(409);
    expect((await as(w, w.unit.smr).post(`ServiceRequest/${requestId}/$reactivate`, { resourceType: 'Parameters' })).status).toBe(403);

    const reactivated = await as(w, w.prescriber).post(`ServiceRequest/${requestId}/$reactivate`, { resourceType: 'Parameters' });
    expect(reactivated.status).toBe(200);
    expect(reactivated.body.status).toBe('active');
    const restored = (await as(w, w.prescriber).get(`Task?focus=ServiceRequest/${requestId}`)).body.entry.map((e: { resource: Task }) => e.resource);
    expect(statuses(restored)).toEqual({ smr: 'sent', had: 'refused', usp: 'accepted' });
    const usp = restored.find((x: Task) => x.id === accepted.id) as Task;
    expect(usp.restriction).toEqual(accepted.restriction);
    expect(usp.statusReason).toBeUndefined();
    expect((await as(w, w.prescriber).post(`ServiceRequest/${requestId}/$reactivate`, { resourceType: 'Parameters' })).status).toBe(409);
  });

  it('$copy makes a new request from an earlier one with a copy of its administrative volet', async () => {
    const { requestId } = await submit(w, ['smr']);
    const res = await as(w, w.prescriber).post(`ServiceRequest/${requestId}/$copy`, {
      resourceType: 'Parameters',
      parameter: [{ name: 'performer', valueReference: { reference: 'HealthcareService/had' } }],
    });
    expect(res.status).toBe(201);
    const copy = res.body as ServiceRequest;
    expect(copy.id).not.toBe(requestId);
    expect(copy.replaces).toEqual([{ reference: `ServiceRequest/${requestId}` }]);
    // The administrative volet copied, the patient's consent cited again.
    expect(copy.supportingInfo?.map((s) => s.reference?.split('/')[0])).toEqual(['QuestionnaireResponse', 'Consent']);
    const admin = await as(w, w.prescriber).get(copy.supportingInfo?.[0].reference as string);
    expect(admin.body.questionnaire).toContain('volet-administratif');
    const original = (await as(w, w.prescriber).get(`ServiceRequest/${requestId}`)).body as ServiceRequest;
    expect(original.supportingInfo?.map((s) => s.reference)).not.toContain(copy.supportingInfo?.[0].reference);
    expect(copy.supportingInfo?.[1]).toEqual(original.supportingInfo?.[3]);
    // A draft: nothing is sent until a validated medical volet is cited.
    expect(copy.status).toBe('draft');
    expect((await as(w, w.unit.had).get(`Task?focus=ServiceRequest/${copy.id}`)).body.entry ?? []).toEqual([]);
    const early = await as(w, w.prescriber).put(`ServiceRequest/${copy.id}`, { ...copy, status: 'active' });
    expect(early.status).toBe(422);
    expect(early.body.issue[0].diagnostics).toMatch(/medical volet validated by a prescriber .*: none is cited/);
    const medical = await as(w, w.prescriber).post('QuestionnaireResponse', volet('medical', copy.subject?.reference as string));
    const sent = await as(w, w.prescriber).put(`ServiceRequest/${copy.id}`, { ...copy, status: 'active', supportingInfo: [...(copy.supportingInfo ?? []), { reference: `QuestionnaireResponse/${medical.body.id}` }] });
    expect(sent.status).toBe(200);
    expect((await as(w, w.unit.had).get(`Task?focus=ServiceRequest/${copy.id}`)).body.entry).toHaveLength(1);
  });

  it('manual reminders: 409 before 72 h, a message to the other side after', async () => {
    const agreed = await taskIn('agreed-in-principle', 'had');
    const early = await as(w, w.prescriber).post(`Task/${agreed.id}/$remind`, { resourceType: 'Parameters' });
    expect(early.status).toBe(409);
    expect((await as(w, w.unit.had).post(`Task/${agreed.id}/$remind`, { resourceType: 'Parameters' })).status).toBe(409); // the unit waits on nothing here
    clock.offsetMs = 73 * 3_600_000;
    try {
      const reminder = await as(w, w.prescriber).post(`Task/${agreed.id}/$remind`, { resourceType: 'Parameters', parameter: [{ name: 'message', valueString: 'Avez-vous une date ?' }] });
      expect(reminder.status).toBe(201);
      const received = await as(w, w.unit.had).get(`Communication?part-of=Task/${agreed.id}&category=https://aiguillage.org/fhir/CodeSystem/message-category|reminder`);
      expect(received.body.entry.map((e: { resource: Communication }) => e.resource.payload?.[0].contentString)).toEqual(['Avez-vous une date ?']);
      expect((await as(w, w.prescriber).post(`Task/${agreed.id}/$remind`, { resourceType: 'Parameters' })).status).toBe(409); // once per 72 h

      const accepted = (await move(w, w.unit.had, (await current(w, agreed.id as string)) as Task, 'accepted')).body as Task;
      expect((await as(w, w.unit.had).post(`Task/${accepted.id}/$remind`, { resourceType: 'Parameters' })).status).toBe(409);
      clock.offsetMs += 73 * 3_600_000;
      const unitReminder = await as(w, w.unit.had).post(`Task/${accepted.id}/$remind`, { resourceType: 'Parameters' });
      expect(unitReminder.status).toBe(201);
      expect(unitReminder.body.recipient).toEqual([{ reference: 'Organization/chu' }]);
    } finally {
      clock.offsetMs = 0;
    }
  });
});

describe('the unit’s private notes', () => {
  it('Task.note is the unit’s: its organization alone sees it, in every answer, and the prescriber’s changes keep it', async () => {
    const accepted = await taskIn('accepted');
    const noted = await as(w, w.unit.smr).put(`Task/${accepted.id}`, { ...accepted, note: [{ text: 'Lit 12 réservé, voir avec le cadre' }] }, `W/"${accepted.meta?.versionId}"`);
    expect(noted.status).toBe(200);
    expect((noted.body as Task).note).toEqual([{ text: 'Lit 12 réservé, voir avec le cadre' }]);
    const id = accepted.id as string;
    await as(w, w.prescriber).post('Communication', message(id, 'Merci'));

    // The prescriber's side sees the task without the notes, however it asks.
    const views = [
      (await as(w, w.prescriber).get(`Task/${id}`)).body,
      (await as(w, w.prescriber).get(`Task/${id}/_history/${noted.body.meta.versionId}`)).body,
      ...((await as(w, w.prescriber).get(`Task?_id=${id}`)).body as Bundle).entry!.map((e) => e.resource),
      ...((await as(w, w.prescriber).get(`Task/${id}/_history`)).body as Bundle).entry!.map((e) => e.resource),
      ...((await as(w, w.prescriber).get(`Communication?part-of=Task/${id}&_include=Communication:part-of`)).body as Bundle).entry!.map((e) => e.resource).filter((r) => r?.resourceType === 'Task'),
      ...((await as(w, w.prescriber).post('', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Task/${id}` } }] })).body as Bundle).entry!.map((e) => e.resource),
    ] as Task[];
    expect(views.length).toBeGreaterThanOrEqual(7);
    for (const view of views) {
      expect(view.id).toBe(id);
      expect(view.note).toBeUndefined();
    }
    expect(((await as(w, w.careTeam).get(`Task/${id}`)).body as Task).note).toBeUndefined();

    // The prescriber confirms: its answer shows no notes, and the unit's are kept.
    const shown = (await as(w, w.prescriber).get(`Task/${id}`)).body as Task;
    const confirmed = await move(w, w.prescriber, shown, 'confirmed');
    expect(confirmed.status).toBe(200);
    expect((confirmed.body as Task).note).toBeUndefined();
    const unitView = (await as(w, w.unit.smr).get(`Task/${id}`)).body as Task;
    expect(unitView.note).toEqual([{ text: 'Lit 12 réservé, voir avec le cadre' }]);
    expect(((await as(w, w.admin).get(`Task/${id}`)).body as Task).note).toEqual(unitView.note);

    // The prescriber does not write notes on the unit's task: it messages the unit.
    const written = await as(w, w.prescriber).put(`Task/${id}`, { ...(confirmed.body as Task), note: [{ text: 'Vu' }] }, `W/"${confirmed.body.meta.versionId}"`);
    expect(written.status).toBe(422);
    expect(written.body.issue[0].expression).toEqual(['Task.note']);
  });
});

describe('visibility of lists', () => {
  it('a unit lists only its tasks, a prescriber only what its organization sent', async () => {
    const other = await t.tokenFor(['prescriber'], 'https://finess.esante.gouv.fr|130000001');
    const { requestId } = await submit(w, ['usp']);
    expect((await as(w, other).get(`ServiceRequest/${requestId}`)).status).toBe(404);
    expect((await as(w, other).get('Task')).body.entry).toBeUndefined();
    const uspTasks = (await as(w, w.unit.usp).get('Task?_count=500')).body as Bundle<Task>;
    expect(uspTasks.entry?.every((e) => e.resource?.owner?.reference === 'HealthcareService/usp')).toBe(true);
  });
});

describe('guards', () => {
  it('a unit reads the patient of a request but cannot change it', async () => {
    const { patientId } = await submit(w, ['smr']);
    const patient = await as(w, w.unit.smr).get(`Patient/${patientId}`);
    expect(patient.status).toBe(200);
    const unitWithPatientRole = await t.tokenFor(['receiver'], 'Organization/org-smr');
    const res = await as(w, unitWithPatientRole).put(`Patient/${patientId}`, { ...patient.body, name: [{ family: 'Autre' }] });
    expect(res.status).toBe(403);
    expect((await as(w, w.prescriber).get(`Patient/${patientId}`)).body.name[0].family).toBe('Dupont');
  });

  it('volets: no attaching another organization’s or another patient’s, no rewriting by a unit', async () => {
    const { requestId } = await submit(w, ['smr']);
    const request = (await as(w, w.prescriber).get(`ServiceRequest/${requestId}`)).body as ServiceRequest;
    const medical = request.supportingInfo?.[0].reference as string;
    // Another hospital that learnt the id.
    const other = await t.tokenFor(['prescriber'], 'https://finess.esante.gouv.fr|130000001');
    const otherPatient = (await as(w, other).post('Patient', testPatient())).body;
    const stolen = await as(w, other).post('ServiceRequest', {
      resourceType: 'ServiceRequest',
      status: 'active',
      intent: 'order',
      subject: { reference: `Patient/${otherPatient.id}` },
      performer: [{ reference: 'HealthcareService/had' }],
      supportingInfo: [{ reference: medical }],
    });
    expect(stolen.status).toBe(422);
    expect((await as(w, other).get(medical)).status).toBe(404);
    // The unit's organization, even with a prescriber client, does not rewrite the hospital's volet.
    const unitPrescriber = await t.tokenFor(['prescriber'], 'Organization/org-smr');
    const volet = (await as(w, w.unit.smr).get(medical)).body;
    expect((await as(w, unitPrescriber).put(medical, { ...volet, item: [] })).status).toBe(403);
    // Nor another patient's volet in one's own request.
    const mine = (await as(w, w.prescriber).post('Patient', testPatient())).body;
    const crossed = await as(w, w.prescriber).post('ServiceRequest', {
      resourceType: 'ServiceRequest',
      status: 'active',
      intent: 'order',
      subject: { reference: `Patient/${mine.id}` },
      performer: [{ reference: 'HealthcareService/had' }],
      supportingInfo: [{ reference: medical }],
    });
    expect(crossed.status).toBe(422);
  });

  it('tasks: If-Match required, each side writes its own details', async () => {
    const task = await taskIn('accepted');
    const noMatch = await as(w, w.unit.smr).put(`Task/${task.id}`, moved(task, 'refused'));
    expect(noMatch.status).toBe(428);
    const rewritten = await as(w, w.prescriber).put(`Task/${task.id}`, { ...moved(task, 'confirmed'), restriction: { period: { start: '2027-01-01' } } }, `W/"${task.meta?.versionId}"`);
    expect(rewritten.status).toBe(422);
    expect(rewritten.body.issue[0].expression).toEqual(['Task.restriction']);
    expect((await current(w, task.id as string)).meta?.versionId).toBe(task.meta?.versionId);
  });

  it('requests: every profile of the requesting side sends one, as its own organization, once the medical volet is validated and the administrative one completed; units dropped then listed again get a new task', async () => {
    const patient = (await as(w, w.adminSocial).post('Patient', testPatient())).body; // the manager creates the patient record
    const subject = `Patient/${patient.id}`;
    const base = { resourceType: 'ServiceRequest', intent: 'order', category: SMR_CATEGORY, subject: { reference: subject }, performer: [{ reference: 'HealthcareService/smr' }] };
    const none = await as(w, w.careTeam).post('ServiceRequest', { ...base, status: 'active' });
    expect(none.status).toBe(422);
    expect(none.body.issue[0].diagnostics).toBe(
      'A request is sent with the medical volet validated by a prescriber (status completed): none is cited in supportingInfo; and the administrative and social volet completed: none is cited in supportingInfo; and the patient’s agreement (Consent): none is cited in supportingInfo'
    );
    // The care team writes the medical volet but does not validate it; the managers write the administrative one, not the medical one.
    const medical = (await as(w, w.careTeam).post('QuestionnaireResponse', volet('medical', subject, 'in-progress'))).body as QuestionnaireResponse;
    expect((await as(w, w.careTeam).put(`QuestionnaireResponse/${medical.id}`, { ...medical, status: 'completed' })).status).toBe(403);
    expect((await as(w, w.nonMedical).post('QuestionnaireResponse', volet('medical', subject, 'in-progress'))).status).toBe(403);
    expect((await as(w, w.adminSocial).post('QuestionnaireResponse', volet('care', subject))).status).toBe(403);
    expect((await as(w, w.nonMedical).post('QuestionnaireResponse', volet('care', subject))).status).toBe(201);
    expect((await as(w, w.nonMedical).get(`QuestionnaireResponse/${medical.id}`)).status).toBe(200); // it reads the medical volet
    const administrative = (await as(w, w.adminSocial).post('QuestionnaireResponse', volet('administrative', subject))).body as QuestionnaireResponse;
    const consent = (await as(w, w.adminSocial).post('Consent', consentOf(subject))).body as Consent;
    const cited = { ...base, supportingInfo: [{ reference: `QuestionnaireResponse/${medical.id}` }, { reference: `QuestionnaireResponse/${administrative.id}` }, { reference: `Consent/${consent.id}` }] };
    const unvalidated = await as(w, w.careTeam).post('ServiceRequest', { ...cited, status: 'active' });
    expect(unvalidated.status).toBe(422);
    expect(unvalidated.body.issue[0].diagnostics).toBe(`A request is sent with the medical volet validated by a prescriber (status completed): QuestionnaireResponse/${medical.id} is in-progress`);
    expect((await as(w, w.prescriber).put(`QuestionnaireResponse/${medical.id}`, { ...medical, status: 'completed' })).status).toBe(200);
    // Now each profile of the hospital sends: the care team at once, the managers a draft they send.
    let lastRequest = '';
    for (const token of [w.careTeam, w.adminSocial, w.nonMedical]) {
      const created = await as(w, token).post('ServiceRequest', { ...cited, status: token === w.careTeam ? 'active' : 'draft' });
      expect(created.status).toBe(201);
      const request = created.body as ServiceRequest;
      lastRequest = request.id as string;
      if (request.status === 'draft') expect((await as(w, token).put(`ServiceRequest/${request.id}`, { ...request, status: 'active' })).status).toBe(200);
      expect((await as(w, w.unit.smr).get(`Task?focus=ServiceRequest/${request.id}`)).body.entry).toHaveLength(1);
      // Cancelling stays the prescriber's.
      const sent = (await as(w, token).get(`ServiceRequest/${request.id}`)).body as ServiceRequest;
      expect((await as(w, token).put(`ServiceRequest/${sent.id}`, { ...sent, status: 'revoked' })).status).toBe(403);
    }
    // The managers message the unit about their request.
    const task = ((await as(w, w.nonMedical).get(`Task?focus=ServiceRequest/${lastRequest}`)).body.entry ?? [])[0]?.resource as Task;
    expect((await as(w, w.nonMedical).post('Communication', { resourceType: 'Communication', status: 'completed', partOf: [{ reference: `Task/${task.id}` }], payload: [{ contentString: 'Dossier social complet' }] })).status).toBe(201);
    // A unit does not send requests; a request names only the caller's organization as requester.
    expect((await as(w, w.unit.smr).post('ServiceRequest', { ...cited, status: 'active' })).status).toBe(403);
    expect((await as(w, w.prescriber).post('ServiceRequest', { ...cited, status: 'active', requester: { reference: 'Organization/org-had' } })).status).toBe(422);
    const { requestId, tasks } = await submit(w, ['smr', 'had']);
    const request = (await as(w, w.prescriber).get(`ServiceRequest/${requestId}`)).body as ServiceRequest;
    const dropped = await as(w, w.prescriber).put(`ServiceRequest/${requestId}`, { ...request, performer: [{ reference: 'HealthcareService/smr' }] });
    expect(dropped.status).toBe(200);
    expect(businessStatusOf(await current(w, tasks.had.id as string))).toBe('cancelled');
    const again = await as(w, w.prescriber).put(`ServiceRequest/${requestId}`, { ...dropped.body, performer: [{ reference: 'HealthcareService/smr' }, { reference: 'HealthcareService/had' }] });
    expect(again.status).toBe(200);
    const hadTasks = (await as(w, w.unit.had).get(`Task?focus=ServiceRequest/${requestId}`)).body.entry.map((e: { resource: Task }) => businessStatusOf(e.resource)).sort();
    expect(hadTasks).toEqual(['cancelled', 'sent']);
    const otherSubject = await as(w, w.prescriber).put(`ServiceRequest/${requestId}`, { ...again.body, subject: { reference: `Patient/${patient.id}` } });
    expect(otherSubject.status).toBe(422);
  });

  it('a cancelled draft, reactivated, is a draft again and sends nothing', async () => {
    const patient = (await as(w, w.prescriber).post('Patient', testPatient())).body;
    const draft = (
      await as(w, w.prescriber).post('ServiceRequest', { resourceType: 'ServiceRequest', status: 'draft', intent: 'order', subject: { reference: `Patient/${patient.id}` }, performer: [{ reference: 'HealthcareService/smr' }] })
    ).body as ServiceRequest;
    expect((await as(w, w.prescriber).put(`ServiceRequest/${draft.id}`, { ...draft, status: 'revoked' })).status).toBe(200);
    const back = await as(w, w.prescriber).post(`ServiceRequest/${draft.id}/$reactivate`, { resourceType: 'Parameters' });
    expect(back.status).toBe(200);
    expect(back.body.status).toBe('draft');
    expect((await as(w, w.unit.smr).get(`Task?focus=ServiceRequest/${draft.id}`)).body.entry ?? []).toEqual([]);
  });

  it('operations refuse malformed Parameters with 400', async () => {
    const task = await taskIn('agreed-in-principle');
    for (const body of [{ resourceType: 'Parameters', parameter: {} }, { resourceType: 'Parameters', parameter: [null] }, { resourceType: 'Patient' }]) {
      const res = await as(w, w.prescriber).post(`Task/${task.id}/$remind`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect((await as(w, w.prescriber).post(`Task/${task.id}/$remind`, { resourceType: 'Parameters', parameter: [{ name: 'message', valueString: ' ' }] })).status).toBe(400);
  });

  it('subscriptions: no private endpoints; only their creator changes them', async () => {
    const hook = (endpoint: string) => ({ resourceType: 'Subscription', status: 'requested', reason: 'x', criteria: 'Task', channel: { type: 'rest-hook', endpoint } });
    for (const endpoint of ['http://127.0.0.1:9/hook', 'http://localhost/hook', 'http://10.1.2.3/hook', 'http://[::1]/hook', 'http://192.168.0.1/']) {
      expect((await as(w, w.unit.smr).post('Subscription', hook(endpoint))).status, endpoint).toBe(422);
    }
    const created = await as(w, w.unit.smr).post('Subscription', hook('https://dui.example.org/hook'));
    expect(created.status).toBe(201);
    const colleague = await t.tokenFor(['receiver'], 'Organization/org-smr');
    expect((await as(w, colleague).put(`Subscription/${created.body.id}`, { ...created.body, channel: { type: 'rest-hook', endpoint: 'https://evil.example.org/' } })).status).toBe(403);
  });
});

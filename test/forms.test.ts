/**
 * The volets' forms (issue 16): Questionnaires the gateway publishes, which
 * every volet answers (item types, options, repeats, enableWhen, required
 * items once completed), with the block of the care wanted; a request is
 * sent for the care its category names, coded from the care-wanted system
 * (or the ROR's fields of activity), and described by its medical volet.
 */
import type { Bundle, HealthcareService, Questionnaire, QuestionnaireResponse, QuestionnaireResponseItem, ServiceRequest } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { responseIssues } from '../mappings/form-check.js';
import { FORMS } from '../mappings/forms.js';
import { startTestGateway, testPatient, type TestGateway } from './helpers.js';
import { as, consentOf, makeWorld, SMR_CATEGORY, volet, voletItems, type World } from './referral-world.js';

let t: TestGateway;
let w: World;
let subject: string;

beforeAll(async () => {
  t = await startTestGateway();
  w = await makeWorld(t);
  subject = `Patient/${(await as(w, w.prescriber).post('Patient', testPatient())).body.id}`;
});
afterAll(() => t.close());

const care = (code: string) => ({ valueCoding: { system: 'https://aiguillage.org/fhir/CodeSystem/care-wanted', code } });

/** The medical volet with `items` instead of the items of the same linkIds. */
function medical(items: QuestionnaireResponseItem[], status: QuestionnaireResponse['status'] = 'completed', of = 'SMR'): QuestionnaireResponse {
  const replaced = new Set(items.map((i) => i.linkId));
  return { ...volet('medical', subject, status, of), item: [...voletItems('medical', of).filter((i) => !replaced.has(i.linkId)), ...items] };
}

async function post(body: QuestionnaireResponse) {
  return as(w, w.prescriber).post('QuestionnaireResponse', body);
}

describe('the forms', () => {
  it('are published by the gateway, read by anyone, found by their canonical URL, and written by no one else', async () => {
    const found = await t.http.get(`/fhir/Questionnaire?url=${encodeURIComponent('https://aiguillage.org/fhir/Questionnaire/volet-medical')}`);
    expect(found.status).toBe(200);
    const form = (found.body as Bundle<Questionnaire>).entry?.map((e) => e.resource);
    expect(form).toHaveLength(1);
    expect(form?.[0]).toMatchObject({ id: 'volet-medical', url: FORMS.medical.url, version: FORMS.medical.version, status: 'active' });
    expect(form?.[0]?.item?.map((i) => i.linkId)).toContain('bloc-usp');
    for (const id of ['volet-soins', 'volet-administratif']) expect((await t.http.get(`/fhir/Questionnaire/${id}`)).status).toBe(200);
    const ror = await t.tokenFor(['ror']);
    const overwrite = await as(w, ror).put('Questionnaire/volet-medical', { ...FORMS.medical, item: [{ linkId: 'x', type: 'string', text: 'x' }] });
    expect(overwrite.status).toBe(403);
    const squat = await as(w, ror).put('Questionnaire/fiche-x', { ...FORMS.medical, id: 'fiche-x' });
    expect(squat.status).toBe(403);
  });
});

describe('a volet answers its form', () => {
  it('names only the form’s items, with their types and options, once unless they repeat', async () => {
    const cases: [string, QuestionnaireResponseItem[], string][] = [
      ['an unknown item', [{ linkId: 'poids', answer: [{ valueString: '60 kg' }] }], 'QuestionnaireResponse.item[4].linkId'],
      ['a text for a choice', [{ linkId: 'prise-en-charge', answer: [{ valueString: 'SMR' }] }], 'QuestionnaireResponse.item[3].answer[0]'],
      ['a code outside the options', [{ linkId: 'prise-en-charge', answer: [care('NIMPORTEQUOI')] }], 'QuestionnaireResponse.item[3].answer[0].valueCoding'],
      ['two answers to a single item', [{ linkId: 'diagnostic', answer: [{ valueString: 'a' }, { valueString: 'b' }] }], 'QuestionnaireResponse.item[3].answer'],
      ['an item of a block at the top level', [{ linkId: 'smr-mention', answer: [{ valueString: 'x' }] }], 'QuestionnaireResponse.item[4].linkId'],
      ['items hidden under an answer', [{ linkId: 'diagnostic', answer: [{ valueString: 'a', item: [{ linkId: 'x', answer: [{ valueString: 'y' }] }] }] }], 'QuestionnaireResponse.item[3].answer[0].item'],
      ['items under a question', [{ linkId: 'diagnostic', answer: [{ valueString: 'a' }], item: [{ linkId: 'x' }] }], 'QuestionnaireResponse.item[3].item'],
    ];
    for (const [what, items, expression] of cases) {
      const res = await post(medical(items));
      expect(res.status, what).toBe(422);
      expect(res.body.issue.map((i: { expression: string[] }) => i.expression[0]), what).toContain(expression);
    }
    const techniques = await post(medical([{ linkId: 'soins-techniques', answer: [{ valueCoding: { system: 'https://aiguillage.org/fhir/CodeSystem/technical-care', code: 'oxygen' } }, { valueCoding: { system: 'https://aiguillage.org/fhir/CodeSystem/technical-care', code: 'tracheostomy' } }] }]));
    expect(techniques.status).toBe(201);
  });

  it('answers a block only when its care is wanted, and, completed, every required item asked', async () => {
    const usp = (await post(medical([], 'completed', 'USP'))).body as QuestionnaireResponse;
    expect(usp.id).toBeDefined();
    // The USP block answered for an SMR request: not asked.
    const stray = await post(medical([{ linkId: 'bloc-usp', item: [{ linkId: 'usp-phase', answer: [{ valueCoding: { system: 'https://aiguillage.org/fhir/CodeSystem/palliative-phase', code: 'stable' } }] }] }]));
    expect(stray.status).toBe(422);
    expect(stray.body.issue[0].diagnostics).toMatch(/bloc-usp is not asked/);
    // Completed without the USP block: each of its required items is named.
    const missing = await post({ ...medical([], 'completed', 'USP'), item: voletItems('medical', 'USP').filter((i) => i.linkId !== 'bloc-usp') });
    expect(missing.status).toBe(422);
    expect(missing.body.issue.map((i: { code: string }) => i.code)).toEqual(['required', 'required', 'required', 'required']);
    expect(missing.body.issue.map((i: { diagnostics: string }) => i.diagnostics.match(/\((usp-[a-z-]+)\)/)?.[1])).toEqual(['usp-phase', 'usp-information', 'usp-directives-anticipees', 'usp-symptomes']);
    // In progress, it may be incomplete.
    const draft = await post({ ...medical([], 'in-progress', 'USP'), item: [{ linkId: 'prise-en-charge', answer: [care('USP')] }] });
    expect(draft.status).toBe(201);
    // EHPAD and USLD share the autonomy block (enableWhen any).
    expect((await post(medical([], 'completed', 'USLD'))).status).toBe(201);
    expect((await post({ ...medical([], 'completed', 'EHPAD'), item: voletItems('medical', 'EHPAD').filter((i) => i.linkId !== 'bloc-grand-age') })).status).toBe(422);
  });
});

describe('the care a request asks', () => {
  async function request(category: ServiceRequest['category'], of = 'SMR', unit = 'smr') {
    const refs: { reference: string }[] = [];
    for (const body of [volet('medical', subject, 'completed', of), volet('administrative', subject), consentOf(subject)]) {
      const res = await as(w, w.prescriber).post(body.resourceType, body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      refs.push({ reference: `${body.resourceType}/${res.body.id}` });
    }
    return as(w, w.prescriber).post('ServiceRequest', {
      resourceType: 'ServiceRequest',
      status: 'active',
      intent: 'order',
      ...(category ? { category } : {}),
      subject: { reference: subject },
      performer: [{ reference: `HealthcareService/${unit}` }],
      supportingInfo: refs,
    });
  }

  /** The unit's field of activity, as the ROR gives it (TRE_R227), or none. */
  async function setField(unit: string, field: string | undefined) {
    const current = (await as(w, w.admin).get(`HealthcareService/${unit}`)).body as HealthcareService;
    const { type: _drop, ...rest } = current;
    const body = field ? { ...rest, type: [{ coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_R227-ChampActivite/FHIR/TRE-R227-ChampActivite', code: field }] }] } : rest;
    expect((await as(w, w.admin).put(`HealthcareService/${unit}`, body)).status).toBe(200);
  }

  it('is coded from the care wanted (or the ROR’s fields of activity), named to send, and is the medical volet’s', async () => {
    const junk = await request([{ coding: [{ system: 'urn:x', code: 'NIMPORTEQUOI' }] }]);
    expect(junk.status).toBe(422);
    expect(junk.body.issue[0].expression).toEqual(['ServiceRequest.category[0].coding[0]']);
    expect((await request([{ coding: [care('XYZ').valueCoding] }])).status).toBe(422);
    const none = await request(undefined);
    expect(none.status).toBe(422);
    expect(none.body.issue[0].diagnostics).toMatch(/the care wanted in category/);
    const other = await request(SMR_CATEGORY, 'USP');
    expect(other.status).toBe(422);
    expect(other.body.issue[0].diagnostics).toMatch(/is for USP, the request asks SMR/);
    const withRor = await request([{ coding: [care('SMR').valueCoding, { system: 'https://mos.esante.gouv.fr/NOS/TRE_R227-ChampActivite/FHIR/TRE-R227-ChampActivite', code: '02' }] }]);
    expect(withRor.status).toBe(201);
  });

  it('goes only to units whose field of activity (ROR, TRE_R227) takes that care; a unit that declares none is not judged', async () => {
    await setField('smr', '02');
    await setField('usp', '01');
    try {
      expect((await request(SMR_CATEGORY, 'SMR', 'smr')).status).toBe(201);
      expect((await request([{ coding: [care('USP').valueCoding] }], 'USP', 'usp')).status).toBe(201);
      const mismatch = await request(SMR_CATEGORY, 'SMR', 'usp');
      expect(mismatch.status).toBe(422);
      expect(mismatch.body.issue[0].expression).toEqual(['ServiceRequest.performer[0]']);
      expect(mismatch.body.issue[0].diagnostics).toMatch(/HealthcareService\/usp cannot receive this request: its field of activity \(TRE_R227 01\) does not take SMR/);
      expect((await request(SMR_CATEGORY, 'SMR', 'had')).status).toBe(201);
    } finally {
      await setField('smr', undefined);
      await setField('usp', undefined);
    }
  });
});

describe('the form check (mappings/form-check.ts)', () => {
  it('reads enableWhen from answers anywhere in the response and keeps in-progress responses to their shape', () => {
    const response = medical([], 'in-progress', 'HAD');
    expect(responseIssues(FORMS.medical, response, false)).toEqual([]);
    expect(responseIssues(FORMS.medical, { ...response, item: [] }, false)).toEqual([]);
    expect(responseIssues(FORMS.medical, { ...response, item: [] }, true).map((i) => i.message)).toEqual([
      '“Prise en charge demandée” (prise-en-charge) is required',
      '“Motif de la demande et objectifs de la prise en charge” (motif) is required',
      '“Diagnostic principal” (diagnostic) is required',
    ]);
  });
});

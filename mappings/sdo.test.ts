/** SDO mappings, over copies of the guide's examples (fixtures/sdo/): inputs read, moves, the pulled shape, the decision a document names. */
import fs from 'node:fs';
import type { Bundle, Consent, DocumentReference, Task } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { decisionOfConsent, decisionOfDocument } from './decision/sdo-documents.js';
import { decisionTaskMovedBy, repeatedSlices, sdoInputText, sdoStatusOf, sdoViewOf } from './decision/sdo.js';
import { decisionTaskOf } from './decision/resources.js';

const example = <T>(name: string): T => JSON.parse(fs.readFileSync(new URL(`../fixtures/sdo/${name}`, import.meta.url), 'utf8')) as T;
const bundleTasks = (): Task[] => (example<Bundle<Task>>('sdo-SDOBundleResultatRechercheNotificationESMS.json').entry ?? []).map((e) => e.resource as Task);

describe('SDO Task inputs, as the guide’s examples give them', () => {
  const [first, second] = bundleTasks();
  it.each([
    ['sdo-SDOTask.json', example<Task>('sdo-SDOTask.json'), { idNat_Decision: 'IdNat_Decision', idDecision: 'IdDecision', idNat_Struct: 'value idNat_Struct', idUnite: 'IdNat_Decision' }, '48', []],
    ['Bundle entry 1', first, { idNat_Decision: 'IdNat_Decision', idDecision: 'IdDecision', idNat_Struct: 'value idNat_Struct', idUnite: 'idUnite1' }, '48', []],
    ['Bundle entry 2', second, { idNat_Decision: 'IdNat_Decision', idDecision: 'IdDecision', idNat_Struct: 'value idNat_Struct', idUnite: undefined }, '41', []],
    ['sdo-SDOTask_nonPassant.json', example<Task>('sdo-SDOTask_nonPassant.json'), { idNat_Decision: undefined, idDecision: undefined, idNat_Struct: undefined, idUnite: undefined }, undefined, []],
  ] as const)('%s', (_name, task, texts, status, repeated) => {
    // valueString (examples), valueId (idUnite of the Bundle's first entry) and valueIdentifier (SDOTask.json's idUnite) read alike.
    for (const [slice, text] of Object.entries(texts)) expect(sdoInputText(task, slice), slice).toBe(text);
    expect(sdoStatusOf(task)).toBe(status);
    expect(repeatedSlices(task)).toEqual(repeated);
  });

  it('finds repeated slices', () => {
    const task = example<Task>('sdo-SDOTask.json');
    expect(repeatedSlices({ ...task, input: [...(task.input ?? []), ...(task.input ?? []).slice(0, 2)] })).toEqual(['idNat_Struct', 'nomESMS']);
  });
});

describe('a decision’s task and SDO Tasks', () => {
  const task: Task = { ...decisionTaskOf('d-75-D1', 'p-75-I1', '75', '750000401', '2026-01-01T00:00:00Z'), id: 't-75-D1-750000401', meta: { versionId: '3', lastUpdated: '2026-02-01T00:00:00Z' } };

  it('moves to the status an SDO Task says, with its reason and inputs', () => {
    const [, second] = bundleTasks();
    const moved = decisionTaskMovedBy(task, second, '41');
    expect(moved).toMatchObject({ status: 'in-progress', businessStatus: { coding: [{ code: '41' }] }, statusReason: { coding: [{ code: '152' }] }, input: second.input });
    expect(moved.focus).toEqual(task.focus);
  });

  it('is shown in the sdo-task shape, the required slices first, from the facts given', () => {
    const facts = {
      finess: '750000401',
      esmsName: 'Foyer',
      decisionIds: [
        { system: 'urn:oid:1.2.250.1.213.7.75', value: 'D1' },
        { system: 'urn:oid:1.2.250.1.213.8.1', value: 'N1' },
      ],
    };
    const pushed = example<Task>('sdo-SDOTask.json').input ?? [];
    const view = sdoViewOf({ ...task, input: pushed }, facts, '39');
    expect({ status: view.status, intent: view.intent, profile: view.meta?.profile, versionId: view.meta?.versionId }).toEqual({
      status: 'completed',
      intent: 'plan',
      profile: ['https://interop.esante.gouv.fr/ig/fhir/sdo/StructureDefinition/sdo-task'],
      versionId: '3',
    });
    expect(view.input?.slice(0, 5)).toEqual([
      { type: { text: 'idNat_Struct' }, valueIdentifier: { system: 'urn:oid:1.2.250.1.71.4.2.2', value: '1750000401' } },
      { type: { text: 'nomESMS' }, valueString: 'Foyer' },
      { type: { text: 'statutESMS' }, valueCodeableConcept: { coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_R357-StatutPersonnePriseCharge/FHIR/TRE-R357-StatutPersonnePriseCharge', code: '39', display: 'Notification envoyée' }] } },
      { type: { text: 'idDecision' }, valueIdentifier: { system: 'urn:oid:1.2.250.1.213.7.75', value: 'D1' } },
      { type: { text: 'idNat_Decision' }, valueIdentifier: { system: 'urn:oid:1.2.250.1.213.8.1', value: 'N1' } },
    ]);
    // The pushed optional inputs follow; the pushed required ones are replaced by the gateway's.
    expect(view.input?.slice(5).map((i) => i.type?.text)).toEqual(pushed.map((i) => i.type?.text).filter((s) => !['idNat_Struct', 'nomESMS', 'statutESMS', 'idDecision', 'idNat_Decision'].includes(s ?? '')));
    expect(sdoViewOf(task, { ...facts, esmsName: undefined }, '39').input?.[1].valueString).toBe('ESMS 750000401');
  });
});

describe('the decision an SDO DocumentReference or an ESMS Consent names', () => {
  it.each([
    ['sdo-SDODocumentReference.json (usual: idDecision)', decisionOfDocument(example<DocumentReference>('sdo-SDODocumentReference.json')), { systemPrefix: 'urn:oid:1.2.250.1.213.7.', value: 'idDecision' }],
    [
      'a DocumentReference with both identifiers (official first)',
      decisionOfDocument({
        resourceType: 'DocumentReference',
        status: 'current',
        content: [],
        identifier: [
          { use: 'usual', value: 'D1' },
          { use: 'official', value: 'N1' },
        ],
      }),
      { systemPrefix: 'urn:oid:1.2.250.1.213.8.1', value: 'N1' },
    ],
    ['sdo-ESMSConsent.json (official: idNat_Decision)', decisionOfConsent(example<Consent>('sdo-ESMSConsent.json')), { systemPrefix: 'urn:oid:1.2.250.1.213.8.1', value: 'idNat_Decision' }],
    ['a Consent with a system', decisionOfConsent({ resourceType: 'Consent', status: 'active', scope: {}, category: [], provision: { data: [{ meaning: 'related', reference: { identifier: { system: 'urn:oid:1.2.250.1.213.8.1', value: 'N1' } } }] } }), { system: 'urn:oid:1.2.250.1.213.8.1', systemPrefix: 'urn:oid:1.2.250.1.213.8.1', value: 'N1' }],
    ['a Consent naming nothing', decisionOfConsent({ resourceType: 'Consent', status: 'active', scope: {}, category: [] }), undefined],
  ])('%s', (_name, found, expected) => {
    expect(found).toEqual(expected);
  });
});

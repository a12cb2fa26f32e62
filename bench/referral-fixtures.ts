/**
 * The admission-request world the benchmarks share: receiving units, each
 * provided by its own organization, a prescribing hospital, and the EHR's
 * submission transaction (a Patient, the three volets, a ServiceRequest to
 * some units; the gateway adds one Task per unit).
 */
import { randomBytes } from 'node:crypto';
import type { BenchServer } from './harness.js';
import { IDENTITY_RELIABILITY_URL, IDENTITY_STATUS_SYSTEM, insKey } from '../mappings/ins.js';

const FINESS = 'https://finess.esante.gouv.fr';
const NIR = 'urn:oid:1.2.250.1.213.1.4.8';
/** The prescribing hospital, `Organization/chu`: a prescriber's token carries this organization. */
export const HOSPITAL = `${FINESS}|750000001`;

/** A random INS-NIR, its key computed. */
export function nir(first = '2'): string {
  let digits = first;
  for (const b of randomBytes(12)) digits += String(b % 10);
  return `${digits}${String(insKey(digits)).padStart(2, '0')}`;
}

/** FR Core's identity reliability: a qualified identity, the only one that carries an INS. */
export const QUALIFIED = [{ url: IDENTITY_RELIABILITY_URL, extension: [{ url: 'identityStatus', valueCoding: { system: IDENTITY_STATUS_SYSTEM, code: 'QUAL' } }] }];

/** `k` distinct values of `values`, at random. */
export function sample<T>(values: readonly T[], k: number): T[] {
  const picked = new Set<T>();
  while (picked.size < Math.min(k, values.length)) picked.add(values[Math.floor(Math.random() * values.length)]);
  return [...picked];
}

const coding = (list: string, code: string): object => ({ valueCoding: { system: `https://aiguillage.org/fhir/CodeSystem/${list}`, code } });

/** What each volet answers (its form's required items: mappings/forms.ts), for an SMR request. */
const ITEMS: Record<string, object[]> = {
  'volet-medical': [
    { linkId: 'prise-en-charge', answer: [coding('care-wanted', 'SMR')] },
    { linkId: 'motif', answer: [{ valueString: 'Rééducation après fracture' }] },
    { linkId: 'diagnostic', answer: [{ valueString: 'Fracture du col du fémur' }] },
    { linkId: 'bloc-smr', item: [{ linkId: 'smr-mention', answer: [coding('smr-mention', 'locomotor')] }, { linkId: 'smr-objectifs', answer: [{ valueString: 'Reprise de la marche' }] }] },
  ],
  'volet-soins': ['deplacements', 'toilette', 'alimentation'].map((what) => ({ linkId: `autonomie-${what}`, answer: [coding('autonomy', 'partial-help')] })),
  'volet-administratif': [
    { linkId: 'mode-de-vie', answer: [coding('living-situation', 'home-alone')] },
    { linkId: 'protection-juridique', answer: [coding('legal-protection', 'none')] },
    { linkId: 'couverture-sociale', answer: [{ valueString: 'Régime général' }] },
  ],
};

function volet(kind: string): object {
  return { resourceType: 'QuestionnaireResponse', questionnaire: `https://aiguillage.org/fhir/Questionnaire/${kind}`, status: 'completed', subject: { reference: 'urn:uuid:p' }, item: ITEMS[kind] };
}

/** Who the submitted patient is, and whether the request names the hospital as its requester. */
/** The patient's own agreement to the orientation. */
const CONSENT = {
  resourceType: 'Consent',
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { reference: 'urn:uuid:p' },
  performer: [{ reference: 'urn:uuid:p' }],
  policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
  provision: { type: 'permit' },
};

export interface SubmissionOptions {
  family?: string;
  given?: string;
  requester?: boolean;
}

/**
 * The EHR's transaction to `units` (HealthcareService ids): the Patient
 * (conditional create on its INS-NIR), three volets, the patient's consent,
 * then the ServiceRequest, sixth entry.
 */
export function submission(units: readonly string[], { family = 'Martin', given = 'Louise', requester = false }: SubmissionOptions = {}): string {
  const value = nir();
  return JSON.stringify({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: 'urn:uuid:p',
        resource: { resourceType: 'Patient', extension: QUALIFIED, identifier: [{ system: NIR, value, use: 'official' }], name: [{ family, given: [given] }], birthDate: '1938-02-11', gender: 'female' },
        request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${NIR}|${value}` },
      },
      { fullUrl: 'urn:uuid:m', resource: volet('volet-medical'), request: { method: 'POST', url: 'QuestionnaireResponse' } },
      { fullUrl: 'urn:uuid:s', resource: volet('volet-soins'), request: { method: 'POST', url: 'QuestionnaireResponse' } },
      { fullUrl: 'urn:uuid:a', resource: volet('volet-administratif'), request: { method: 'POST', url: 'QuestionnaireResponse' } },
      { fullUrl: 'urn:uuid:c', resource: CONSENT, request: { method: 'POST', url: 'Consent' } },
      {
        fullUrl: 'urn:uuid:r',
        resource: {
          resourceType: 'ServiceRequest',
          status: 'active',
          intent: 'order',
          category: [{ coding: [{ system: 'https://aiguillage.org/fhir/CodeSystem/care-wanted', code: 'SMR' }] }],
          subject: { reference: 'urn:uuid:p' },
          ...(requester ? { requester: { reference: 'Organization/chu' } } : {}),
          performer: units.map((u) => ({ reference: `HealthcareService/${u}` })),
          supportingInfo: [{ reference: 'urn:uuid:m' }, { reference: 'urn:uuid:s' }, { reference: 'urn:uuid:a' }, { reference: 'urn:uuid:c' }],
        },
        request: { method: 'POST', url: 'ServiceRequest' },
      },
    ],
  });
}

/** A receiving unit: its HealthcareService id and the Organization a receiver's token names to act for it. */
export interface BenchUnit {
  id: string;
  organization: string;
}

/**
 * Creates, as an admin, the hospital (`Organization/chu`) and `count` units
 * `HealthcareService/unit-<n>`, each provided by `Organization/org-<n>`.
 */
export async function createUnits(server: BenchServer, count: number): Promise<BenchUnit[]> {
  const headers = { Authorization: `Bearer ${await server.token(['admin'])}`, 'Content-Type': 'application/fhir+json' };
  const put = async (path: string, body: object): Promise<void> => {
    const res = await fetch(`${server.base}/fhir/${path}`, { method: 'PUT', headers, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  };
  await put('Organization/chu', { resourceType: 'Organization', id: 'chu', name: 'Centre hospitalier prescripteur', identifier: [{ system: FINESS, value: HOSPITAL.split('|')[1] }] });
  const units: BenchUnit[] = [];
  for (let u = 0; u < count; u++) {
    await put(`Organization/org-${u}`, { resourceType: 'Organization', id: `org-${u}`, name: `Établissement ${u}`, identifier: [{ system: FINESS, value: String(750100000 + u) }] });
    await put(`HealthcareService/unit-${u}`, { resourceType: 'HealthcareService', id: `unit-${u}`, name: `Unité ${u}`, providedBy: { reference: `Organization/org-${u}` } });
    units.push({ id: `unit-${u}`, organization: `Organization/org-${u}` });
  }
  return units;
}

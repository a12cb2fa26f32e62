/** Bad input of any kind: a 4xx OperationOutcome, never a 500, and nothing stored. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FHIR_JSON, startTestGateway, testPatient, type TestGateway } from './helpers.js';

let t: TestGateway;
let token: string;

beforeAll(async () => {
  t = await startTestGateway({ config: { maxBodyBytes: 64 * 1024 } });
  token = await t.tokenFor(['prescriber', 'ror'], 'https://finess.esante.gouv.fr|750000001');
});
afterAll(() => t.close());

async function snapshot(): Promise<string> {
  const { rows } = await t.gateway.db.query<{ n: string }>(
    `SELECT (SELECT count(*) FROM patient) || '/' || (SELECT count(*) FROM organization) || '/' || (SELECT count(*) FROM resource_history) || '/' || (SELECT count(*) FROM resource_identifier) AS n`
  );
  return rows[0].n;
}

function send(method: 'post' | 'put', path: string, body: string, type = FHIR_JSON) {
  return t.http[method](path).set('Authorization', `Bearer ${token}`).set('Content-Type', type).send(body);
}

describe('bad input', () => {
  const cases: [string, () => ReturnType<typeof send>, number, string[]?][] = [
    ['malformed JSON', () => send('post', '/fhir/Patient', '{"resourceType": "Patient",'), 400],
    ['an empty body', () => send('post', '/fhir/Patient', ''), 400],
    ['a JSON array', () => send('post', '/fhir/Patient', '[]'), 400],
    ['the wrong resource type for the URL', () => send('post', '/fhir/Patient', JSON.stringify({ resourceType: 'Organization' })), 400, ['resourceType']],
    ['an unknown element', () => send('post', '/fhir/Patient', JSON.stringify({ ...testPatient(), colour: 'blue' })), 400, ['Patient.colour']],
    ['a wrong primitive', () => send('post', '/fhir/Patient', JSON.stringify({ ...testPatient(), birthDate: '12/03/1940' })), 400, ['Patient.birthDate']],
    ['a wrong code', () => send('post', '/fhir/Patient', JSON.stringify({ ...testPatient(), gender: 'f' })), 400, ['Patient.gender']],
    ['a bad nested element', () => send('post', '/fhir/Patient', JSON.stringify({ ...testPatient(), name: [{ family: ['Dupont'] }] })), 400, ['Patient.name[0].family']],
    [
      'a profile violation (malformed INS)',
      () => send('post', '/fhir/Patient', JSON.stringify(testPatient({ identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '12345' }] }))),
      422,
      ['Patient.identifier[0].value'],
    ],
    ['an identifier without system', () => send('post', '/fhir/Patient', JSON.stringify(testPatient({ identifier: [{ value: '12345' }] }))), 422, ['Patient.identifier[0]']],
    ['a NUL character in a string', () => send('post', '/fhir/Patient', JSON.stringify(testPatient({ name: [{ family: 'Du\u0000pont' }] }))), 400, ['Patient.name[0].family']],
    ['XML', () => send('post', '/fhir/Patient', '<Patient/>', 'application/fhir+xml'), 415],
    ['no content type', () => t.http.post('/fhir/Patient').set('Authorization', `Bearer ${token}`).send('{}'), 415],
    ['a body over the limit', () => send('post', '/fhir/Patient', JSON.stringify({ ...testPatient(), text: { status: 'generated', div: `<div>${'x'.repeat(70_000)}</div>` } })), 413],
    ['an unknown resource type', () => send('post', '/fhir/Spaceship', '{"resourceType":"Spaceship"}'), 404],
    ['an unsupported FHIR type', () => send('post', '/fhir/Observation', '{"resourceType":"Observation"}'), 404],
    ['a bad id', () => send('put', `/fhir/Organization/${'x'.repeat(65)}`, '{"resourceType":"Organization"}'), 400],
    ['an unsupported method', () => t.http.delete('/fhir/Organization/x').set('Authorization', `Bearer ${token}`), 405],
    ['an unknown operation', () => send('post', '/fhir/Patient/$everything', '{}'), 404],
  ];

  it.each(cases)('%s → %d with an OperationOutcome, nothing stored', async (_label, request, status, expressions) => {
    const before = await snapshot();
    const res = await request();
    expect(res.status).toBe(status);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue.length).toBeGreaterThan(0);
    if (expressions) expect(res.body.issue.flatMap((i: { expression?: string[] }) => i.expression ?? [])).toEqual(expect.arrayContaining(expressions));
    expect(await snapshot()).toBe(before);
  });

  it('answers 406 when the client accepts only XML', async () => {
    const res = await t.http.get('/fhir/metadata').set('Accept', 'application/fhir+xml');
    expect(res.status).toBe(406);
  });

  it('answers 404 with an OperationOutcome on unknown routes', async () => {
    const res = await t.http.get('/nowhere');
    expect(res.status).toBe(404);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('keeps SQL metacharacters in search values as data', async () => {
    for (const value of ["'; DROP TABLE patient; --", '%', '_', '\\', 'ü\u0000']) {
      const res = await t.http.get(`/fhir/Patient?family=${encodeURIComponent(value)}`).set('Authorization', `Bearer ${token}`);
      expect(res.status, value).toBeLessThan(500);
    }
    const { rows } = await t.gateway.db.query('SELECT count(*) FROM patient');
    expect(rows).toHaveLength(1);
  });
});

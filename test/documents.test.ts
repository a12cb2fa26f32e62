/**
 * Documents of admission requests (issue 16): a Binary uploaded as itself,
 * streamed and stored once by its hash outside the history; its type
 * checked against its bytes; read as itself or as FHIR; readable by the
 * parties of the requests citing its DocumentReference, and by nobody else.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Binary, Bundle, DocumentReference, ServiceRequest } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64Of } from '../src/fhir/interactions/binary.js';
import { FHIR_JSON, startTestGateway, testPatient, waitFor, type TestGateway } from './helpers.js';
import { as, makeWorld, sendable, SMR_CATEGORY, type World } from './referral-world.js';

let t: TestGateway;
let w: World;
const MAX = 3 * 1024 * 1024;
/** What the gateway logs (debug and up). */
const logged: Record<string, unknown>[] = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logged.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  t = await startTestGateway({ config: { maxDocumentBytes: MAX, maxConcurrentUploads: 1 }, logger: pino({ level: 'debug' }, sink) });
  w = await makeWorld(t);
});
afterAll(() => t.close());

/** A PDF-looking file of `size` bytes (the magic number, then noise). */
function pdf(size: number): Buffer {
  return Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(size - 9)]);
}
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from([0, 0, 0, 13]), Buffer.from('IHDR'), randomBytes(17), Buffer.from([0, 0, 0, 0]), Buffer.from('IEND'), randomBytes(4)]);

function upload(token: string, content: Buffer, type: string) {
  return t.http.post('/fhir/Binary').set('Authorization', `Bearer ${token}`).set('Content-Type', type).send(content);
}

/** The bytes of a raw answer (supertest buffers unknown types when asked). */
function rawGet(token: string, path: string, accept?: string) {
  const req = t.http.get(`/fhir/${path}`).set('Authorization', `Bearer ${token}`).buffer(true).parse((res, done) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => done(null, Buffer.concat(chunks)));
  });
  return accept ? req.set('Accept', accept) : req;
}

/** Uploads with no declared length (chunked), as a streaming client does; the answer's status. */
async function chunkedUpload(token: string, content: Buffer, type: string): Promise<number> {
  const server = t.gateway.server as http.Server;
  if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent: false, method: 'POST', path: '/fhir/Binary', headers: { Authorization: `Bearer ${token}`, 'Content-Type': type } }, (res) => {
      res.resume();
      resolve(res.statusCode as number);
    });
    req.on('error', reject);
    for (let at = 0; at < content.length; at += 64 * 1024) req.write(content.subarray(at, at + 64 * 1024));
    req.end();
  });
}

async function count(table: string): Promise<number> {
  const { rows } = await t.gateway.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(rows[0].n);
}

async function newPatient(token = w.prescriber): Promise<string> {
  const res = await as(w, token).post('Patient', testPatient());
  expect(res.status).toBe(201);
  return res.body.id as string;
}

function documentFor(patientId: string, binaryId: string, contentType = 'application/pdf'): DocumentReference {
  return {
    resourceType: 'DocumentReference',
    status: 'current',
    subject: { reference: `Patient/${patientId}` },
    description: 'Compte rendu d’hospitalisation',
    content: [{ attachment: { contentType, url: `Binary/${binaryId}`, title: 'CRH.pdf' } }],
  };
}

describe('uploading a document', () => {
  it('streams it in parts, stores it once by its hash, and keeps it out of the history', async () => {
    const content = pdf(Math.floor(2.5 * 1024 * 1024));
    const partsBefore = await count('blob_part');
    const first = await upload(w.prescriber, content, 'application/pdf');
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ resourceType: 'Binary', contentType: 'application/pdf' });
    expect(first.body.data).toBeUndefined();
    expect(first.headers.location).toMatch(/\/fhir\/Binary\/[^/]+\/_history\/1$/);
    expect((await count('blob_part')) - partsBefore).toBe(3);

    // The same bytes again: a second Binary, the content stored once.
    const second = await upload(w.careTeam, content, 'application/pdf');
    expect(second.status).toBe(201);
    expect(second.body.id).not.toBe(first.body.id);
    expect((await count('blob_part')) - partsBefore).toBe(3);

    // As itself: the bytes, with its type, and headers that keep a browser from running it.
    const raw = await rawGet(w.prescriber, `Binary/${first.body.id}`);
    expect(raw.status).toBe(200);
    expect(raw.headers['content-type']).toBe('application/pdf');
    expect(raw.headers['x-content-type-options']).toBe('nosniff');
    expect(Buffer.compare(raw.body as Buffer, content)).toBe(0);

    // As FHIR: the Binary with its data (a smaller one here: the independent validator takes
    // FHIR's 1 MB limit on strings to apply to base64Binary as well, which R4 does not say).
    const small = pdf(700 * 1024 + 1);
    const smallId = (await upload(w.prescriber, small, 'application/pdf')).body.id as string;
    const fhir = await as(w, w.prescriber).get(`Binary/${smallId}`).set('Accept', FHIR_JSON);
    expect(fhir.status).toBe(200);
    expect(fhir.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(fhir.body).toMatchObject({ resourceType: 'Binary', id: smallId, contentType: 'application/pdf' });
    expect(Buffer.compare(Buffer.from((fhir.body as Binary).data as string, 'base64'), small)).toBe(0);
    const format = await rawGet(w.prescriber, `Binary/${smallId}?_format=json`);
    expect(JSON.parse((format.body as Buffer).toString()).data).toBe((fhir.body as Binary).data);

    // The history holds the Binary without its content.
    const history = await as(w, w.prescriber).get(`Binary/${first.body.id}/_history`);
    expect(history.status).toBe(200);
    expect((history.body as Bundle).entry?.[0].resource).toMatchObject({ resourceType: 'Binary', contentType: 'application/pdf' });
    expect(((history.body as Bundle).entry?.[0].resource as Binary).data).toBeUndefined();
    const { rows } = await t.gateway.db.query<{ content: Binary }>(`SELECT content FROM resource_history WHERE resource_type = 'Binary' AND id = $1`, [first.body.id]);
    expect(rows[0].content.data).toBeUndefined();
  });

  it('takes a Binary as FHIR JSON with its data, stored the same way', async () => {
    const text = Buffer.from('Synthèse médicale : patiente autonome pour les transferts.\n', 'utf8');
    const res = await as(w, w.prescriber).post('Binary', { resourceType: 'Binary', contentType: 'text/plain; charset=utf-8', data: text.toString('base64') });
    expect(res.status).toBe(201);
    expect(res.body.data).toBeUndefined();
    const raw = await rawGet(w.prescriber, `Binary/${res.body.id}`);
    expect(raw.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect((raw.body as Buffer).toString('utf8')).toBe(text.toString('utf8'));
  });

  it('refuses a type it does not take, a content that is not its declared type, an empty or too large one, and stores none of them', async () => {
    const before = { binaries: await count('binary_content'), parts: await count('blob_part'), blobs: await count('blob') };
    const exe = await upload(w.prescriber, Buffer.from('MZ\x90\x00'), 'application/x-msdownload');
    expect(exe.status).toBe(415);
    expect(exe.body.issue[0].diagnostics).toMatch(/application\/pdf/);
    const disguised = await upload(w.prescriber, PNG, 'application/pdf');
    expect(disguised.status).toBe(415);
    expect(disguised.body.issue[0].diagnostics).toBe('The content is declared application/pdf but is image/png');
    const binaryAsText = await upload(w.prescriber, Buffer.from([0x00, 0x01, 0x02, 0xff]), 'text/plain');
    expect(binaryAsText.status).toBe(415);
    const latin1 = await upload(w.prescriber, Buffer.from('caf\xe9', 'latin1'), 'text/plain; charset=iso-8859-1');
    expect(latin1.status).toBe(415);
    const empty = await upload(w.prescriber, Buffer.alloc(0), 'application/pdf');
    expect([400, 415]).toContain(empty.status);
    // Over the limit: said at once when the length is declared; else refused as it comes, past
    // the first parts already stored (then rolled back).
    expect((await upload(w.prescriber, pdf(MAX + 1), 'application/pdf')).status).toBe(413);
    expect(await chunkedUpload(w.prescriber, pdf(MAX + 1024 * 1024), 'application/pdf')).toBe(413);
    const inline = await as(w, w.prescriber).post('Binary', { resourceType: 'Binary', contentType: 'application/pdf', data: PNG.toString('base64') });
    expect(inline.status).toBe(415);
    const none = await as(w, w.prescriber).post('Binary', { resourceType: 'Binary', contentType: 'application/pdf' });
    expect(none.status).toBe(422);
    expect({ binaries: await count('binary_content'), parts: await count('blob_part'), blobs: await count('blob') }).toEqual(before);
  });

  it('takes a few uploads at once (each holds a database connection while it comes): past them, 503 with Retry-After', async () => {
    const server = t.gateway.server as http.Server;
    if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    // A slow sender: its first bytes, then nothing for a while.
    let status = 0;
    const slow = http.request({ host: '127.0.0.1', port, agent: false, method: 'POST', path: '/fhir/Binary', headers: { Authorization: `Bearer ${w.prescriber}`, 'Content-Type': 'application/pdf' } }, (res) => {
      res.resume();
      status = res.statusCode as number;
    });
    const done = new Promise<void>((resolve) => slow.on('close', resolve));
    slow.write(pdf(4096));
    // Once it is in (no upload of the loop below may take the place first).
    await new Promise((r) => setTimeout(r, 300));
    expect(status, 'the slow upload is still under way').toBe(0);
    let refused: Awaited<ReturnType<typeof upload>> | undefined;
    for (let tries = 0; tries < 50 && refused?.status !== 503; tries++) {
      await new Promise((r) => setTimeout(r, 20));
      refused = await upload(w.prescriber, pdf(2000), 'application/pdf');
    }
    expect(refused?.status).toBe(503);
    expect(refused?.headers['retry-after']).toBeDefined();
    slow.end(randomBytes(1000));
    await done;
    expect(status).toBe(201);
    expect((await upload(w.prescriber, pdf(2000), 'application/pdf')).status).toBe(201);
  });

  it('a client that drops its upload half-way: nothing stored, a refusal (400) in the log, no unexpected error', async () => {
    const server = t.gateway.server as http.Server;
    if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const before = { binaries: await count('binary_content'), parts: await count('blob_part'), blobs: await count('blob') };
    const from = logged.length;
    const dropped = http.request({
      host: '127.0.0.1',
      port,
      agent: false,
      method: 'POST',
      path: '/fhir/Binary',
      headers: { Authorization: `Bearer ${w.prescriber}`, 'Content-Type': 'application/pdf', 'Content-Length': String(2 * 1024 * 1024) },
    });
    dropped.on('error', () => undefined);
    dropped.write(pdf(1024 * 1024));
    await new Promise((r) => setTimeout(r, 300));
    dropped.destroy();
    await waitFor('the dropped upload to be logged', () => logged.slice(from).some((l) => l.msg === 'unexpected error' || (l.path === '/fhir/Binary' && typeof l.status === 'number')));
    const lines = logged.slice(from).filter((l) => l.path === '/fhir/Binary' || l.msg === 'unexpected error');
    expect(lines.filter((l) => l.msg === 'unexpected error')).toEqual([]);
    expect(lines.find((l) => l.msg === 'request refused')).toMatchObject({ status: 400, reason: expect.stringMatching(/cut short/) });
    expect({ binaries: await count('binary_content'), parts: await count('blob_part'), blobs: await count('blob') }).toEqual(before);
    // and the place it held is free again
    expect((await upload(w.prescriber, pdf(2000), 'application/pdf')).status).toBe(201);
  });

  it('never changes a Binary’s content, and keeps the receiving side and other roles out of uploads', async () => {
    const created = await upload(w.prescriber, pdf(2000), 'application/pdf');
    const put = await as(w, w.prescriber).put(`Binary/${created.body.id}`, { resourceType: 'Binary', id: created.body.id, contentType: 'application/pdf', data: pdf(100).toString('base64') });
    expect(put.status).toBe(405);
    const statement = (await t.http.get('/fhir/metadata')).body as { rest: { resource: { type: string; interaction: { code: string }[] }[] }[] };
    const declared = statement.rest[0].resource.find((r) => r.type === 'Binary')?.interaction.map((i) => i.code);
    expect(declared).toEqual(expect.arrayContaining(['create', 'read', 'vread']));
    expect(declared).not.toContain('update');
    const ror = await t.tokenFor(['ror']);
    expect((await upload(ror, pdf(2000), 'application/pdf')).status).toBe(403);
    expect((await upload(w.unit.smr, pdf(2000), 'application/pdf')).status).toBe(403);
  });
});

describe('base64 of streamed parts (a Binary read as FHIR)', () => {
  it('is the base64 of the whole, whatever the parts’ sizes', async () => {
    const whole = randomBytes(10_000);
    for (const cuts of [[10_000], [1, 2, 3, 9_994], [3_000, 3_001, 3_999], [4, 4, 4, 9_988]]) {
      let at = 0;
      const parts = cuts.map((n) => whole.subarray(at, (at += n)));
      async function* source(): AsyncGenerator<Buffer> {
        yield* parts;
      }
      const pieces: Buffer[] = [];
      for await (const piece of base64Of(source())) pieces.push(piece);
      expect(Buffer.concat(pieces).toString(), cuts.join('+')).toBe(whole.toString('base64'));
    }
  });
});

describe('who reads a document', () => {
  it('the parties of the request citing it: its writer, the units it was sent to; nobody else', async () => {
    const patientId = await newPatient();
    const content = pdf(5000);
    const binary = await upload(w.prescriber, content, 'application/pdf');
    expect(binary.status).toBe(201);
    // Not cited yet: the writer's organization only.
    expect((await rawGet(w.careTeam, `Binary/${binary.body.id}`)).status).toBe(200);
    expect((await rawGet(w.unit.smr, `Binary/${binary.body.id}`)).status).toBe(404);

    const document = await as(w, w.prescriber).post('DocumentReference', documentFor(patientId, binary.body.id));
    expect(document.status).toBe(201);
    const request: ServiceRequest = {
      resourceType: 'ServiceRequest',
      status: 'active',
      intent: 'order',
      category: SMR_CATEGORY,
      subject: { reference: `Patient/${patientId}` },
      requester: { reference: 'Organization/chu' },
      performer: [{ reference: 'HealthcareService/smr' }],
      supportingInfo: [...(await sendable(w, `Patient/${patientId}`)), { reference: `DocumentReference/${document.body.id}` }],
    };
    const sent = await as(w, w.prescriber).post('ServiceRequest', request);
    expect(sent.status).toBe(201);

    // The unit it was sent to reads the document and its content; another unit is told neither exists.
    expect((await as(w, w.unit.smr).get(`DocumentReference/${document.body.id}`)).status).toBe(200);
    const read = await rawGet(w.unit.smr, `Binary/${binary.body.id}`);
    expect(read.status).toBe(200);
    expect(Buffer.compare(read.body as Buffer, content)).toBe(0);
    const searched = await as(w, w.unit.smr).get(`DocumentReference?patient=Patient/${patientId}`);
    expect((searched.body as Bundle).entry?.map((e) => e.resource?.id)).toEqual([document.body.id]);
    for (const path of [`DocumentReference/${document.body.id}`, `Binary/${binary.body.id}`]) {
      const other = await rawGet(w.unit.had, path);
      expect(other.status).toBe(404);
    }
    expect((await as(w, w.unit.had).get(`DocumentReference?patient=Patient/${patientId}`)).body.entry).toBeUndefined();

    // The unit's read is audited, naming the Binary.
    const audit = await as(w, w.admin).get(`AuditEvent?entity=Binary/${binary.body.id}&action=R`);
    expect((audit.body as Bundle).entry?.length).toBeGreaterThanOrEqual(1);
  });

  it('a document cites its writer’s own Binaries, and a request its writer’s own documents of the same patient', async () => {
    const patientId = await newPatient();
    const binary = await upload(w.prescriber, pdf(3000), 'application/pdf');
    // Another hospital cannot give itself (or its units) access to this Binary by citing it.
    const other = await t.tokenFor(['prescriber'], 'https://finess.esante.gouv.fr|750000999');
    const otherPatient = await newPatient(other);
    const stolen = await as(w, other).post('DocumentReference', documentFor(otherPatient, binary.body.id));
    expect(stolen.status).toBe(422);
    expect(stolen.body.issue[0].expression).toEqual(['DocumentReference.content[0].attachment.url']);
    // The attachment says what the Binary is.
    const wrongType = await as(w, w.prescriber).post('DocumentReference', documentFor(patientId, binary.body.id, 'image/png'));
    expect(wrongType.status).toBe(422);
    // A document of another patient is not cited by this patient's request.
    const elsewhere = await newPatient();
    const document = await as(w, w.prescriber).post('DocumentReference', documentFor(elsewhere, binary.body.id));
    expect(document.status).toBe(201);
    const request = await as(w, w.prescriber).post('ServiceRequest', {
      resourceType: 'ServiceRequest',
      status: 'draft',
      intent: 'order',
      subject: { reference: `Patient/${patientId}` },
      requester: { reference: 'Organization/chu' },
      supportingInfo: [{ reference: `DocumentReference/${document.body.id}` }],
    });
    expect(request.status).toBe(422);
    expect(request.body.issue[0].expression).toEqual(['ServiceRequest.supportingInfo[0]']);
  });
});

/**
 * E-mail alerts (issue 17): a Subscription with an `email` channel, sent
 * through a real SMTP server (a local sink, smtp-server), with links and no
 * patient data; a digest gathers events; an SMTP failure is retried, then
 * reported on the subscription (status error, for the admin to see).
 */
import type { Bundle, Subscription } from '@medplum/fhirtypes';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKPORT_URLS, TOPICS } from '../mappings/topics.js';
import { freePort, startTestGateway, waitFor, type TestGateway } from './helpers.js';
import { as, makeWorld, submit, type World } from './referral-world.js';

interface Mail {
  to: string[];
  raw: string;
}

let t: TestGateway;
let w: World;
let sink: SMTPServer;
const mails: Mail[] = [];
const refusedAttempts: string[] = [];
const TASK_TOPIC = (TOPICS.find((x) => x.type === 'Task') as { url: string }).url;

function alert(to: string, digestSeconds = 0): Subscription {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'Alertes e-mail',
    criteria: TASK_TOPIC,
    channel: {
      ...(digestSeconds ? { extension: [{ url: BACKPORT_URLS.digestPeriod, valueUnsignedInt: digestSeconds }] } : {}),
      type: 'email',
      endpoint: `mailto:${to}`,
      payload: 'text/plain',
    },
  };
}

const mailsTo = (address: string): Mail[] => mails.filter((m) => m.to.includes(address));

/** A header's MIME encoded words (=?UTF-8?Q?…?=) decoded. */
function decodedHeader(raw: string, name: string): string {
  const line = new RegExp(`^${name}: (.*(?:\r?\n[ \t].*)*)`, 'm').exec(raw)?.[1] ?? '';
  return line
    .replace(/\r?\n[ \t]/g, '')
    .replace(/=\?UTF-8\?Q\?(.*?)\?=/gi, (_m, q: string) => Buffer.from(q.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'))
    .replace(/\?=\s+=\?/g, '');
}

beforeAll(async () => {
  const port = await freePort();
  sink = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (address.address.startsWith('boite-pleine@')) {
        refusedAttempts.push(address.address);
        return callback(Object.assign(new Error('Mailbox busy, try later'), { responseCode: 451 }));
      }
      callback();
    },
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => sink.listen(port, '127.0.0.1', resolve));
  t = await startTestGateway({
    workers: true,
    config: {
      mail: { smtpUrl: `smtp://127.0.0.1:${port}`, from: 'aiguillage <alertes@aiguillage.test>', detail: 'link' },
      notify: { attempts: 3, backoffMs: 100, timeoutMs: 2_000, allowPrivateEndpoints: true },
    },
  });
  w = await makeWorld(t);
});
afterAll(async () => {
  await t.close();
  await new Promise<void>((resolve) => sink.close(() => resolve()));
});

describe('e-mail alerts', () => {
  it('reach the SMTP server with a link to what happened, and no patient data', async () => {
    const created = await as(w, w.unit.usp).post('Subscription', alert('unite-usp@hopital.test'));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const { tasks } = await submit(w, ['usp']);
    await waitFor('the alert', () => mailsTo('unite-usp@hopital.test').length > 0);
    const mail = mailsTo('unite-usp@hopital.test')[0];
    expect(mail.raw).toContain('From: aiguillage <alertes@aiguillage.test>');
    expect(decodedHeader(mail.raw, 'Subject')).toBe('aiguillage : 1 nouveauté');
    expect(mail.raw.replace(/=\r?\n/g, '')).toContain(`http://aiguillage.test/fhir/Task/${tasks.usp.id}`);
    // The test patient is Jeanne Dupont, born 1940-03-12: none of it travels.
    for (const word of ['Dupont', 'Jeanne', '1940']) expect(mail.raw).not.toContain(word);
  });

  it('gather the events of a digest period into one mail', async () => {
    const created = await as(w, w.unit.had).post('Subscription', alert('unite-had@hopital.test', 5));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const first = await submit(w, ['had']);
    const second = await submit(w, ['had']);
    await waitFor('the digest', () => mailsTo('unite-had@hopital.test').length > 0, 20_000);
    await new Promise((r) => setTimeout(r, 1_000));
    const digests = mailsTo('unite-had@hopital.test');
    expect(digests).toHaveLength(1);
    const body = digests[0].raw.replace(/=\r?\n/g, '');
    expect(body).toContain(`/Task/${first.tasks.had.id}`);
    expect(body).toContain(`/Task/${second.tasks.had.id}`);
  }, 30_000);

  it('retry an SMTP failure, then report it on the subscription (status error), which the admin finds', async () => {
    const created = await as(w, w.unit.smr).post('Subscription', alert('boite-pleine@hopital.test'));
    expect(created.status).toBe(201);
    await submit(w, ['smr']);
    await waitFor('the failure reported', async () => (await as(w, w.unit.smr).get(`Subscription/${created.body.id}`)).body.status === 'error', 20_000);
    expect(refusedAttempts.length).toBeGreaterThanOrEqual(3);
    const failed = (await as(w, w.unit.smr).get(`Subscription/${created.body.id}`)).body as Subscription;
    expect(failed.error).toMatch(/451/);
    const seen = (await as(w, w.admin).get('Subscription?status=error')).body as Bundle<Subscription>;
    expect(seen.entry?.map((e) => e.resource?.id)).toContain(created.body.id);
  }, 30_000);

  it('refuse what an alert cannot be: another scheme, the resources themselves, a heartbeat', async () => {
    for (const bad of [
      { ...alert('x@y.test'), channel: { type: 'email', endpoint: 'https://example.org' } },
      { ...alert('x@y.test'), channel: { type: 'email', endpoint: 'mailto:a@b.test,c@d.test' } },
      { ...alert('x@y.test'), channel: { ...alert('x@y.test').channel, _payload: { extension: [{ url: BACKPORT_URLS.payloadContent, valueCode: 'full-resource' }] } } },
      { ...alert('x@y.test'), channel: { ...alert('x@y.test').channel, extension: [{ url: BACKPORT_URLS.heartbeatPeriod, valueUnsignedInt: 60 }] } },
      { ...alert('x@y.test'), channel: { ...alert('x@y.test').channel, extension: [{ url: BACKPORT_URLS.digestPeriod, valueUnsignedInt: 1 }] } },
    ] as Subscription[]) {
      const res = await as(w, w.unit.usp).post('Subscription', bad);
      expect(res.status, JSON.stringify(bad.channel)).toBe(422);
    }
  });
});

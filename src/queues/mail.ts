/**
 * Sending e-mail alerts through the configured SMTP server (nodemailer),
 * one connection per mail. A failure says whether it is worth retrying: a
 * 5xx answer (mailbox unknown, refused) is permanent; a 4xx answer, a
 * connection or a timeout failure, temporary.
 */
import nodemailer from 'nodemailer';
import type { Config } from '../config.js';

export interface Mailer {
  send(to: string, subject: string, text: string): Promise<void>;
}

/** A mail the server refused for good (5xx). */
export class MailRefused extends Error {}

/** The transport options of an smtp:// or smtps:// URL (credentials in it), with the timeouts. */
export function transportOptions(url: string, timeoutMs: number): Record<string, unknown> {
  const u = new URL(url);
  if (u.protocol !== 'smtp:' && u.protocol !== 'smtps:') throw new Error(`AIGUILLAGE_SMTP_URL is smtp:// or smtps://, not ${u.protocol}`);
  const secure = u.protocol === 'smtps:';
  return {
    host: u.hostname,
    port: Number(u.port || (secure ? 465 : 25)),
    secure,
    ...(u.username ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  };
}

export function smtpMailer(mail: NonNullable<Config['mail']>, timeoutMs: number): Mailer {
  const transport = nodemailer.createTransport(transportOptions(mail.smtpUrl, timeoutMs));
  return {
    async send(to, subject, text) {
      try {
        await transport.sendMail({ from: mail.from, to, subject, text });
      } catch (err) {
        const code = (err as { responseCode?: number }).responseCode;
        if (code !== undefined && code >= 500 && code < 600) throw new MailRefused(`the SMTP server refused the mail to ${to}: ${(err as Error).message}`);
        throw new Error(`sending the mail to ${to} failed: ${(err as Error).message}`);
      }
    },
  };
}

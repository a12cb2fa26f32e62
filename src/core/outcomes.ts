/**
 * OperationOutcomes and the error that carries one with its HTTP status.
 * Code below HTTP throws `FhirError`; the HTTP layer turns it into a response.
 */
import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

type IssueCode = OperationOutcomeIssue['code'];

/** An OperationOutcome error with the HTTP status it answers with. */
export class FhirError extends OperationOutcomeError {
  constructor(
    readonly status: number,
    outcome: OperationOutcome,
    /** Extra response headers (e.g. `Retry-After`, `WWW-Authenticate`). */
    readonly headers: Record<string, string> = {}
  ) {
    super(outcome);
  }
}

/**
 * A text fit for a FHIR string: the control characters R4 forbids (all but
 * tab, CR and LF), which a request may carry into an error's text, written as
 * `\uXXXX`; never empty.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return clean.trim() === '' ? '(no details)' : clean;
}

/** One issue of an outcome: its text once, in `diagnostics`. */
export function issue(code: IssueCode, diagnostics: string, expression?: string, severity: OperationOutcomeIssue['severity'] = 'error'): OperationOutcomeIssue {
  return {
    severity,
    code,
    diagnostics: printable(diagnostics),
    ...(expression ? { expression: [printable(expression)] } : {}),
  };
}

/** An outcome made of issues. */
export function outcome(...issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

/** An informational all-ok outcome. */
export function okOutcome(diagnostics: string): OperationOutcome {
  return outcome(issue('informational', diagnostics, undefined, 'information'));
}

function fail(status: number, code: IssueCode, diagnostics: string, expression?: string): FhirError {
  return new FhirError(status, outcome(issue(code, diagnostics, expression)));
}

/** 400: the request cannot be parsed or is malformed. */
export const badRequest = (msg: string, expression?: string): FhirError => fail(400, 'invalid', msg, expression);
/** 401: no or an invalid token. */
export const unauthorized = (msg = 'Authentication required'): FhirError =>
  new FhirError(401, outcome(issue('login', msg)), { 'WWW-Authenticate': 'Bearer realm="aiguillage"' });
/** 403: authenticated but not allowed. */
export const forbidden = (msg = 'Forbidden', expression?: string): FhirError => fail(403, 'forbidden', msg, expression);
/** 404: no such resource (or not visible to the caller). */
export const notFound = (msg = 'Not found'): FhirError => fail(404, 'not-found', msg);
/** 405: the interaction is not supported on that path. */
export const notAllowed = (msg: string): FhirError => fail(405, 'not-supported', msg);
/** 409: conflicting state (e.g. an illegal transition). */
export const conflict = (msg: string, expression?: string): FhirError => fail(409, 'conflict', msg, expression);
/** 412: `If-Match` does not match, or a conditional operation matched several. */
export const preconditionFailed = (msg: string): FhirError => fail(412, 'conflict', msg);
/** 428: the change needs `If-Match`. */
export const preconditionRequired = (msg: string): FhirError => fail(428, 'required', msg, 'If-Match');
/** 413: the body is over the limit. */
export const payloadTooLarge = (msg: string): FhirError => fail(413, 'too-costly', msg);
/** 415: unsupported content type. */
export const unsupportedMediaType = (msg: string): FhirError => fail(415, 'not-supported', msg);
/** 422: well-formed but violates the rules (profile, business rule). */
export const unprocessable = (issues: OperationOutcomeIssue[]): FhirError => new FhirError(422, outcome(...issues));
/** 422: a business rule refuses the content (one issue). */
export const ruleViolation = (msg: string, expression?: string): FhirError => fail(422, 'business-rule', msg, expression);
/** 429: the client is over its rate limit; it may retry after `retryAfter` seconds. */
export const tooManyRequests = (msg: string, retryAfter: number): FhirError => new FhirError(429, outcome(issue('throttled', msg)), { 'Retry-After': String(retryAfter) });
/** 503: a backing service is not answering. */
export const unavailable = (msg: string): FhirError => new FhirError(503, outcome(issue('transient', msg)), { 'Retry-After': '5' });

/** Turns anything thrown into a status and an outcome; `undefined` status means an unexpected bug. */
export function toFhirError(err: unknown): FhirError | undefined {
  if (err instanceof FhirError) return err;
  if (isDatabaseUnavailable(err)) return unavailable('The database is not answering; try again shortly');
  if (isStatementTimeout(err)) return new FhirError(503, outcome(issue('timeout', 'The query took too long and was cancelled')));
  const code = err && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
  // Two writers met on the same row or key: nothing was stored; the client may retry.
  if (code === '23505') return conflict('A concurrent request created the same resource or identifier first; nothing was stored, retry to update it');
  if (code === '40P01' || code === '40001') return new FhirError(503, outcome(issue('transient', 'The request met a concurrent one and was rolled back; retry it')), { 'Retry-After': '1' });
  return undefined;
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);

function isDatabaseUnavailable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  const message = (err as { message?: unknown }).message;
  return typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(message);
}

function isStatementTimeout(err: unknown): boolean {
  return !!err && typeof err === 'object' && (err as { code?: unknown }).code === '57014';
}

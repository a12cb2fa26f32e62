/** The one place errors become HTTP responses: OperationOutcomes, with 500 only for real bugs. */
import type { Context } from 'hono';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { issue, outcome, toFhirError } from '../core/outcomes.js';

/** The FHIR JSON media type of every response. */
export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** Sends a resource as FHIR JSON. */
export function sendFhir(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  // No body (Prefer: return=minimal): no content type a client would try to parse, and a length rather than an empty chunked stream.
  if (body === undefined) return new Response(null, { status, headers: { ...headers, 'Content-Length': '0' } });
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': FHIR_JSON, ...headers } });
}

/** `app.onError`: known errors answer with their status; anything else is logged and answers 500. */
export function onError(err: Error, c: Context): Response {
  const fhirError = toFhirError(err);
  if (fhirError) {
    if (fhirError.status >= 500) c.get('log')?.warn({ err: err.message }, 'service unavailable');
    return sendFhir(fhirError.status, fhirError.outcome, fhirError.headers);
  }
  c.get('log')?.error({ err }, 'unexpected error');
  const body: OperationOutcome = outcome(issue('exception', 'Internal error; it has been logged'));
  return sendFhir(500, body);
}

/** Statuses of the requests Node's HTTP parser refuses before the app sees them (Node's own choices). */
const PARSER_REFUSALS: Record<string, { status: number; reason: string; code: 'too-costly' | 'timeout' | 'invalid'; diagnostics: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, reason: 'Request Header Fields Too Large', code: 'too-costly', diagnostics: 'The request line and headers are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'Request Timeout', code: 'timeout', diagnostics: 'The request was not received in time' },
};

/**
 * The answer to a request Node's HTTP parser refused (`clientError`):
 * malformed request line or headers, headers too large, too slow. Node's own
 * answer has no body; this one is the OperationOutcome every other refusal
 * has. The connection closes after it, as the parser's state is lost.
 */
export function clientErrorResponse(err: Error & { code?: string }): string {
  const known = PARSER_REFUSALS[err.code ?? ''];
  const { status, reason, code, diagnostics } = known ?? { status: 400, reason: 'Bad Request', code: 'invalid', diagnostics: `Malformed HTTP request (${err.code ?? 'unknown parser error'})` };
  const body = JSON.stringify(outcome(issue(code, diagnostics)));
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${FHIR_JSON}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

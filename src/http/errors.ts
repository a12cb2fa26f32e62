/** The one place errors become HTTP responses: OperationOutcomes, with 500 only for real bugs. */
import type { Context } from 'hono';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { issue, outcome, toFhirError } from '../fhir/outcomes.js';

/** The FHIR JSON media type of every response. */
export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** Sends a resource as FHIR JSON. */
export function sendFhir(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': FHIR_JSON, ...headers },
  });
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

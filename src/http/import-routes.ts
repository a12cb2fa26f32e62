/**
 * `POST /fhir/$import-decisions`: an MDPH uploads its decisions file (CSV,
 * streamed, up to AIGUILLAGE_MAX_IMPORT_BYTES) with `Prefer: respond-async`;
 * the answer is 202 with the status URL (`/fhir/_import/{id}`).
 */
import type { Context } from 'hono';
import { acceptImport, FileTooLarge, importDepartment } from '../domain/decision-import.js';
import { badRequest, payloadTooLarge, unauthorized, unsupportedMediaType } from '../fhir/outcomes.js';
import { pushScheduled, type FhirServices } from '../fhir/types.js';
import { sendFhir } from './errors.js';

export function importDecisionsHandler(services: FhirServices, maxBytes: number) {
  return async function importDecisions(c: Context): Promise<Response> {
    const principal = c.get('principal');
    if (!principal) throw unauthorized();
    if (!/respond-async/i.test(c.req.header('prefer') ?? '')) throw badRequest('$import-decisions is asynchronous: send Prefer: respond-async', 'Prefer');
    const type = c.req.header('content-type') ?? '';
    if (!/^text\/csv\s*(;|$)/i.test(type)) throw unsupportedMediaType(`The decisions file is text/csv (';'-separated, UTF-8), got "${type || 'none'}"`);
    const department = importDepartment(principal, c.req.query('mdph'));
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > maxBytes) throw payloadTooLarge(`The file is over the limit of ${maxBytes} bytes`);
    const body = c.req.raw.body;
    if (!body) throw badRequest('The file is empty');
    try {
      const accepted = await acceptImport(services.db, principal, department, body as unknown as AsyncIterable<Uint8Array>, maxBytes);
      await pushScheduled(services, [accepted.job]);
      return sendFhir(
        202,
        { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: `Import ${accepted.id} accepted (${accepted.encoding})` }] },
        { 'Content-Location': `${services.baseUrl}/_import/${accepted.id}` }
      );
    } catch (err) {
      if (err instanceof FileTooLarge) throw payloadTooLarge(err.message);
      throw err;
    }
  };
}

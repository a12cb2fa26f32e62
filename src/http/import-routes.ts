/**
 * `POST /fhir/$import-decisions`: an MDPH uploads its decisions file (CSV,
 * streamed, up to AIGUILLAGE_MAX_IMPORT_BYTES) with `Prefer: respond-async`;
 * the answer is 202 with the status URL (`/fhir/_import/{id}`).
 */
import type { Context } from 'hono';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { bundleRows, rowsToCsv } from '../../mappings/decision.js';
import { acceptImport, FileTooLarge, importDepartment } from '../domain/decision-import.js';
import type { Principal } from '../domain/principal.js';
import { badRequest, payloadTooLarge, unauthorized, unsupportedMediaType } from '../fhir/outcomes.js';
import { pushScheduled, type FhirServices } from '../fhir/types.js';
import type { AuditTrail } from '../domain/audit.js';
import { trailOf } from './audit-trail.js';
import { sendFhir } from './errors.js';

/**
 * Decisions sent as a FHIR Bundle (a ServiceRequest per decision, as the
 * gateway renders them, its person as a contained Patient or a Patient
 * entry): checked as FHIR first (400, nothing stored), then imported through
 * the same pipeline as a file, the report naming entries and elements.
 */
async function acceptBundle(services: FhirServices, principal: Principal, department: string, text: string, maxBytes: number, trail: AuditTrail): Promise<Awaited<ReturnType<typeof acceptImport>>> {
  if (Buffer.byteLength(text) > maxBytes) throw payloadTooLarge(`The Bundle is over the limit of ${maxBytes} bytes`);
  let bundle: unknown;
  try {
    bundle = JSON.parse(text);
  } catch (err) {
    throw badRequest(`The body is not valid JSON: ${(err as Error).message}`);
  }
  if ((bundle as Resource | undefined)?.resourceType !== 'Bundle') throw badRequest('Decisions sent as FHIR come in a Bundle', 'resourceType');
  services.validator.validate(bundle);
  const rows = bundleRows(bundle as Bundle, department);
  if (rows.length === 0) throw badRequest('The Bundle holds no ServiceRequest (decision)', 'Bundle.entry');
  async function* file(): AsyncGenerator<Uint8Array> {
    yield Buffer.from(rowsToCsv(rows), 'utf8');
  }
  return acceptImport(services.db, principal, department, file(), Number.MAX_SAFE_INTEGER, { entries: rows.map((r) => r.entry) }, trail);
}

export function importDecisionsHandler(services: FhirServices, maxBytes: number) {
  return async function importDecisions(c: Context): Promise<Response> {
    const principal = c.get('principal');
    if (!principal) throw unauthorized();
    if (!/respond-async/i.test(c.req.header('prefer') ?? '')) throw badRequest('$import-decisions is asynchronous: send Prefer: respond-async', 'Prefer');
    const type = c.req.header('content-type') ?? '';
    const isCsv = /^text\/csv\s*(;|$)/i.test(type);
    const isFhir = /^application\/(fhir\+)?json\s*(;|$)/i.test(type);
    if (!isCsv && !isFhir) throw unsupportedMediaType(`Decisions come as a file, text/csv (';'-separated, UTF-8), or as a FHIR Bundle (application/fhir+json); got "${type || 'none'}"`);
    const department = importDepartment(principal, c.req.query('mdph'));
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > maxBytes) throw payloadTooLarge(`The file is over the limit of ${maxBytes} bytes`);
    const body = c.req.raw.body;
    if (!body) throw badRequest('The file is empty');
    try {
      const accepted = isFhir
        ? await acceptBundle(services, principal, department, await c.req.text(), maxBytes, trailOf(c))
        : await acceptImport(services.db, principal, department, body as unknown as AsyncIterable<Uint8Array>, maxBytes, undefined, trailOf(c));
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

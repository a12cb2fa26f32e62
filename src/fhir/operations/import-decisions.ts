/**
 * `POST /$import-decisions`: an MDPH uploads its decisions file (CSV,
 * streamed, up to AIGUILLAGE_MAX_IMPORT_BYTES), or the decisions as a FHIR
 * Bundle, with `Prefer: respond-async`; the answer is 202 with the status
 * URL (`/fhir/_import/{id}`). The upload, its job and its audit record
 * commit together.
 */
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { bundleRows, rowsToCsv } from '../../../mappings/decision/bundle-rows.js';
import { badRequest, payloadTooLarge, unauthorized, unsupportedMediaType } from '../../core/outcomes.js';
import { acceptImport, FileTooLarge, importDepartment } from '../../domain/decision/import-upload.js';
import type { Principal } from '../../core/principal.js';
import type { Queryable } from '../../store/db.js';
import type { Route } from '../route.js';
import type { FhirServices } from '../types.js';

/**
 * Decisions sent as a FHIR Bundle (a ServiceRequest per decision, as the
 * gateway renders them, its person as a contained Patient or a Patient
 * entry): checked as FHIR first (400, nothing stored), then imported through
 * the same pipeline as a file, the report naming entries and elements.
 */
async function acceptBundle(services: FhirServices, principal: Principal, department: string, text: string, tx: Queryable): Promise<Awaited<ReturnType<typeof acceptImport>>> {
  if (Buffer.byteLength(text) > services.maxImportBytes) throw payloadTooLarge(`The Bundle is over the limit of ${services.maxImportBytes} bytes`);
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
  return acceptImport(services.db, principal, department, file(), Number.MAX_SAFE_INTEGER, { entries: rows.map((r) => r.entry) }, tx);
}

export const importDecisionsRoute: Route = {
  method: 'POST',
  path: '$import-decisions',
  interaction: 'operation',
  unit: true,
  rawBody: true,
  auditedAs: { action: 'C', type: 'ServiceRequest' },
  operation: {
    name: 'import-decisions',
    id: 'import-decisions',
    level: 'system',
    title: 'Import an MDPH’s orientation decisions',
    description:
      'An MDPH uploads its CDAPH decisions as a CSV file (;-separated, UTF-8 or Latin-1; columns in mappings/decision/file.ts) or as a FHIR Bundle, with Prefer: respond-async; 202 with the status URL (/_import/{id}), whose final report lists the rejected rows.',
    affectsState: true,
    parameters: [
      { name: 'mdph', use: 'in', min: 0, max: '1', type: 'string', documentation: 'The MDPH’s department (admin only; an MDPH client imports for its own)' },
      { name: 'return', use: 'out', min: 1, max: '1', type: 'OperationOutcome', documentation: 'Acceptance (202); the report comes at the status URL' },
    ],
  },
  async handler({ services, request, ctx }) {
    const principal = request.principal;
    if (!principal) throw unauthorized();
    if (!/respond-async/i.test(request.prefer ?? '')) throw badRequest('$import-decisions is asynchronous: send Prefer: respond-async', 'Prefer');
    const type = request.contentType ?? '';
    const isCsv = /^text\/csv\s*(;|$)/i.test(type);
    const isFhir = /^application\/(fhir\+)?json\s*(;|$)/i.test(type);
    if (!isCsv && !isFhir) throw unsupportedMediaType(`Decisions come as a file, text/csv (';'-separated, UTF-8), or as a FHIR Bundle (application/fhir+json); got "${type || 'none'}"`);
    const department = importDepartment(principal, request.query.get('mdph') ?? undefined);
    const raw = request.raw;
    if ((raw?.declaredLength ?? 0) > services.maxImportBytes) throw payloadTooLarge(`The file is over the limit of ${services.maxImportBytes} bytes`);
    if (!raw) throw badRequest('The file is empty');
    const tx = ctx.tx as Queryable;
    try {
      const accepted = isFhir
        ? await acceptBundle(services, principal, department, await raw.text(), tx)
        : await acceptImport(services.db, principal, department, raw.stream(), services.maxImportBytes, undefined, tx);
      ctx.scheduled?.push(accepted.job);
      return {
        status: 202,
        body: { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: `Import ${accepted.id} accepted (${accepted.encoding})` }] },
        headers: { 'Content-Location': `${services.baseUrl}/_import/${accepted.id}` },
        auditNote: { detail: `import ${accepted.id} of MDPH ${department}, ${accepted.bytes} bytes` },
      };
    } catch (err) {
      if (err instanceof FileTooLarge) throw payloadTooLarge(err.message);
      throw err;
    }
  },
};

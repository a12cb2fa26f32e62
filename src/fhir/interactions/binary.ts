/**
 * Binary's own routes (FHIR R4, Binary: "Serving Binary Resources using the
 * RESTful API"). `POST /Binary` takes the content itself, with its own
 * Content-Type, streamed into the store (up to AIGUILLAGE_MAX_DOCUMENT_BYTES,
 * its type checked against its first bytes), or a Binary in FHIR JSON with
 * `data` (within the JSON body limit, AIGUILLAGE_MAX_BODY_BYTES). A read answers the content in its own type unless FHIR JSON is
 * asked for (Accept or `_format`), then the Binary with `data`, streamed.
 */
import type { Binary, Resource } from '@medplum/fhirtypes';
import { badRequest, notFound, payloadTooLarge } from '../../core/outcomes.js';
import { authorize } from '../../domain/access.js';
import { checkDeclaredType, checkSniffedType } from '../../domain/document/content-type.js';
import type { CallContext, ResourceKind } from '../../domain/kind.js';
import { presentResources, readResourceVersion } from '../../domain/reads.js';
import { createResource, readResource } from '../../domain/repository.js';
import { binaryContent } from '../../store/tables/binary.js';
import { BlobTooLarge, blobParts, storeBlob } from '../../store/tables/blob.js';
import type { Route } from '../route.js';
import type { FhirRequest, FhirResponse, FhirServices, RawBody } from '../types.js';
import { parseJsonBody } from '../walk.js';
import { validateBody, versionHeaders, writeResponse } from './common.js';

const isBinary = (kind: ResourceKind): boolean => kind.type === 'Binary';
const JSON_TYPES = /^application\/(fhir\+)?json\s*(;|$)/i;

/** Largest Binary a Bundle entry carries with its data (a larger one is read alone, as itself). */
const BUNDLE_DATA_BYTES = 8 << 20;

/** A body of at most `max` bytes, as text (413 past it). */
async function boundedText(raw: RawBody, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of raw.stream()) {
    size += chunk.byteLength;
    if (size > max) throw payloadTooLarge(`The body is over the limit of ${max} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A Binary sent as FHIR JSON (with `data`, base64). */
async function createFromJson(services: FhirServices, ctx: CallContext, kind: ResourceKind, raw: RawBody): Promise<FhirResponse> {
  // As any FHIR JSON body (a larger document is sent as itself).
  if ((raw.declaredLength ?? 0) > services.maxBodyBytes) throw payloadTooLarge(`The body is over the limit of ${services.maxBodyBytes} bytes`);
  const body = parseJsonBody(await boundedText(raw, services.maxBodyBytes));
  const binary = validateBody(services, body, kind) as Binary;
  if (binary.data !== undefined && Math.floor((binary.data.length * 3) / 4) > services.maxDocumentBytes) {
    throw payloadTooLarge(`The document is over the limit of ${services.maxDocumentBytes} bytes`);
  }
  return writeResponse(services, await createResource(ctx, binary));
}

export const binaryCreateRoute: Route = {
  method: 'POST',
  path: ':type',
  interaction: 'create',
  appliesTo: isBinary,
  rawBody: true,
  async handler({ services, request, ctx, kind }) {
    const k = kind as ResourceKind;
    authorize(request.principal, k, 'write');
    const raw = request.raw;
    if (!raw) throw badRequest('The request body is empty');
    if (JSON_TYPES.test(request.contentType ?? '')) return createFromJson(services, ctx, k, raw);
    const declared = checkDeclaredType(request.contentType);
    const max = services.maxDocumentBytes;
    if ((raw.declaredLength ?? 0) > max) throw payloadTooLarge(`The document is over the limit of ${max} bytes`);
    try {
      const result = await ctx.db.transaction(async (tx) => {
        const content = await storeBlob(tx, raw.stream(), {
          maxBytes: max,
          contentType: (request.contentType as string).trim(),
          inspect: (head, last) => checkSniffedType(declared, head, last),
        });
        if (content.size === 0) throw badRequest('The document is empty');
        return createResource({ ...ctx, tx, content }, { resourceType: 'Binary', contentType: content.contentType });
      });
      return { ...writeResponse(services, result), auditNote: { detail: `${declared}, ${result.resource.id}` } };
    } catch (err) {
      if (err instanceof BlobTooLarge) throw payloadTooLarge(`The document is over the limit of ${max} bytes`);
      throw err;
    }
  },
};

/** Whether the caller asks for the Binary as FHIR JSON rather than as its content. */
function wantsFhir(request: FhirRequest): boolean {
  // Within a Bundle there is no Accept: the entry holds the resource.
  if (request.accept === undefined) return true;
  const format = request.query.get('_format');
  if (format) return /json/i.test(format);
  return request.accept.split(',').some((part) => /^\s*application\/(fhir\+)?json\s*(;|$)/i.test(part));
}

/** Standard base64 of a stream of bytes, piece by piece. */
export async function* base64Of(parts: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let carry = Buffer.alloc(0);
  for await (const part of parts) {
    const joined = carry.length > 0 ? Buffer.concat([carry, part]) : part;
    const whole = joined.length - (joined.length % 3);
    carry = Buffer.from(joined.subarray(whole));
    if (whole > 0) yield Buffer.from(joined.subarray(0, whole).toString('base64'));
  }
  if (carry.length > 0) yield Buffer.from(carry.toString('base64'));
}

/** The answer to a read of a Binary: its content as itself, or the resource with `data`. */
async function binaryAnswer(services: FhirServices, ctx: CallContext, request: FhirRequest, stored: Resource): Promise<FhirResponse> {
  const [resource] = (await presentResources(ctx, [stored])) as Binary[];
  const headers = versionHeaders(services, resource);
  const content = await binaryContent(ctx.tx ?? ctx.db, resource.id as string);
  if (!content) throw notFound(`Binary/${resource.id} not found`);
  const parts = (): AsyncGenerator<Buffer> => blobParts(ctx.db, content);
  if (!wantsFhir(request)) {
    return {
      status: 200,
      headers: { ...headers, 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': "default-src 'none'; sandbox" },
      content: { type: content.contentType, length: content.size, stream: () => parts() },
    };
  }
  if (request.accept === undefined) {
    if (content.size > BUNDLE_DATA_BYTES) throw payloadTooLarge(`Binary/${resource.id} is over ${BUNDLE_DATA_BYTES} bytes: read it alone, not in a Bundle`);
    const chunks: Buffer[] = [];
    for await (const part of parts()) chunks.push(part);
    return { status: 200, body: { ...resource, data: Buffer.concat(chunks).toString('base64') } as Binary, headers };
  }
  // The resource's JSON with `data` last, its base64 streamed: `{...,"data":"…"}`.
  const json = JSON.stringify(resource);
  const prefix = Buffer.from(`${json.slice(0, -1)},"data":"`);
  const suffix = Buffer.from('"}');
  async function* body(): AsyncGenerator<Buffer> {
    yield prefix;
    yield* base64Of(parts());
    yield suffix;
  }
  return {
    status: 200,
    headers,
    content: { type: 'application/fhir+json; charset=utf-8', length: prefix.length + Math.ceil(content.size / 3) * 4 + suffix.length, stream: body },
  };
}

export const binaryReadRoute: Route = {
  method: 'GET',
  path: ':type/:id',
  interaction: 'read',
  appliesTo: isBinary,
  async handler({ services, request, ctx, params }) {
    return binaryAnswer(services, ctx, request, await readResource(ctx, 'Binary', params.id as string));
  },
};

export const binaryVreadRoute: Route = {
  method: 'GET',
  path: ':type/:id/_history/:vid',
  interaction: 'vread',
  appliesTo: isBinary,
  async handler({ services, request, ctx, params }) {
    const { id, vid } = params as { id: string; vid: string };
    if (!/^\d{1,9}$/.test(vid)) throw notFound(`Binary/${id}/_history/${vid} not found`);
    // A Binary's content never changes: every version has the current content.
    return binaryAnswer(services, ctx, request, await readResourceVersion(ctx, 'Binary', id, Number(vid)));
  },
};

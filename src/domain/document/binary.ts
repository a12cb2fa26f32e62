/**
 * Binary: a document's content (issue 16). Sent as itself (`POST /Binary`
 * with its own Content-Type, streamed: fhir/interactions/binary.ts) or as
 * FHIR JSON with `data`; either way stored once by its hash outside the
 * resource history, which keeps the Binary without `data`. Its content
 * does not change (a new document is a new Binary). Read by its writer's
 * organization, and by whoever reads a DocumentReference citing it.
 */
import type { Binary } from '@medplum/fhirtypes';
import { badRequest, notAllowed, ruleViolation } from '../../core/outcomes.js';
import { binaryRow } from '../../../mappings/document.js';
import { storeBlob, type BlobInfo } from '../../store/tables/blob.js';
import { BINARY_COLUMNS } from '../../store/tables/binary.js';
import { documentReadBy } from '../../store/tables/sdo-document.js';
import { sql } from '../../store/sql.js';
import { COMMON_PARAMS, REQUEST_ROLES } from '../common-params.js';
import type { Prepared, ResourceKind, WriteEvent } from '../kind.js';
import { checkDeclaredType, checkSniffedType } from './content-type.js';
import { DOCUMENT_WRITERS } from './document-reference.js';

/** Content sent inline (`data`, base64): checked and stored as an upload is. */
async function storeInline(e: WriteEvent, binary: Binary): Promise<BlobInfo> {
  const declared = checkDeclaredType(binary.contentType);
  const bytes = Buffer.from(binary.data as string, 'base64');
  if (bytes.length === 0) throw badRequest('Binary.data is empty', 'Binary.data');
  await checkSniffedType(declared, bytes.subarray(0, 4096), bytes.length <= 4096);
  async function* one(): AsyncGenerator<Uint8Array> {
    yield bytes;
  }
  return storeBlob(e.q, one(), { maxBytes: Number.MAX_SAFE_INTEGER, contentType: binary.contentType });
}

async function prepareBinary(e: WriteEvent): Promise<Prepared> {
  if (e.previous) throw notAllowed('A Binary’s content does not change: upload a new Binary, and a DocumentReference that replaces the former one (relatesTo)');
  const binary = e.resource as Binary;
  const content = binary.data !== undefined ? await storeInline(e, binary) : e.ctx.content;
  if (!content) throw ruleViolation('A Binary has content: Binary.data, or the content itself POSTed with its own Content-Type', 'Binary.data');
  const { data: _data, ...stored } = binary;
  const resource: Binary = { ...stored, contentType: content.contentType };
  return { resource, row: { blob_hash: content.hash, size: content.size } };
}

export const BINARY: ResourceKind<Binary> = {
  type: 'Binary',
  table: 'binary_content',
  columns: BINARY_COLUMNS,
  toRow: binaryRow,
  profiles: [],
  // A Binary has no identifier: its id and time only.
  searchParams: COMMON_PARAMS.filter((p) => p.code !== 'identifier'),
  includes: [],
  access: {
    read: REQUEST_ROLES,
    write: DOCUMENT_WRITERS,
    ownerColumn: 'owner_org',
    visibleTo: (key) => sql`EXISTS (SELECT 1 FROM sdo_document d WHERE d.binary_ids @> ARRAY[t.id] AND (d.owner_org = ${key} OR ${documentReadBy('d', key)}))`,
    partiesWrite: false,
  },
  patientData: true,
  subscribable: false,
  clientIds: false,
  rules: { prepare: prepareBinary },
};

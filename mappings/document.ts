/** Documents as pure mappings: a Binary's row, and the Binaries a DocumentReference cites. */
import type { Binary, DocumentReference } from '@medplum/fhirtypes';
import { parseReference } from './reference.js';
import type { Row } from './resource-rows.js';

/** Binary → `binary_content` columns read from the resource (its content's hash and size are the store's). */
export function binaryRow(binary: Binary): Row {
  return { content_type: binary.contentType ?? null };
}

/** The ids of the Binaries a DocumentReference's attachments point at (`Binary/{id}`, relative or on this server). */
export function citedBinaries(document: DocumentReference): { id: string; index: number }[] {
  return (document.content ?? []).flatMap((c, index) => {
    const target = parseReference(c.attachment?.url);
    return target?.type === 'Binary' ? [{ id: target.id, index }] : [];
  });
}

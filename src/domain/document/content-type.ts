/**
 * What a document may be, and whether its content is what it says it is:
 * the declared media type must be one a request's or a decision's file
 * takes, and the first bytes must match it (sniffed by `file-type`; plain
 * text and XML, which have no magic number, by their bytes). No antivirus:
 * the type and the size are what the gateway checks.
 */
import { fileTypeFromBuffer } from 'file-type';
import { unsupportedMediaType } from '../../core/outcomes.js';

/** The media types a document may have, with what the sniffer calls each. */
export const DOCUMENT_TYPES: Readonly<Record<string, { sniffed: readonly string[] | 'text' | 'xml'; title: string }>> = {
  'application/pdf': { sniffed: ['application/pdf'], title: 'PDF' },
  'image/jpeg': { sniffed: ['image/jpeg'], title: 'JPEG image' },
  'image/png': { sniffed: ['image/png'], title: 'PNG image' },
  'image/tiff': { sniffed: ['image/tiff'], title: 'TIFF image (scans)' },
  'text/plain': { sniffed: 'text', title: 'plain text, UTF-8' },
  'application/xml': { sniffed: 'xml', title: 'XML (e.g. a CDA document)' },
  'text/xml': { sniffed: 'xml', title: 'XML' },
};

/** The base media type of a Content-Type (`text/plain; charset=utf-8` → `text/plain`). */
export function baseType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

/** 415 unless a declared media type is one a document may have. */
export function checkDeclaredType(contentType: string | undefined): string {
  const base = baseType(contentType);
  if (!DOCUMENT_TYPES[base]) {
    throw unsupportedMediaType(
      `A document is one of ${Object.keys(DOCUMENT_TYPES).join(', ')}; got "${contentType || 'none'}"`
    );
  }
  const charset = /;\s*charset="?([^";\s]+)"?/i.exec(contentType ?? '')?.[1];
  if (DOCUMENT_TYPES[base].sniffed === 'text' && charset && !/^(utf-?8|us-ascii)$/i.test(charset)) {
    throw unsupportedMediaType(`Plain text documents are UTF-8; got charset ${charset}`);
  }
  return base;
}

/** Whether bytes are UTF-8 with no NUL (a cut multi-byte character at the end is allowed when more follows). */
function looksLikeText(head: Buffer, last: boolean): boolean {
  if (head.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: !last });
    return true;
  } catch {
    return false;
  }
}

/**
 * 415 unless the first bytes of a document are of its declared type (`head`:
 * up to its first 4 KiB; `last`: the whole content).
 */
export async function checkSniffedType(declared: string, head: Buffer, last: boolean): Promise<void> {
  const expected = DOCUMENT_TYPES[declared].sniffed;
  const sniffed = (await fileTypeFromBuffer(head))?.mime;
  let ok: boolean;
  if (expected === 'text') ok = !sniffed && head.length > 0 && looksLikeText(head, last);
  else if (expected === 'xml') ok = sniffed === 'application/xml' || (!sniffed && looksLikeText(head, last) && /^(\uFEFF)?\s*</.test(head.toString('utf8')));
  else ok = !!sniffed && expected.includes(sniffed);
  if (!ok) {
    const what = sniffed ?? (head.length === 0 ? 'empty' : looksLikeText(head, last) ? 'text' : 'of no known type');
    throw unsupportedMediaType(`The content is declared ${declared} but is ${what}`);
  }
}

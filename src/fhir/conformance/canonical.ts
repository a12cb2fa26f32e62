/** Canonical URLs of the gateway's own conformance resources. */

/** Canonical base of the gateway's own artefacts. */
export const CANONICAL_BASE = 'https://aiguillage.org/fhir';

/** The canonical URL of one of the gateway's artefacts. */
export function canonical(type: string, id: string): string {
  return `${CANONICAL_BASE}/${type}/${id}`;
}

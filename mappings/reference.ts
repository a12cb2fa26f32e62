/** Reading FHIR references (pure). */

const LITERAL = /^(?:.*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** Splits a literal reference ("Organization/1", ".../fhir/Organization/1/_history/2") into type and id. */
export function parseReference(reference: string | undefined): { type: string; id: string } | undefined {
  if (!reference) return undefined;
  const m = LITERAL.exec(reference);
  return m ? { type: m[1], id: m[2] } : undefined;
}

/** The id a reference points at when it points at a resource of `type`. */
export function referenceId(reference: { reference?: string } | undefined, type: string): string | null {
  const parsed = parseReference(reference?.reference);
  return parsed && parsed.type === type ? parsed.id : null;
}

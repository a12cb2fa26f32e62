/** Text normalisation for accent- and case-insensitive search (pure). */

/** Lower-cases, strips diacritics and collapses white space: "Hôpital  Saint-Éloi" → "hopital saint-eloi". */
export function normalizeText(value: string): string {
  return value
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * R4 JSON has no empty arrays (nor empty objects or strings): an element
 * with no value is absent. These helpers write an optional list only when it
 * holds something.
 */

/** `{ [key]: items }` when there are items, `{}` otherwise: spread it into the object being built. */
export function listOf<K extends string, T>(key: K, items: readonly T[] | undefined): { [P in K]?: T[] } {
  return items && items.length > 0 ? ({ [key]: [...items] } as { [P in K]?: T[] }) : {};
}

/** National identifier systems and their aliases (declarative table, pure). */

/** The identifier systems the gateway knows by name. */
export const SYSTEMS = {
  /** INS-NIR: the national health identifier, the NIR of the person. */
  insNir: 'urn:oid:1.2.250.1.213.1.4.8',
  /** INS-NIA: a temporary national identifier. */
  insNia: 'urn:oid:1.2.250.1.213.1.4.9',
  /** FINESS number of an establishment (legal entity or site). */
  finess: 'https://finess.esante.gouv.fr',
  /** idNat_Struct: national structure identifier (prefix 1 = FINESS, 3 = SIRET). */
  idNatStruct: 'urn:oid:1.2.250.1.71.4.2.2',
} as const;

// Systems written in more than one way by the national material; the key is read as the value.
const ALIASES: Record<string, string> = {
  'http://finess.esante.gouv.fr': SYSTEMS.finess,
  'https://finess.esante.gouv.fr/': SYSTEMS.finess,
  'http://finess.esante.gouv.fr/': SYSTEMS.finess,
};

/** The canonical spelling of an identifier system ('' when absent). */
export function canonicalSystem(system: string | undefined): string {
  if (!system) return '';
  return ALIASES[system] ?? system;
}

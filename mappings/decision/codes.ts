/** The systems, extensions and profiles of orientation decisions (module Handicap). */
export const FHIR_BASE = 'https://aiguillage.org/fhir';
/** The organization key of an MDPH: this system and its department code (75, 2A, 971…). */
export const MDPH_SYSTEM = `${FHIR_BASE}/NamingSystem/mdph`;
export const ID_DECISION_SYSTEM_PREFIX = 'urn:oid:1.2.250.1.213.7.';
export const ID_NAT_DECISION_SYSTEM = 'urn:oid:1.2.250.1.213.8.1';
export const INDIVIDUAL_SYSTEM_PREFIX = `${FHIR_BASE}/NamingSystem/mdph-individu/`;
export const FINESS_SYSTEM = 'https://finess.esante.gouv.fr';
export const R357_SYSTEM = 'https://mos.esante.gouv.fr/NOS/TRE_R357-StatutPersonnePriseCharge/FHIR/TRE-R357-StatutPersonnePriseCharge';
export const J252_SYSTEM = 'https://mos.esante.gouv.fr/NOS/JDV_J252-StatutPersonnePriseChargeESMS/';
export const CATEGORY_SYSTEM = 'https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement';
export const DECISION_CATEGORY = { system: `${FHIR_BASE}/CodeSystem/request-kind`, code: 'orientation-decision', display: 'Décision d’orientation CDAPH' };
export const EXT_CRETON = `${FHIR_BASE}/StructureDefinition/creton`;
export const EXT_LEVEL_ESMS = `${FHIR_BASE}/StructureDefinition/characterisation-esms`;
export const EXT_LEVEL_PRO = `${FHIR_BASE}/StructureDefinition/characterisation-vocational`;
/** The canonical base of the SDO guide's profiles (conformance/). */
export const SDO_PROFILE_BASE = 'https://interop.esante.gouv.fr/ig/fhir/sdo/StructureDefinition/';
/** The SDO guide's Task: an ESMS's status for a decision (pushed as sent, and the shape ESMS software pulls). */
export const SDO_TASK_PROFILE = `${SDO_PROFILE_BASE}sdo-task`;
/** The SDO guide's other profiles the gateway enforces or produces. */
export const SDO_PROFILES = {
  task: SDO_TASK_PROFILE,
  searchResult: `${SDO_PROFILE_BASE}sdo-bundle-resultat-recherche-notification-esms`,
  documentReference: `${SDO_PROFILE_BASE}sdo-document-reference`,
  consent: `${SDO_PROFILE_BASE}esms-consent`,
} as const;

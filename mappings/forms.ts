/**
 * The forms of an admission request as FHIR Questionnaires (issue 16): the
 * medical volet, the care and plan volet, and the administrative and social
 * volet, with the blocks specific to each care wanted (seed 001: "volet
 * médical spécifique USP"; the care kinds SMR, HAD, USP, USLD, EHPAD, ACT,
 * LHSS, SSIAD). A block is a group shown (enableWhen) when the medical
 * volet's `prise-en-charge` names its care; its required items are then
 * required. Answer lists are the gateway's code systems (published with the
 * others, from ANSWER_LISTS).
 */
import type { Coding, Questionnaire, QuestionnaireItem } from '@medplum/fhirtypes';

const BASE = 'https://aiguillage.org/fhir';
/** Version of the forms (a change of an item is a new version). */
export const FORMS_VERSION = '1.0.0';

/** An answer list: a code system of the gateway's, with its words. */
export interface AnswerList {
  id: string;
  title: string;
  description: string;
  codes: readonly (readonly [code: string, display: string])[];
}

/** The care a request asks for (ServiceRequest.category and the medical volet's `prise-en-charge`). */
export const CARE_WANTED: AnswerList = {
  id: 'care-wanted',
  title: 'Prises en charge demandées',
  description: 'The care an admission request asks for (ServiceRequest.category), as the orientation services name it.',
  codes: [
    ['SMR', 'Soins médicaux et de réadaptation'],
    ['HAD', 'Hospitalisation à domicile'],
    ['USP', 'Unité de soins palliatifs'],
    ['USLD', 'Unité de soins de longue durée'],
    ['EHPAD', 'Établissement d’hébergement pour personnes âgées dépendantes'],
    ['ACT', 'Appartements de coordination thérapeutique'],
    ['LHSS', 'Lits halte soins santé'],
    ['SSIAD', 'Service de soins infirmiers à domicile'],
  ],
};

/** The ROR's fields of activity (TRE_R227 ChampActivite, JDV_J20 in the ROR guide): a unit's `HealthcareService.type`. */
export const FIELD_OF_ACTIVITY_SYSTEM = 'https://mos.esante.gouv.fr/NOS/TRE_R227-ChampActivite/FHIR/TRE-R227-ChampActivite';

/**
 * The fields of activity of the units that take each care wanted: 01 MCO,
 * 02 SMR, 03 psychiatry, 04 medico-social, 05 ambulatory (ville), 06 social.
 * HAD is a mode of care of MCO or SMR units; palliative care units (USP) are
 * MCO; long-stay units (USLD) are hospital units (MCO) that some regions
 * list as medico-social; LHSS and ACT are medico-social or social.
 */
export const CARE_FIELDS: Readonly<Record<string, readonly string[]>> = {
  SMR: ['02'],
  HAD: ['01', '02'],
  USP: ['01'],
  USLD: ['01', '04'],
  EHPAD: ['04'],
  ACT: ['04', '06'],
  LHSS: ['04', '06'],
  SSIAD: ['04'],
};

/**
 * Why a unit whose `type` tokens are `typeTokens` (system|code) cannot take
 * the care wanted, or undefined when it can, or declares no field of activity
 * (the ROR's `type` is optional: such a unit is not judged).
 */
export function careFieldProblem(care: readonly string[], typeTokens: readonly string[]): string | undefined {
  const prefix = `${FIELD_OF_ACTIVITY_SYSTEM}|`;
  const fields = typeTokens.filter((t) => t.startsWith(prefix)).map((t) => t.slice(prefix.length));
  if (fields.length === 0) return undefined;
  const refused = care.filter((c) => !(CARE_FIELDS[c] ?? []).some((f) => fields.includes(f)));
  if (refused.length === 0) return undefined;
  return `its field of activity (TRE_R227 ${fields.join(', ')}) does not take ${refused.map((c) => `${c} (fields ${(CARE_FIELDS[c] ?? []).join(', ')})`).join(', ')}`;
}

/** Every answer list of the forms, CARE_WANTED first. */
export const ANSWER_LISTS: readonly AnswerList[] = [
  CARE_WANTED,
  {
    id: 'technical-care',
    title: 'Soins techniques',
    description: 'Technical care the patient needs (medical volet).',
    codes: [
      ['oxygen', 'Oxygénothérapie'],
      ['complex-dressing', 'Pansements complexes'],
      ['enteral-nutrition', 'Nutrition entérale'],
      ['parenteral-nutrition', 'Nutrition parentérale'],
      ['tracheostomy', 'Trachéotomie'],
      ['ventilation', 'Ventilation'],
      ['dialysis', 'Dialyse'],
      ['chemotherapy', 'Chimiothérapie'],
      ['transfusion', 'Transfusion'],
      ['pain-pump', 'Pompe antalgique (PCA)'],
    ],
  },
  {
    id: 'smr-mention',
    title: 'Mentions SMR',
    description: 'The SMR specialty asked for (the 2022 reform’s mentions).',
    codes: [
      ['polyvalent', 'Polyvalent'],
      ['locomotor', 'Locomoteur'],
      ['nervous-system', 'Système nerveux'],
      ['cardiovascular', 'Cardio-vasculaire'],
      ['respiratory', 'Pneumologie'],
      ['digestive', 'Système digestif, endocrinologie, diabétologie, nutrition'],
      ['burns', 'Brûlés'],
      ['geriatrics', 'Gériatrie'],
      ['oncology', 'Oncologie'],
      ['paediatrics', 'Pédiatrie'],
      ['addiction', 'Conduites addictives'],
    ],
  },
  {
    id: 'had-mode',
    title: 'Modes de prise en charge HAD',
    description: 'The main mode of care at home asked for (HAD block).',
    codes: [
      ['palliative', 'Soins palliatifs'],
      ['complex-dressing', 'Pansements complexes et soins spécifiques'],
      ['intravenous', 'Traitement intraveineux'],
      ['nutrition', 'Nutrition entérale ou parentérale'],
      ['respiratory', 'Assistance respiratoire'],
      ['chemotherapy', 'Chimiothérapie anticancéreuse'],
      ['nursing', 'Soins de nursing lourds'],
      ['rehabilitation', 'Rééducation orthopédique ou neurologique'],
      ['postnatal', 'Post-partum pathologique'],
      ['other', 'Autre'],
    ],
  },
  {
    id: 'palliative-phase',
    title: 'Phases palliatives',
    description: 'Where the patient stands in palliative care (USP block).',
    codes: [
      ['stable', 'Stable'],
      ['unstable', 'Instable'],
      ['deteriorating', 'En dégradation'],
      ['terminal', 'Terminale'],
    ],
  },
  {
    id: 'patient-informed',
    title: 'Information du patient',
    description: 'Whether the patient is told of the orientation asked (USP block).',
    codes: [
      ['yes', 'Oui'],
      ['partly', 'Partiellement'],
      ['no', 'Non'],
    ],
  },
  {
    id: 'aggir-gir',
    title: 'Groupes iso-ressources (AGGIR)',
    description: 'The autonomy group of the AGGIR grid (EHPAD and USLD block), 1 the least autonomous.',
    codes: [
      ['1', 'GIR 1'],
      ['2', 'GIR 2'],
      ['3', 'GIR 3'],
      ['4', 'GIR 4'],
      ['5', 'GIR 5'],
      ['6', 'GIR 6'],
    ],
  },
  {
    id: 'autonomy',
    title: 'Niveaux d’autonomie',
    description: 'How much help the patient needs for an activity (care and plan volet).',
    codes: [
      ['independent', 'Autonome'],
      ['partial-help', 'Aide partielle'],
      ['full-help', 'Aide totale'],
    ],
  },
  {
    id: 'living-situation',
    title: 'Modes de vie',
    description: 'Where and how the patient lives (administrative and social volet).',
    codes: [
      ['home-alone', 'À domicile, seul'],
      ['home-with-others', 'À domicile, entouré'],
      ['institution', 'En établissement'],
      ['homeless', 'Sans domicile'],
    ],
  },
  {
    id: 'legal-protection',
    title: 'Mesures de protection juridique',
    description: 'The patient’s legal protection measure (administrative and social volet).',
    codes: [
      ['none', 'Aucune'],
      ['tutelle', 'Tutelle'],
      ['curatelle', 'Curatelle'],
      ['sauvegarde', 'Sauvegarde de justice'],
      ['habilitation-familiale', 'Habilitation familiale'],
      ['mandat-protection-future', 'Mandat de protection future'],
    ],
  },
];

/** The URL of an answer list's code system. */
export const listSystem = (list: AnswerList | string): string => `${BASE}/CodeSystem/${typeof list === 'string' ? list : list.id}`;

function list(id: string): AnswerList {
  const found = ANSWER_LISTS.find((l) => l.id === id);
  if (!found) throw new Error(`no answer list ${id}`);
  return found;
}

/** A choice item over an answer list. */
function choice(linkId: string, text: string, listId: string, extra: Partial<QuestionnaireItem> = {}): QuestionnaireItem {
  const l = list(listId);
  return { linkId, text, type: 'choice', answerOption: l.codes.map(([code, display]) => ({ valueCoding: { system: listSystem(l), code, display } })), ...extra };
}

const required = { required: true } as const;
const when = (...codes: string[]): Partial<QuestionnaireItem> => ({
  enableWhen: codes.map((code) => ({ question: 'prise-en-charge', operator: '=' as const, answerCoding: { system: listSystem(CARE_WANTED), code } })),
  ...(codes.length > 1 ? { enableBehavior: 'any' as const } : {}),
});

function form(id: string, title: string, description: string, item: QuestionnaireItem[]): Questionnaire {
  return {
    resourceType: 'Questionnaire',
    id,
    url: `${BASE}/Questionnaire/${id}`,
    version: FORMS_VERSION,
    name: title.replace(/[^A-Za-z]/g, ''),
    title,
    status: 'active',
    subjectType: ['Patient'],
    publisher: 'aiguillage',
    description,
    item,
  };
}

/** The three volets, by the `Volet` names of mappings/referral.ts. */
export const FORMS = {
  medical: form('volet-medical', 'Volet médical', 'The medical volet of an admission request, validated by a doctor; its blocks follow the care wanted.', [
    choice('prise-en-charge', 'Prise en charge demandée', 'care-wanted', required),
    { linkId: 'motif', text: 'Motif de la demande et objectifs de la prise en charge', type: 'text', ...required },
    { linkId: 'diagnostic', text: 'Diagnostic principal', type: 'string', ...required },
    { linkId: 'antecedents', text: 'Antécédents', type: 'text' },
    { linkId: 'traitements', text: 'Traitements en cours', type: 'text' },
    choice('soins-techniques', 'Soins techniques', 'technical-care', { repeats: true }),
    { linkId: 'isolement', text: 'Isolement (BMR, BHRe, autre)', type: 'boolean' },
    {
      linkId: 'bloc-smr',
      text: 'SMR',
      type: 'group',
      ...when('SMR'),
      item: [
        choice('smr-mention', 'Mention demandée', 'smr-mention', required),
        { linkId: 'smr-objectifs', text: 'Objectifs de rééducation et de réadaptation', type: 'text', ...required },
        { linkId: 'smr-date-souhaitee', text: 'Date d’admission souhaitée', type: 'date' },
      ],
    },
    {
      linkId: 'bloc-had',
      text: 'HAD',
      type: 'group',
      ...when('HAD'),
      item: [
        choice('had-mode', 'Mode de prise en charge principal', 'had-mode', required),
        { linkId: 'had-domicile-adapte', text: 'Le domicile permet la prise en charge', type: 'boolean', ...required },
        { linkId: 'had-medecin-traitant', text: 'Le médecin traitant accepte la prise en charge', type: 'boolean', ...required },
      ],
    },
    {
      linkId: 'bloc-usp',
      text: 'Soins palliatifs (USP)',
      type: 'group',
      ...when('USP'),
      item: [
        choice('usp-phase', 'Phase palliative', 'palliative-phase', required),
        { linkId: 'usp-pps', text: 'Score PPS (Palliative Performance Scale, 0 à 100)', type: 'integer' },
        choice('usp-information', 'Le patient est informé de l’orientation en soins palliatifs', 'patient-informed', required),
        { linkId: 'usp-directives-anticipees', text: 'Directives anticipées rédigées', type: 'boolean', ...required },
        { linkId: 'usp-symptomes', text: 'Symptômes à contrôler (douleur, dyspnée, angoisse…)', type: 'text', ...required },
        { linkId: 'usp-souhait-lieu', text: 'Souhait du patient quant au lieu de fin de vie', type: 'string' },
      ],
    },
    {
      linkId: 'bloc-grand-age',
      text: 'EHPAD, USLD : évaluation de l’autonomie',
      type: 'group',
      ...when('EHPAD', 'USLD'),
      item: [
        choice('gir', 'GIR (grille AGGIR)', 'aggir-gir', required),
        { linkId: 'gir-date', text: 'Date de l’évaluation AGGIR', type: 'date', ...required },
        { linkId: 'troubles-cognitifs', text: 'Troubles cognitifs', type: 'boolean', ...required },
        { linkId: 'troubles-comportement', text: 'Troubles du comportement (déambulation, agitation…)', type: 'boolean' },
      ],
    },
    {
      linkId: 'bloc-act',
      text: 'ACT',
      type: 'group',
      ...when('ACT'),
      item: [{ linkId: 'act-pathologie', text: 'Pathologie chronique justifiant la coordination thérapeutique', type: 'string', ...required }],
    },
  ]),
  care: form('volet-soins', 'Volet soins et projet', 'The care and plan volet: autonomy and the plan of care and life.', [
    choice('autonomie-deplacements', 'Déplacements', 'autonomy', required),
    choice('autonomie-toilette', 'Toilette et habillage', 'autonomy', required),
    choice('autonomie-alimentation', 'Alimentation', 'autonomy', required),
    { linkId: 'continence', text: 'Continence', type: 'boolean' },
    { linkId: 'soins-infirmiers', text: 'Soins infirmiers', type: 'text' },
    { linkId: 'projet', text: 'Projet de soins et de vie', type: 'text' },
  ]),
  administrative: form('volet-administratif', 'Volet administratif et social', 'The administrative and social volet, completed by the administrative and social manager.', [
    choice('mode-de-vie', 'Mode de vie', 'living-situation', required),
    choice('protection-juridique', 'Mesure de protection juridique', 'legal-protection', required),
    { linkId: 'couverture-sociale', text: 'Régime d’assurance maladie', type: 'string', ...required },
    { linkId: 'complementaire', text: 'Complémentaire santé', type: 'boolean' },
    { linkId: 'aides-en-place', text: 'Aides en place (SSIAD, aide à domicile, portage des repas…)', type: 'text' },
    { linkId: 'entourage', text: 'Entourage et aidants', type: 'text' },
  ]),
} as const satisfies Record<string, Questionnaire>;

/** The gateway's form at a canonical URL (a `|version` suffix ignored), if it is one. */
export function formAt(canonical: string | undefined): Questionnaire | undefined {
  const url = (canonical ?? '').split('|')[0];
  return Object.values(FORMS).find((f) => f.url === url);
}

/** The care wanted a medical volet names (its `prise-en-charge` answer), if any. */
export function careWantedOf(items: readonly { linkId: string; answer?: { valueCoding?: Coding }[]; item?: unknown[] }[] | undefined): string | undefined {
  const found = (items ?? []).find((i) => i.linkId === 'prise-en-charge')?.answer?.[0]?.valueCoding;
  return found?.system === listSystem(CARE_WANTED) ? found.code : undefined;
}

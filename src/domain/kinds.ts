/**
 * The resource types the gateway stores, each described once: its domain
 * table, the pure mapping to that table's columns, its search parameters,
 * its `_include`s and its access rule. The FHIR layer, the SQL builder, the
 * access layer and the CapabilityStatement all read these descriptions, so a
 * later resource type is added by writing one more.
 */
import type { Resource, ResourceType } from '@medplum/fhirtypes';
import { communicationRow, questionnaireResponseRow, serviceRequestRow, subscriptionRow, taskRow } from '../../mappings/referral.js';
import { healthcareServiceRow, locationRow, organizationRow, patientRow, type Row } from '../../mappings/resource-rows.js';
import { afterMessage, afterServiceRequest, afterTask, onTaskRead, prepareMessage, prepareServiceRequest, prepareTask, prepareVolet } from './referrals.js';
import { prepareSubscription } from './subscriptions.js';
import type { Queryable } from '../store/db.js';
import { sql, type SqlFragment } from '../store/sql.js';
import type { CallContext } from './resources.js';
import type { Role } from './principal.js';

/** How a search parameter is evaluated against the domain table (alias `t`). */
export type ParamKind =
  | { kind: 'id' }
  | { kind: 'last-updated' }
  /** A date column that falls between today and N days ahead. */
  | { kind: 'days-ahead'; column: string }
  /** A date column's colour code (VALIDITY_ALERTS: expired, red, orange, green) as of today. */
  | { kind: 'validity-alert'; column: string }
  /** An instant column; `:missing=true` finds rows without one. */
  | { kind: 'instant'; column: string }
  | { kind: 'identifier' }
  /**
   * Accent/case-insensitive match on a normalised column: starts-with (FHIR's
   * default) or, for the directory's names, contains; `:contains` and
   * `:exact` (when `exactColumn` is set) as modifiers.
   */
  | { kind: 'string'; column: string; exactColumn?: string; match?: 'prefix' | 'contains' }
  /** Same, over a `text[]` column of normalised values. */
  | { kind: 'string-array'; column: string }
  | { kind: 'code'; column: string }
  /** Tokens in a `text[]` column holding `system|code` and `code` (see mappings/ror.ts codeTokens). */
  | { kind: 'token-array'; column: string }
  /** A quantity compared on a numeric column, converted to the column's unit (ages in years). */
  | { kind: 'quantity'; column: string; unit: 'years' }
  /** `near=latitude|longitude|distance|unit` on two coordinate columns. */
  | { kind: 'near'; latitude: string; longitude: string }
  | { kind: 'boolean'; column: string }
  /** A date range stored as two inclusive `date` columns. */
  | { kind: 'date-range'; low: string; high: string }
  | { kind: 'reference'; column: string; target: ResourceType }
  | { kind: 'reference-array'; column: string; target: ResourceType };

/** A search parameter as declared in the CapabilityStatement. */
export type SearchParamDef = ParamKind & {
  code: string;
  type: 'token' | 'string' | 'date' | 'reference' | 'quantity' | 'special';
  definition?: string;
  documentation: string;
  /** SQL expression on `t` to order by, when `_sort` may use this parameter. */
  sort?: string;
};

/** An `_include` the type supports (`Type:param`), read from a domain column. */
export interface IncludeDef {
  param: string;
  target: ResourceType;
  column: string;
  array: boolean;
}

/** Who may read and write a resource type. */
export interface AccessRule {
  /** `public`: anyone, even without a token. */
  read: 'public' | readonly Role[];
  write: readonly Role[];
  /**
   * Column holding the organization that owns a row: other organizations
   * cannot see it (and are told it does not exist); `admin` sees all.
   */
  ownerColumn?: string;
  /**
   * Rows visible to an organization for other reasons (it is party to
   * them): SQL on `t`, given the caller's canonical organization key.
   */
  visibleTo?: (key: string) => SqlFragment;
  /**
   * Whether the parties of `visibleTo` may also write (their kind's rules
   * then say which side may change what). When false, only the owner writes:
   * a unit reads the patient of a request, it does not edit it.
   */
  partiesWrite?: boolean;
}

/** A write as a kind's rules see it: within its transaction, before or after the store. */
export interface WriteEvent {
  ctx: CallContext;
  q: Queryable;
  id: string;
  /** The resource as sent (`prepare`), or as stored (`after`). */
  resource: Resource;
  /** The current version, on an update. */
  previous?: { version: number; content: Resource };
}

/** What a kind's rules store for a write: the resource, and domain columns of their own. */
export interface Prepared {
  resource: Resource;
  row?: Row;
}

/** The domain rules of a kind beyond its access rule: state machines, cascades, deadlines. */
export interface KindRules {
  /** Checks the write (throwing an OperationOutcome to refuse it) and returns what to store, with domain columns of its own. */
  prepare?(event: WriteEvent): Promise<Prepared>;
  /** Follows up a stored write in the same transaction (other resources, jobs). */
  after?(event: WriteEvent): Promise<void>;
  /** Row locks to take before the resource's own, so that every writer locks in one order (e.g. a task's request first). */
  lockFirst?(q: Queryable, id: string): Promise<void>;
  /** What a read by id returns (it may move the resource, e.g. a unit's first read of a task). */
  onRead?(ctx: CallContext, resource: Resource): Promise<Resource>;
}

/** A resource type the gateway stores. */
export interface ResourceKind<T extends Resource = Resource> {
  /** Domain rules run on every write (absent: the generic store alone). */
  rules?: KindRules;
  /** Named operations on an instance (`POST Type/{id}/$name`), for the CapabilityStatement. */
  operations?: readonly { name: string; documentation: string }[];
  type: T['resourceType'];
  table: string;
  /** Pure mapping of the resource to its table's domain columns. */
  toRow(resource: T): Row;
  /** Gateway profiles every resource of this type is validated against (canonical URLs). */
  profiles: readonly string[];
  searchParams: readonly SearchParamDef[];
  includes: readonly IncludeDef[];
  access: AccessRule;
  /**
   * Whether a client may choose the id (update as create, `PUT Type/id` of a
   * new id): true for the directory, which the ROR pushes with its own ids;
   * false for patient data, whose ids the gateway assigns.
   */
  clientIds: boolean;
  /**
   * Directory pushes: resources carrying a national key (kept in the
   * `national_keys` column) are upserted on it, and a push whose
   * `meta.lastUpdated` is not newer than the stored one (`source_updated_at`)
   * is ignored and reported.
   */
  upsertOnNationalKeys?: boolean;
}

const FHIR_SP = 'http://hl7.org/fhir/SearchParameter/';

const COMMON_PARAMS: readonly SearchParamDef[] = [
  { code: '_id', type: 'token', kind: 'id', definition: `${FHIR_SP}Resource-id`, documentation: 'Logical id (comma-separated: any of)', sort: 't.id' },
  { code: '_lastUpdated', type: 'date', kind: 'last-updated', definition: `${FHIR_SP}Resource-lastUpdated`, documentation: 'When the resource last changed (eq, ne, gt, lt, ge, le, sa, eb)', sort: 't.last_updated' },
  { code: 'identifier', type: 'token', kind: 'identifier', documentation: 'Business identifier: system|value, value, |value or system| (FINESS http/https both accepted)' },
];

const NAME_PARAM = (what: string): SearchParamDef => ({
  code: 'name',
  type: 'string',
  kind: 'string',
  column: 'name_sort',
  exactColumn: 'name',
  match: 'contains',
  documentation: `${what} name: accent- and case-insensitive, contains (as the ROR server); :exact for the exact name`,
  sort: "coalesce(t.name_sort, '')",
});

const ROR_SP = 'https://interop.esante.gouv.fr/ig/fhir/ror/SearchParameter/';

const token = (code: string, column: string, documentation: string, definition?: string): SearchParamDef => ({
  code,
  type: 'token',
  kind: 'token-array',
  column,
  documentation,
  ...(definition ? { definition } : {}),
});

const TAG_PARAM = token('_tag', 'tags', 'A tag of meta.tag, e.g. the ROR region (TRE_R30) code', `${FHIR_SP}Resource-tag`);

const ACTIVE_PARAM: SearchParamDef = { code: 'active', type: 'token', kind: 'boolean', column: 'active', documentation: 'true or false' };

const DIRECTORY_ACCESS: AccessRule = { read: 'public', write: ['ror', 'admin'] };

/** Clinical roles that handle patient identities. */
const PATIENT_ROLES: readonly Role[] = ['prescriber', 'care-team', 'admin-social', 'receiver', 'mdph', 'esms', 'admin'];
/** …and those that record or change them: admin-social "may write only the administrative volet" (DESIGN). */
const PATIENT_WRITE_ROLES: readonly Role[] = PATIENT_ROLES.filter((role) => role !== 'admin-social');

/** Roles that take part in admission requests. */
const REFERRAL_ROLES: readonly Role[] = ['prescriber', 'care-team', 'admin-social', 'receiver', 'admin'];
/** …and in orientation decisions, which share ServiceRequest and Task. */
const REQUEST_ROLES: readonly Role[] = [...REFERRAL_ROLES, 'mdph', 'esms'];

/** The resource types of the gateway, by type. */
export const KINDS = {
  Patient: {
    type: 'Patient',
    table: 'patient',
    toRow: patientRow,
    profiles: ['https://aiguillage.org/fhir/StructureDefinition/aiguillage-patient'],
    searchParams: [
      ...COMMON_PARAMS,
      { code: 'family', type: 'string', kind: 'string-array', column: 'family', documentation: 'Family name, accent/case-insensitive starts-with; :contains', sort: "coalesce(t.name_sort, '')" },
      { code: 'given', type: 'string', kind: 'string-array', column: 'given', documentation: 'Given name, accent/case-insensitive starts-with; :contains' },
      { code: 'name', type: 'string', kind: 'string-array', column: 'name_words', documentation: 'Any part of the name; :contains', sort: "coalesce(t.name_sort, '')" },
      { code: 'birthdate', type: 'date', kind: 'date-range', low: 'birth_date_low', high: 'birth_date_high', documentation: 'Birth date (eq, ne, gt, lt, ge, le, sa, eb, ap)', sort: "coalesce(t.birth_date_low, '-infinity'::date)" },
      { code: 'gender', type: 'token', kind: 'code', column: 'gender', documentation: 'male | female | other | unknown' },
      ACTIVE_PARAM,
    ],
    includes: [],
    access: {
      read: PATIENT_ROLES,
      write: PATIENT_WRITE_ROLES,
      ownerColumn: 'owner_org',
      // and the parties of a request about the patient
      visibleTo: (key) => sql`EXISTS (SELECT 1 FROM task x WHERE x.patient_id = t.id AND (x.owner_keys @> ARRAY[${key}]::text[] OR x.requester_keys @> ARRAY[${key}]::text[]))`,
    },
    clientIds: false,
  } satisfies ResourceKind<import('@medplum/fhirtypes').Patient>,
  Organization: {
    type: 'Organization',
    table: 'organization',
    toRow: organizationRow,
    profiles: [],
    searchParams: [
      ...COMMON_PARAMS,
      NAME_PARAM('Organization'),
      ACTIVE_PARAM,
      { code: 'partof', type: 'reference', kind: 'reference', column: 'part_of', target: 'Organization', documentation: 'The legal entity (EJ) a site (EG) belongs to' },
      token('type', 'type_codes', 'Organization type, e.g. establishment category (TRE_R66)', `${FHIR_SP}Organization-type`),
      { code: 'address-postalcode', type: 'string', kind: 'string-array', column: 'postal_codes', documentation: 'Postal code of an address, starts-with', definition: `${FHIR_SP}Organization-address-postalcode` },
      TAG_PARAM,
    ],
    includes: [{ param: 'partof', target: 'Organization', column: 'part_of', array: false }],
    access: DIRECTORY_ACCESS,
    clientIds: true,
    upsertOnNationalKeys: true,
  } satisfies ResourceKind<import('@medplum/fhirtypes').Organization>,
  HealthcareService: {
    type: 'HealthcareService',
    table: 'healthcare_service',
    toRow: healthcareServiceRow,
    profiles: [],
    searchParams: [
      ...COMMON_PARAMS,
      NAME_PARAM('Unit'),
      ACTIVE_PARAM,
      { code: 'organization', type: 'reference', kind: 'reference', column: 'organization_id', target: 'Organization', documentation: 'The organization providing the service' },
      { code: 'location', type: 'reference', kind: 'reference-array', column: 'location_ids', target: 'Location', documentation: 'A place where the service is provided' },
      token('service-category', 'category_codes', 'Category of the offer (TRE_R244 CategorieOrganisation)', `${FHIR_SP}HealthcareService-service-category`),
      token('service-type', 'type_codes', 'Field of activity (TRE_R227 ChampActivite)', `${FHIR_SP}HealthcareService-service-type`),
      token('specialty', 'specialty_codes', 'Operational activity (TRE_R211 ActiviteOperationnelle)', `${FHIR_SP}HealthcareService-specialty`),
      token('characteristic', 'characteristic_codes', 'Characteristics, e.g. mode of care (TRE_R213)', `${FHIR_SP}HealthcareService-characteristic`),
      {
        code: 'age-range-low',
        type: 'quantity',
        kind: 'quantity',
        column: 'age_low',
        unit: 'years',
        definition: `${ROR_SP}ror-sp-healthcareservice-age-range-low`,
        documentation: 'Lowest age of the public taken, in years (units a, mo, wk, d accepted). A patient aged N: age-range-low=leN&age-range-high=geN',
      },
      {
        code: 'age-range-high',
        type: 'quantity',
        kind: 'quantity',
        column: 'age_high',
        unit: 'years',
        definition: `${ROR_SP}ror-sp-healthcareservice-age-range-high`,
        documentation: 'Highest age of the public taken, in years',
      },
      TAG_PARAM,
    ],
    includes: [
      { param: 'organization', target: 'Organization', column: 'organization_id', array: false },
      { param: 'location', target: 'Location', column: 'location_ids', array: true },
    ],
    access: DIRECTORY_ACCESS,
    clientIds: true,
    upsertOnNationalKeys: true,
  } satisfies ResourceKind<import('@medplum/fhirtypes').HealthcareService>,
  Location: {
    type: 'Location',
    table: 'location',
    toRow: locationRow,
    profiles: [],
    searchParams: [
      ...COMMON_PARAMS,
      NAME_PARAM('Location'),
      { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'active | suspended | inactive' },
      { code: 'organization', type: 'reference', kind: 'reference', column: 'organization_id', target: 'Organization', documentation: 'The organization managing the place' },
      {
        code: 'near',
        type: 'special',
        kind: 'near',
        latitude: 'latitude',
        longitude: 'longitude',
        definition: `${FHIR_SP}Location-near`,
        documentation: 'latitude|longitude|distance|unit (km, m or [mi_i]; 50 km when no distance): places within that great-circle distance',
      },
      { code: 'address-postalcode', type: 'string', kind: 'string', column: 'postal_code', documentation: 'Postal code, starts-with', definition: `${FHIR_SP}Location-address-postalcode` },
      { code: 'address-city', type: 'string', kind: 'string', column: 'city', documentation: 'City, accent- and case-insensitive starts-with', definition: `${FHIR_SP}Location-address-city` },
      { code: 'commune-cog', type: 'token', kind: 'code', column: 'commune_cog', documentation: 'Official geographic code (COG, TRE_R13) of the commune', definition: `${ROR_SP}ror-sp-location-commune-cog` },
      token('type', 'type_codes', 'Function of the place (TRE_R343 FonctionLieu)', `${FHIR_SP}Location-type`),
      TAG_PARAM,
    ],
    includes: [{ param: 'organization', target: 'Organization', column: 'organization_id', array: false }],
    access: DIRECTORY_ACCESS,
    clientIds: true,
    upsertOnNationalKeys: true,
  } satisfies ResourceKind<import('@medplum/fhirtypes').Location>,
  ServiceRequest: {
    type: 'ServiceRequest',
    table: 'referral',
    toRow: serviceRequestRow,
    profiles: [],
    searchParams: [
      ...COMMON_PARAMS,
      { code: 'patient', type: 'reference', kind: 'reference', column: 'patient_id', target: 'Patient', documentation: 'The patient of the request' },
      { code: 'subject', type: 'reference', kind: 'reference', column: 'patient_id', target: 'Patient', documentation: 'Same as patient' },
      { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'draft | active | revoked | completed' },
      { code: 'performer', type: 'reference', kind: 'reference-array', column: 'performer_ids', target: 'HealthcareService', documentation: 'A candidate unit' },
      token('requester', 'requester_keys', 'The prescriber’s organization: Organization/id or its identifier system|value'),
      token('category', 'category_codes', 'The care wanted (SMR, HAD, USP, EHPAD…), or https://aiguillage.org/fhir/CodeSystem/request-kind|orientation-decision'),
      { code: 'validity-end', type: 'date', kind: 'date-range', low: 'validity_end', high: 'validity_end', documentation: 'Orientation decisions: end of validity (eq, lt, le, gt, ge…)', sort: "coalesce(t.validity_end, 'infinity'::date)" },
      { code: 'expiring-within', type: 'special', kind: 'days-ahead', column: 'validity_end', documentation: 'Orientation decisions whose validity ends within N days from today (e.g. 30, 90)' },
      { code: 'validity-alert', type: 'token', kind: 'validity-alert', column: 'validity_end', documentation: 'Orientation decisions by the colour of their end of validity: expired, red (30 days or less), orange (31 to 90), green (beyond)' },
      { code: 'department', type: 'token', kind: 'code', column: 'department', documentation: 'Orientation decisions: the MDPH’s department' },
    ],
    includes: [
      { param: 'patient', target: 'Patient', column: 'patient_id', array: false },
      { param: 'performer', target: 'HealthcareService', column: 'performer_ids', array: true },
    ],
    access: {
      read: REQUEST_ROLES,
      write: ['prescriber', 'care-team', 'admin'],
      visibleTo: (key) =>
        sql`(t.requester_keys @> ARRAY[${key}]::text[] OR EXISTS (SELECT 1 FROM task x WHERE x.referral_id = t.id AND x.owner_keys @> ARRAY[${key}]::text[]))`,
      partiesWrite: true,
    },
    clientIds: false,
    rules: { prepare: (e) => prepareServiceRequest(e), after: (e) => afterServiceRequest(e) },
    operations: [
      { name: 'reactivate', documentation: 'Prescriber: undo a cancellation before archiving; each task gets back the state it had' },
      { name: 'copy', documentation: 'Prescriber: a new request for the same patient to the units given as performer parameters, with a copy of the administrative volet' },
    ],
  } satisfies ResourceKind<import('@medplum/fhirtypes').ServiceRequest>,
  Task: {
    type: 'Task',
    table: 'task',
    toRow: taskRow,
    profiles: [],
    searchParams: [
      ...COMMON_PARAMS,
      { code: 'focus', type: 'reference', kind: 'reference', column: 'referral_id', target: 'ServiceRequest', documentation: 'The request (ServiceRequest) of the task' },
      { code: 'patient', type: 'reference', kind: 'reference', column: 'patient_id', target: 'Patient', documentation: 'The patient' },
      token('owner', 'owner_keys', 'The unit: HealthcareService/id, its Organization/id, or an identifier system|value of either'),
      token('requester', 'requester_keys', 'The prescriber’s organization: Organization/id or its identifier system|value'),
      { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'requested | received | accepted | in-progress | completed | rejected | cancelled' },
      token('business-status', 'business_status_tokens', 'https://aiguillage.org/fhir/CodeSystem/referral-status code: sent, read, agreed-in-principle, accepted, confirmed, admitted, refused, cancelled'),
      { ...TAG_PARAM, documentation: 'A tag, e.g. https://aiguillage.org/fhir/CodeSystem/referral-flag|archived' },
      { code: 'expiring-within', type: 'special', kind: 'days-ahead', column: 'validity_end', documentation: 'Tasks of orientation decisions whose validity ends within N days from today' },
      { code: 'validity-alert', type: 'token', kind: 'validity-alert', column: 'validity_end', documentation: 'Tasks of orientation decisions by the colour of their end of validity: expired, red (30 days or less), orange (31 to 90), green (beyond)' },
    ],
    includes: [
      { param: 'focus', target: 'ServiceRequest', column: 'referral_id', array: false },
      { param: 'patient', target: 'Patient', column: 'patient_id', array: false },
      { param: 'owner', target: 'HealthcareService', column: 'owner_service_id', array: false },
    ],
    access: {
      read: REQUEST_ROLES,
      write: ['prescriber', 'receiver', 'esms', 'mdph', 'admin'],
      visibleTo: (key) => sql`(t.owner_keys @> ARRAY[${key}]::text[] OR t.requester_keys @> ARRAY[${key}]::text[])`,
      partiesWrite: true,
    },
    clientIds: false,
    rules: {
      prepare: (e) => prepareTask(e),
      after: (e) => afterTask(e),
      onRead: (ctx, r) => onTaskRead(ctx, r),
      // A task's request is locked before the task: cascades and deadlines lock the request first too.
      lockFirst: async (q, id) => {
        await q.query(`SELECT 1 FROM referral WHERE id = (SELECT referral_id FROM task WHERE id = $1) FOR UPDATE`, [id], 'lock-task-request');
      },
    },
    operations: [{ name: 'remind', documentation: 'Manual reminder (relance) to the other side, 72 h after an agreement in principle (prescriber) or a proposed date (unit); optional message parameter' }],
  } satisfies ResourceKind<import('@medplum/fhirtypes').Task>,
  QuestionnaireResponse: {
    type: 'QuestionnaireResponse',
    table: 'volet',
    toRow: questionnaireResponseRow,
    profiles: [],
    searchParams: [
      ...COMMON_PARAMS,
      { code: 'patient', type: 'reference', kind: 'reference', column: 'patient_id', target: 'Patient', documentation: 'The patient' },
      { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'in-progress | completed | amended | entered-in-error | stopped' },
    ],
    includes: [],
    access: {
      read: REFERRAL_ROLES,
      write: ['prescriber', 'care-team', 'admin-social', 'admin'],
      visibleTo: (key) =>
        sql`(t.author_keys @> ARRAY[${key}]::text[] OR EXISTS (SELECT 1 FROM referral r JOIN task x ON x.referral_id = r.id WHERE r.module = 'referral' AND r.volet_ids @> ARRAY[t.id] AND (x.owner_keys @> ARRAY[${key}]::text[] OR r.requester_keys @> ARRAY[${key}]::text[])))`,
      partiesWrite: true,
    },
    clientIds: false,
    rules: { prepare: (e) => prepareVolet(e) },
  } satisfies ResourceKind<import('@medplum/fhirtypes').QuestionnaireResponse>,
  Communication: {
    type: 'Communication',
    table: 'message',
    toRow: communicationRow,
    profiles: [],
    searchParams: [
      ...COMMON_PARAMS,
      { code: 'part-of', type: 'reference', kind: 'reference', column: 'task_id', target: 'Task', documentation: 'The task the message is about' },
      token('sender', 'sender_keys', 'The sending side: Organization/id, HealthcareService/id or an identifier system|value'),
      token('recipient', 'recipient_keys', 'The receiving side: Organization/id, HealthcareService/id or an identifier system|value'),
      { code: 'received', type: 'date', kind: 'instant', column: 'received', documentation: 'When the recipient read it; received:missing=true for unread messages' },
      token('category', 'category_codes', 'e.g. https://aiguillage.org/fhir/CodeSystem/message-category|reminder'),
    ],
    includes: [{ param: 'part-of', target: 'Task', column: 'task_id', array: false }],
    access: {
      read: ['prescriber', 'care-team', 'receiver', 'admin'],
      write: ['prescriber', 'care-team', 'receiver', 'admin'],
      visibleTo: (key) => sql`(t.sender_keys @> ARRAY[${key}]::text[] OR t.recipient_keys @> ARRAY[${key}]::text[])`,
      partiesWrite: true,
    },
    clientIds: false,
    rules: { prepare: (e) => prepareMessage(e), after: (e) => afterMessage(e) },
  } satisfies ResourceKind<import('@medplum/fhirtypes').Communication>,
  Subscription: {
    type: 'Subscription',
    table: 'subscription',
    toRow: subscriptionRow,
    profiles: [],
    searchParams: [...COMMON_PARAMS.filter((p) => p.code !== 'identifier'), { code: 'status', type: 'token', kind: 'code', column: 'status', documentation: 'requested | active | error | off' }],
    includes: [],
    access: { read: REFERRAL_ROLES, write: REFERRAL_ROLES, ownerColumn: 'owner_org' },
    clientIds: false,
    rules: { prepare: (e) => prepareSubscription(e) },
  } satisfies ResourceKind<import('@medplum/fhirtypes').Subscription>,
} as const;

/** A supported resource type name. */
export type KindName = keyof typeof KINDS;

/** The description of a supported resource type, or undefined. */
export function kindOf(type: string): ResourceKind | undefined {
  return Object.hasOwn(KINDS, type) ? (KINDS[type as KindName] as unknown as ResourceKind) : undefined;
}

/** Every supported resource type, in CapabilityStatement order. */
export function allKinds(): ResourceKind[] {
  return Object.values(KINDS) as unknown as ResourceKind[];
}

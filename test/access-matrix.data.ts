/**
 * The access matrix, as data: what each caller must be answered, written by
 * hand from DESIGN.md ("Identity, access, audit", "Admission requests",
 * "Orientation decisions") and, where DESIGN.md names no role, from the
 * roles the gateway declares per resource type. Nothing here is computed by
 * the server's code; access-matrix.test.ts runs every cell against a real
 * gateway and compares.
 *
 * Each row gives, per caller, two answers: `own/other`. The caller is always
 * the organization on side 1 of the test world (hospital H1, unit U1, MDPH 13,
 * ESMS E1; `ror` holds H1's organization too, to show that the role, not the
 * organization, keeps it out of patient data; `admin` has no organization);
 * `own` is side 1's instance of the resource, `other` side 2's (hospital H2,
 * unit U2, MDPH 75, ESMS E2).
 *
 * Reading rule applied by the test to every READ row (DESIGN: "results are
 * always limited to what the caller may see"): a resource whose read answers
 * 200 appears in every search, `_include`, history and Bundle answer the
 * caller gets; a resource whose read answers 404 never appears (the search
 * itself answers 200); a type whose read answers 401/403 is searched with the
 * same 401/403. vread, instance history and Bundle GET entries answer as the
 * read does. Wherever the read is not 200, the answer must be the one a
 * random, missing id gets (same status, same OperationOutcome).
 */

/** The callers: the nine roles, and no token at all. */
/**
 * `portal` is a person-facing portal (Grand Âge); in the world its client
 * names the hospital of side 1, so that "own" is that hospital's requests
 * (SMR ones, which a portal does not ask for: 422 where it would write one).
 */
export const CALLERS = ['prescriber', 'care-team', 'admin-social', 'non-medical-manager', 'portal', 'receiver', 'mdph', 'esms', 'ror', 'territory', 'admin', 'anonymous'] as const;
export type Caller = (typeof CALLERS)[number];
export type Relation = 'own' | 'other';
export const RELATIONS: readonly Relation[] = ['own', 'other'];

/** One row: per caller, the expected answer for its own organization's resource and for another's. */
export type Row<T = number> = Record<Caller, Record<Relation, T>>;

/** Parses a row written as ten `own/other` pairs, in CALLERS order. */
function r(line: string): Row {
  const cells = line.trim().split(/\s+/);
  if (cells.length !== CALLERS.length) throw new Error(`row "${line}" has ${cells.length} cells, not ${CALLERS.length}`);
  return Object.fromEntries(
    CALLERS.map((caller, i) => {
      const [own, other] = cells[i].split('/').map(Number);
      if (!Number.isInteger(own) || !Number.isInteger(other)) throw new Error(`bad cell "${cells[i]}" in "${line}"`);
      return [caller, { own, other }];
    })
  ) as Row;
}

/** Same, with yes/no (`y`/`n`) or `-` (no such cell: the caller cannot subscribe). */
function yn(line: string): Row<boolean | undefined> {
  const cells = line.trim().split(/\s+/);
  if (cells.length !== CALLERS.length) throw new Error(`row "${line}" has ${cells.length} cells`);
  const value = (c: string): boolean | undefined => (c === 'y' ? true : c === 'n' ? false : undefined);
  return Object.fromEntries(CALLERS.map((caller, i) => [caller, { own: value(cells[i].split('/')[0]), other: value(cells[i].split('/')[1]) }])) as Row<boolean | undefined>;
}

/** The kinds of resource in the world, each with the FHIR type it is. */
export const VARIANTS = {
  // Admission requests (module Sanitaire): H1 sends to U1 (and to a third unit U3), H2 to U2.
  patient: 'Patient',
  request: 'ServiceRequest',
  'request-cancelled': 'ServiceRequest',
  /** The task of the caller-side unit (U1 / U2). */
  task: 'Task',
  /** The task of the same request owned by another unit (U3): the prescriber's, not U1's. */
  'task-sibling': 'Task',
  volet: 'QuestionnaireResponse',
  /** The patient's consent to the orientation, cited by the request. */
  consent: 'Consent',
  /** A document of the hospital's, cited by a request to the unit (its DocumentReference and its content). */
  document: 'DocumentReference',
  binary: 'Binary',
  message: 'Communication',
  subscription: 'Subscription',
  // Orientation decisions (module Handicap): MDPH 13 targets E1 (and E3), MDPH 75 targets E2 (and E3).
  person: 'Patient',
  decision: 'ServiceRequest',
  'decision-task': 'Task',
  /** The task of the same decision owned by another ESMS (E3). */
  'decision-task-sibling': 'Task',
  // The public directory (a sample).
  organization: 'Organization',
  service: 'HealthcareService',
  location: 'Location',
} as const;
export type Variant = keyof typeof VARIANTS;

/** Reads (and, by the rule above, searches, _include, history and Bundle GET entries). */
export const READ: Record<Variant, Row> = {
  //                           prescri care-te admin-s non-med portal  receive mdph    esms    ror     territo admin   anonymo
  patient:                 r(' 200/404 200/404 200/404 200/404 200/404 200/404 404/404 404/404 403/403 403/403 200/200 401/401'),
  request:                 r(' 200/404 200/404 200/404 200/404 200/404 200/404 404/404 404/404 403/403 403/403 200/200 401/401'),
  'request-cancelled':     r(' 200/404 200/404 200/404 200/404 200/404 200/404 404/404 404/404 403/403 403/403 200/200 401/401'),
  task:                    r(' 200/404 200/404 200/404 200/404 200/404 200/404 404/404 404/404 403/403 403/403 200/200 401/401'),
  'task-sibling':          r(' 200/404 200/404 200/404 200/404 200/404 404/404 404/404 404/404 403/403 403/403 200/200 401/401'),
  volet:                   r(' 200/404 200/404 200/404 200/404 200/404 200/404 403/403 403/403 403/403 403/403 200/200 401/401'),
  consent:                 r(' 200/404 200/404 200/404 200/404 200/404 200/404 404/404 404/404 403/403 403/403 200/200 401/401'),
  document:                r(' 200/404 200/404 200/404 200/404 200/404 200/404 404/404 404/404 403/403 403/403 200/200 401/401'),
  binary:                  r(' 200/404 200/404 200/404 200/404 200/404 200/404 404/404 404/404 403/403 403/403 200/200 401/401'),
  message:                 r(' 200/404 200/404 200/404 200/404 200/404 200/404 403/403 403/403 403/403 403/403 200/200 401/401'),
  subscription:            r(' 200/404 200/404 200/404 200/404 200/404 404/404 404/404 404/404 403/403 403/403 200/200 401/401'),
  person:                  r(' 404/404 404/404 404/404 404/404 404/404 404/404 200/404 200/404 403/403 403/403 200/200 401/401'),
  decision:                r(' 404/404 404/404 404/404 404/404 404/404 404/404 200/404 200/404 403/403 403/403 200/200 401/401'),
  'decision-task':         r(' 404/404 404/404 404/404 404/404 404/404 404/404 200/404 200/404 403/403 403/403 200/200 401/401'),
  'decision-task-sibling': r(' 404/404 404/404 404/404 404/404 404/404 404/404 200/404 404/404 403/403 403/403 200/200 401/401'),
  organization:            r(' 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200'),
  service:                 r(' 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200'),
  location:                r(' 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200'),
};

/**
 * Writes, operations and Bundle writes: `<variant> <interaction>` → answers.
 * The variant names the resource the request touches (the one updated, the
 * subject or task a new resource points at, the target of the operation).
 */
export const WRITE = {
  //                                            prescri care-te admin-s non-med portal  receive mdph    esms    ror     territo admin   anonymo
  // PUT of the stored content (a patient: with active = true). Seeds 001 and 004: the administrative and social manager and the
  // non-medical manager create the patient record and the request, send it and exchange messages; the volets each writes are in volet.ts.
  'patient update':                         r(' 200/404 200/404 200/404 200/404 200/404 403/404 404/404 404/404 403/403 403/403 200/200 401/401'),
  'person update':                          r(' 404/404 404/404 404/404 404/404 404/404 404/404 200/404 403/404 403/403 403/403 200/200 401/401'),
  // POST Patient, If-None-Exist: identifier = the instance's INS (the body a new patient): 200 returns it, 201 creates another.
  'patient conditional-create':             r(' 200/201 200/201 200/201 200/201 200/201 200/201 201/201 201/201 403/403 403/403 200/200 401/401'),
  // A draft request for the instance (as subject).
  'patient create-request':                 r(' 201/422 201/422 201/422 201/422 201/422 403/403 403/403 403/403 403/403 403/403 403/403 401/401'),
  // An administrative volet about the instance; a validated medical one.
  'patient create-volet':                   r(' 201/422 201/422 201/422 201/422 201/422 403/403 403/403 403/403 403/403 403/403 403/403 401/401'),
  'patient create-medical-volet':           r(' 201/422 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 401/401'),
  // A draft request for the caller's patient citing the instance (issue 13: only volets the caller's organization wrote may be cited).
  'volet cite':                             r(' 201/422 201/422 201/422 201/422 201/422 403/403 403/403 403/403 403/403 403/403 403/403 401/401'),
  // A draft request whose requester is the instance's hospital as an identifier (its FINESS): only the caller's own organization.
  'request identifier-requester':           r(' 201/422 201/422 201/422 201/422 201/422 403/403 403/403 403/403 403/403 403/403 403/403 401/401'),
  'request update':                         r(' 200/404 200/404 200/404 200/404 422/404 403/403 403/403 403/403 403/403 403/403 403/403 401/401'),
  'decision update':                        r(' 404/404 404/404 404/404 404/404 404/404 403/403 403/403 403/403 403/403 403/403 422/422 401/401'),
  // PUT with If-Match of the task as stored (its status kept): each side writes its own tasks.
  'task update':                            r(' 200/404 403/403 403/403 403/403 200/404 200/404 404/404 404/404 403/403 403/403 403/403 401/401'),
  'task-sibling update':                    r(' 200/404 403/403 403/403 403/403 200/404 404/404 404/404 404/404 403/403 403/403 403/403 401/401'),
  'decision-task update':                   r(' 404/404 403/403 403/403 403/403 404/404 404/404 200/404 200/404 403/403 403/403 403/403 401/401'),
  'decision-task-sibling update':           r(' 404/404 403/403 403/403 403/403 404/404 404/404 200/404 404/404 403/403 403/403 403/403 401/401'),
  // POST Task for the request: tasks are the gateway's (422 for whoever may write tasks at all).
  'request create-task':                    r(' 422/422 403/403 403/403 403/403 422/422 422/422 422/422 422/422 403/403 403/403 422/422 401/401'),
  // SDO push (POST Task, profile sdo-task) naming the decision by idNat_Decision.
  // A push is kept as sent (201, a Task of its own) and moves the decision's task; only ESMS software pushes (role esms).
  'decision sdo-push':                      r(' 403/403 403/403 403/403 403/403 403/403 403/403 403/403 201/404 403/403 403/403 403/403 401/401'),
  'volet update':                           r(' 200/404 200/404 200/404 200/404 200/404 403/403 403/403 403/403 403/403 403/403 200/200 401/401'),
  'volet update-medical':                   r(' 200/404 403/404 403/404 403/404 403/404 403/403 403/403 403/403 403/403 403/403 200/200 401/401'),
  // A message about the task; the recipient (only) marks one read.
  'task create-message':                    r(' 201/422 201/422 201/422 201/422 201/422 201/422 403/403 403/403 403/403 403/403 422/422 401/401'),
  'message update':                         r(' 403/404 403/404 403/404 403/404 403/404 200/404 403/403 403/403 403/403 403/403 403/403 401/401'),
  // Subscriptions: own = criteria on the caller's side, other = criteria naming side 2 (deliveries are filtered, not the subscription).
  'subscription create-task':               r(' 201/201 201/201 201/201 201/201 201/201 201/201 201/201 201/201 403/403 403/403 201/201 401/401'),
  // …on messages, which admin-social may not read.
  'subscription create-message':            r(' 201/201 201/201 201/201 201/201 201/201 201/201 403/403 403/403 403/403 403/403 201/201 401/401'),
  // A subscription is changed by the client that created it.
  'subscription update':                    r(' 200/404 403/404 403/404 403/404 403/404 404/404 404/404 404/404 403/403 403/403 403/403 401/401'),
  // Directory: pushed by the ROR (or admin), read by anyone.
  'organization update':                    r(' 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 200/200 403/403 200/200 401/401'),
  'organization create':                    r(' 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 201/201 403/403 201/201 401/401'),
  'service update':                         r(' 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 200/200 403/403 200/200 401/401'),
  'location update':                        r(' 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 200/200 403/403 200/200 401/401'),

  // Operations. $remind: the prescriber on an agreement in principle, the unit on an acceptance, 72 h on.
  'task $remind':                           r(' 409/404 403/404 403/404 403/404 409/404 201/404 404/404 404/404 403/403 403/403 403/403 401/401'),
  // portal: 409 on $remind and $reactivate: it may, but the prescriber's call just before changed the state.
  'task-sibling $remind':                   r(' 201/404 403/404 403/404 403/404 409/404 404/404 404/404 404/404 403/403 403/403 403/403 401/401'),
  'decision-task $remind':                  r(' 404/404 404/404 404/404 404/404 404/404 404/404 403/404 403/404 403/403 403/403 403/403 401/401'),
  'request-cancelled $reactivate':          r(' 200/404 403/404 403/404 403/404 409/404 403/404 404/404 404/404 403/403 403/403 403/403 401/401'),
  'request $copy':                          r(' 201/404 403/404 403/404 403/404 422/404 403/404 404/404 404/404 403/403 403/403 403/403 401/401'),
  // $claim by individual number + birth date: own = a decision that targets E1, other = one that does not (claimable by design).
  'person $claim':                          r(' 403/403 403/403 403/403 403/403 403/403 403/403 403/403 200/200 403/403 403/403 403/403 401/401'),
  // …with a wrong birth date: the same 404 as for a person that does not exist.
  'person $claim-wrong-pair':               r(' 403/403 403/403 403/403 403/403 403/403 403/403 403/403 404/404 403/403 403/403 403/403 401/401'),
  // $indicators?department=own|other; $import-decisions for the own or other department; the import's report.
  'decision $indicators':                   r(' 403/403 403/403 403/403 403/403 403/403 403/403 200/403 403/403 403/403 403/403 200/200 401/401'),
  'decision $import-decisions':             r(' 403/403 403/403 403/403 403/403 403/403 403/403 202/403 403/403 403/403 403/403 202/202 401/401'),
  'decision import-report':                 r(' 404/404 404/404 404/404 404/404 404/404 404/404 200/404 404/404 404/404 404/404 200/200 401/401'),
  // The status of an asynchronous Bundle (own: sent by the caller-side prescriber client).
  'bundle async-status':                    r(' 200/404 404/404 404/404 404/404 404/404 404/404 404/404 404/404 404/404 404/404 200/200 401/401'),

  // Bundles: an entry answers as the interaction alone (a transaction, as its failing entry).
  'patient batch-update':                   r(' 200/404 200/404 200/404 200/404 200/404 403/404 404/404 404/404 403/403 403/403 200/200 401/401'),
  'patient transaction-conditional-create': r(' 200/201 200/201 200/201 200/201 200/201 200/201 201/201 201/201 403/403 403/403 200/200 401/401'),
  'task transaction-create-message':        r(' 201/422 201/422 201/422 201/422 201/422 201/422 403/403 403/403 403/403 403/403 422/422 401/401'),
  // A conditional create whose criteria (_id, part-of) name an existing message: 200 returns it, so only to whom may read it.
  'message transaction-conditional-create': r(' 200/422 200/422 200/422 200/422 200/422 200/422 403/403 403/403 403/403 403/403 200/200 401/401'),

  // DELETE is not supported on any type: 405 whoever asks.
  'patient delete':                         r(' 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405'),
  'request delete':                         r(' 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405'),
  'task delete':                            r(' 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405'),
  'volet delete':                           r(' 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405'),
  'message delete':                         r(' 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405'),
  'subscription delete':                    r(' 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405'),
  'organization delete':                    r(' 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405 405/405'),
} as const;
export type WriteCell = keyof typeof WRITE;

/**
 * Another client of the caller's own organization (a second MDPH 13 client,
 * a second H1 prescriber client): an import's report is its MDPH's (every
 * client of the sending MDPH reads it, as decided on DESIGN question 2); an
 * asynchronous Bundle's status is its sender's; a subscription is read by its
 * organization but changed by its creator only.
 */
export const SAME_ORGANIZATION_OTHER_CLIENT = { 'import-report': 200, 'async-status': 404, 'subscription read': 200, 'subscription update': 403 } as const;

/**
 * A prescriber client of unit U1's organization (issue 13, "volet takeover"):
 * U1 receives H1's request, so its organization reads H1's volets (own); it
 * may neither cite them in a request of its own nor rewrite them. Side 2's
 * volets (other) it does not even see.
 */
export const UNIT_AS_PRESCRIBER = {
  'volet read': { own: 200, other: 404 },
  'volet cite': { own: 422, other: 422 },
  'volet rewrite': { own: 403, other: 404 },
} as const;

/**
 * Searches the gateway does not support: `_revinclude` and chained
 * parameters are refused (400) for whoever may search the type, after the
 * caller is known (401 without a token, 403 for a role that may not read the
 * type). With `Prefer: handling=lenient` they are ignored: a plain search.
 */
export const UNSUPPORTED_SEARCH_STATUS = 400;

/**
 * Dashboards (`GET /dashboard/tasks`, json/csv/xlsx): own = the caller's
 * dashboard (a unit's for `receiver`, the prescriber side's for the
 * hospital's roles), listing side 1's patients; other = the same asked for
 * side 2's request number or patient name, which lists nothing.
 */
export const DASHBOARD: Row = r(' 200/200 200/200 200/200 200/200 200/200 200/200 403/403 403/403 403/403 403/403 403/403 401/401');
/** …and each side's dashboard asked by the other side (a unit for `view=prescriber`, the hospital for `view=unit`). */
export const DASHBOARD_WRONG_VIEW: Row = r(' 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 401/401');

/**
 * Rest-hook notifications: whether a subscriber hears of a change on its own
 * side and on side 2; `-` where the caller cannot subscribe (its create is
 * refused in WRITE). A subscriber is told only of what it may read.
 */
export const NOTIFIED = {
  //                          prescri care-te admin-s non-med portal  receive mdph    esms    ror     territo admin   anonymo
  'task':           yn(' y/n     y/n     y/n     y/n     y/n     y/n     n/n     n/n     -/-     -/-     y/y     -/-'),
  'message':        yn(' y/n     y/n     y/n     y/n     y/n     y/n     -/-     -/-     -/-     -/-     y/y     -/-'),
  'decision-task':  yn(' n/n     n/n     n/n     n/n     n/n     n/n     y/n     y/n     -/-     -/-     y/y     -/-'),
  // An endpoint answering 307 to another place (issue 13): the redirect is not followed, the other place hears nothing.
  'task redirected':yn(' n/n     n/n     n/n     n/n     n/n     n/n     n/n     n/n     -/-     -/-     n/n     -/-'),
};

/**
 * AuditEvent (issue 6): only `admin` reads and searches the audit trail,
 * whoever's data an event is about (own: an event about side 1's patient,
 * other: about side 2's), directly or as a batch entry.
 */
export const AUDIT_EVENT = {
  //                      prescri care-te admin-s non-med portal  receive mdph    esms    ror     territo admin   anonymo
  search:           r(' 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 200/200 401/401'),
  read:             r(' 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 200/200 401/401'),
  'batch search':   r(' 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 403/403 200/200 401/401'),
};

/**
 * The audit trail of patient data. Each request carries a trail (who, from
 * where, which request) that its interactions add events to. A write's events
 * are inserted in the write's own transaction, so a change is never stored
 * without its audit nor audited without being stored; reads and refusals go
 * through a group commit (one insert for the events of many requests), and
 * the request answers only once its events are stored.
 */
import { randomUUID } from 'node:crypto';
import type { AuditEvent, AuditEventAgent, AuditEventEntity, Resource } from '@medplum/fhirtypes';
import ipaddr from 'ipaddr.js';
import type { Database, Queryable } from '../store/db.js';
import { run, sql, type SqlFragment } from '../store/sql.js';
import type { Principal } from './principal.js';

/** The resource types that hold patient data: every interaction with them is audited. */
export const PATIENT_DATA: ReadonlySet<string> = new Set(['Patient', 'ServiceRequest', 'Task', 'QuestionnaireResponse', 'Communication']);

/** What one interaction did, to what, and how it ended. */
export interface AuditRecord {
  /** FHIR AuditEvent.action: Create, Read, Update, Delete, Execute. */
  action: 'C' | 'R' | 'U' | 'D' | 'E';
  /** The RESTful interaction code (read, search-type, create…), or `operation`. */
  interaction: string;
  /** The HTTP status the interaction answered with. */
  status: number;
  resourceType?: string;
  entities: { type: string; id: string; version?: number }[];
  /** A search's parameters, or an operation's name. */
  query?: string;
  /** Why it failed. */
  detail?: string;
}

/** The audit of one request: who, from where, and the events not yet stored. */
export interface AuditTrail {
  principal?: Principal;
  requestId?: string;
  address?: string;
  pending: AuditRecord[];
}

/** A new, empty trail. */
export function auditTrail(source: { principal?: Principal; requestId?: string; address?: string }): AuditTrail {
  return { principal: source.principal, requestId: source.requestId, address: source.address, pending: [] };
}

/** Adds an event to a request's trail (nothing without a trail, e.g. the gateway's own work). */
export function audit(trail: AuditTrail | undefined, record: AuditRecord): void {
  trail?.pending.push(record);
}

/** The patient-data resources among some resources (a search page, a Bundle's entries). */
export function auditedEntities(resources: readonly (Resource | undefined)[]): AuditRecord['entities'] {
  const entities: AuditRecord['entities'] = [];
  for (const r of resources) {
    if (r?.id && PATIENT_DATA.has(r.resourceType)) entities.push({ type: r.resourceType, id: r.id, version: versionOf(r) });
  }
  return entities;
}

/** Records a write of patient data on a trail: a create, an update, or the match of a conditional create. */
export function auditWrite<R extends { resource: Resource; created: boolean; matched?: boolean; skipped?: string }>(trail: AuditTrail | undefined, interaction: 'create' | 'update', result: R): R {
  if (!trail || !PATIENT_DATA.has(result.resource.resourceType)) return result;
  const action = result.matched || result.skipped ? 'R' : result.created ? 'C' : 'U';
  audit(trail, { action, interaction, status: result.created ? 201 : 200, resourceType: result.resource.resourceType, entities: auditedEntities([result.resource]) });
  return result;
}

function versionOf(resource: Resource): number | undefined {
  const v = Number(resource.meta?.versionId);
  return Number.isInteger(v) ? v : undefined;
}

/** FHIR AuditEvent.outcome of an HTTP status. */
function outcomeOf(status: number): '0' | '4' | '8' {
  if (status < 400) return '0';
  return status < 500 ? '4' : '8';
}

interface AuditRow {
  id: string;
  recorded: string;
  action: string;
  interaction: string;
  outcome: string;
  status: number;
  client_id: string | null;
  organization: string | null;
  roles: string[];
  source_ip: string | null;
  request_id: string | null;
  resource_type: string | null;
  entities: string[];
  versions: number[];
  query: string | null;
  detail: string | null;
  /** Requests the row stands for: above 1 for the aggregated refusals of unauthenticated callers. */
  count: number;
  /** The last of them, when aggregated. */
  last_recorded: string | null;
  /** Minute, network, interaction and status of an aggregated row (null: a row of its own). */
  aggregate_key: string | null;
}

/**
 * The network an unauthenticated caller is counted under: its address, or
 * its /64 for IPv6 (one host holds a /64, and could otherwise make a new row
 * with each address).
 */
function networkOf(address: string | undefined): string {
  if (!address || !ipaddr.isValid(address)) return address ?? 'unknown';
  const ip = ipaddr.process(address);
  if (ip.kind() === 'ipv4') return ip.toString();
  const parts = (ip as ipaddr.IPv6).parts.slice(0, 4);
  return `${parts.map((p) => p.toString(16)).join(':')}::/64`;
}

function rowsOf(trail: AuditTrail, records: readonly AuditRecord[], recorded: string): AuditRow[] {
  return records.map((r) => ({
    id: randomUUID(),
    recorded,
    action: r.action,
    interaction: r.interaction,
    outcome: outcomeOf(r.status),
    status: r.status,
    client_id: trail.principal?.clientId ?? null,
    organization: trail.principal?.organization ?? null,
    roles: [...(trail.principal?.roles ?? [])],
    source_ip: trail.address ?? null,
    request_id: trail.requestId ?? null,
    resource_type: r.resourceType ?? null,
    entities: r.entities.map((e) => `${e.type}/${e.id}`),
    versions: r.entities.map((e) => e.version ?? 0),
    query: r.query ?? null,
    detail: r.detail ?? null,
    count: 1,
    last_recorded: null,
    // A caller without a valid token is counted, not recorded request by request: a flood of bad tokens adds a row a minute.
    aggregate_key: trail.principal
      ? null
      : [recorded.slice(0, 16), networkOf(trail.address), r.action, r.interaction, r.resourceType ?? '', r.status].join('|'),
  }));
}

/**
 * Rows of one insert: each aggregated key once, with the number of requests
 * it stands for (an upsert may not meet the same key twice in a statement).
 */
function merged(rows: AuditRow[]): AuditRow[] {
  const byKey = new Map<string, AuditRow>();
  const out: AuditRow[] = [];
  for (const row of rows) {
    if (!row.aggregate_key) {
      out.push(row);
      continue;
    }
    const seen = byKey.get(row.aggregate_key);
    if (seen) {
      seen.count += row.count;
      seen.last_recorded = row.recorded;
    } else {
      const first = { ...row };
      byKey.set(row.aggregate_key, first);
      out.push(first);
    }
  }
  return out;
}

function insertSql(rows: AuditRow[]): SqlFragment {
  return sql`INSERT INTO audit_event (id, recorded, action, interaction, outcome, status, client_id, organization, roles, source_ip, request_id, resource_type, entities, versions, query, detail, count, last_recorded, aggregate_key)
     SELECT id, recorded, action, interaction, outcome, status, client_id, organization, roles, source_ip, request_id, resource_type, entities, versions, query, detail, count, last_recorded, aggregate_key
       FROM jsonb_to_recordset(${JSON.stringify(merged(rows))}::text::jsonb) AS x(id text, recorded timestamptz, action text, interaction text, outcome text, status int, client_id text, organization text,
            roles text[], source_ip text, request_id text, resource_type text, entities text[], versions int[], query text, detail text, count int, last_recorded timestamptz, aggregate_key text)
     ON CONFLICT (aggregate_key) WHERE aggregate_key IS NOT NULL
       DO UPDATE SET count = audit_event.count + EXCLUDED.count, last_recorded = coalesce(EXCLUDED.last_recorded, EXCLUDED.recorded)`;
}

async function insertRows(q: Queryable, rows: AuditRow[]): Promise<void> {
  if (rows.length === 0) return;
  await run(q, insertSql(rows), { prepare: true });
}

/** The insert of a trail's pending events, to run within another statement (and the trail emptied). */
export function auditInsert(trail: AuditTrail, now: Date): SqlFragment | undefined {
  if (trail.pending.length === 0) return undefined;
  return insertSql(rowsOf(trail, trail.pending.splice(0), now.toISOString()));
}

/**
 * The audit event of a read by id, to run within the read's own statement
 * (over its result `r`): the version read, or a refusal when nothing was
 * found. One round trip, and the event is stored before the answer.
 */
export function auditReadInsert(trail: AuditTrail, type: string, id: string, now: Date): SqlFragment {
  const [row] = rowsOf(trail, [{ action: 'R', interaction: 'read', status: 200, resourceType: type, entities: [{ type, id }] }], now.toISOString());
  return sql`INSERT INTO audit_event (id, recorded, action, interaction, outcome, status, client_id, organization, roles, source_ip, request_id, resource_type, entities, versions, detail)
     SELECT ${row.id}, ${row.recorded}::timestamptz, 'R', 'read', CASE WHEN f.version IS NULL THEN '4' ELSE '0' END, CASE WHEN f.version IS NULL THEN 404 ELSE 200 END,
            ${row.client_id}, ${row.organization}, ${row.roles}::text[], ${row.source_ip}, ${row.request_id}, ${type}, ${row.entities}::text[], ARRAY[coalesce(f.version, 0)],
            CASE WHEN f.version IS NULL THEN ${`${type}/${id} not found`} END
       FROM (SELECT (SELECT version FROM r) AS version) f`;
}

/** Stores a trail's pending events within `q` (the write's transaction), and empties it. */
export async function flushAudit(q: Queryable, trail: AuditTrail | undefined, now: Date): Promise<void> {
  if (!trail || trail.pending.length === 0) return;
  const records = trail.pending.splice(0);
  await insertRows(q, rowsOf(trail, records, now.toISOString()));
}

const AUDITED = new WeakSet<object>();

/** Marks an error whose refusal is already on the trail (so the HTTP layer does not record it twice). */
export function markAudited(err: unknown): void {
  if (err && typeof err === 'object') AUDITED.add(err);
}

/** Whether an error's refusal is already recorded. */
export function isAudited(err: unknown): boolean {
  return !!err && typeof err === 'object' && AUDITED.has(err);
}

/** Events added to a trail since `mark` (a savepoint's worth), dropped when their writes are rolled back. */
export function dropAuditSince(trail: AuditTrail | undefined, mark: number): void {
  if (trail && trail.pending.length > mark) trail.pending.length = mark;
}

interface Waiting {
  rows: AuditRow[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Distinct networks of unauthenticated callers counted apart in one minute (per process). */
const AGGREGATE_KEYS_PER_MINUTE = 1_000;

/** Most events one group insert carries. */
const GROUP_ROWS = 1_000;

/**
 * The group commit of read and refusal events: events appended while an
 * insert runs wait for the next one, so many requests share one statement
 * (and one WAL flush). `append` resolves once the events are stored.
 */
export class AuditLog {
  private waiting: Waiting[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private lastInsert = -Infinity;

  constructor(
    private readonly db: Database,
    /** Under load (an insert less than 5 ms ago), how long events wait for others to share their insert. */
    private readonly lingerMs = 1
  ) {}

  /** The minute the aggregated rows of unauthenticated callers are counted in, and their keys so far. */
  private minute = '';
  private minuteKeys = new Set<string>();

  /** Stores a trail's pending events (outside any transaction) and empties it. */
  append(trail: AuditTrail | undefined, now: Date): Promise<void> {
    if (!trail || trail.pending.length === 0) return Promise.resolve();
    const rows = rowsOf(trail, trail.pending.splice(0), now.toISOString()).map((row) => this.bounded(row));
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ rows, resolve, reject });
      if (this.running || this.timer) return;
      if (performance.now() - this.lastInsert > 5) return void this.drain();
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.drain();
      }, this.lingerMs);
    });
  }

  /**
   * Past AGGREGATE_KEYS_PER_MINUTE networks in a minute (a flood from many
   * addresses), the next ones are counted together: the table grows by a
   * bounded number of rows a minute, whatever the flood.
   */
  private bounded(row: AuditRow): AuditRow {
    const key = row.aggregate_key;
    if (!key) return row;
    const minute = key.slice(0, 16);
    if (minute !== this.minute) {
      this.minute = minute;
      this.minuteKeys.clear();
    }
    if (this.minuteKeys.has(key) || this.minuteKeys.size < AGGREGATE_KEYS_PER_MINUTE) {
      this.minuteKeys.add(key);
      return row;
    }
    const [, , ...rest] = key.split('|');
    return { ...row, source_ip: null, aggregate_key: [minute, 'many networks', ...rest].join('|') };
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.waiting.length > 0) {
        const group: Waiting[] = [];
        let size = 0;
        while (this.waiting.length > 0 && (group.length === 0 || size + this.waiting[0].rows.length <= GROUP_ROWS)) {
          const next = this.waiting.shift() as Waiting;
          group.push(next);
          size += next.rows.length;
        }
        try {
          await insertRows(this.db, group.flatMap((w) => w.rows));
          for (const w of group) w.resolve();
        } catch (err) {
          for (const w of group) w.reject(err);
        }
        this.lastInsert = performance.now();
      }
    } finally {
      this.running = false;
    }
  }
}

/** The gateway's own AuditEvent subtypes (events that are not RESTful interactions). */
export const AUDIT_SUBTYPE_SYSTEM = 'https://aiguillage.org/fhir/CodeSystem/audit-event-subtype';

/** Security events, by subtype, with their DICOM event type (AuditEvent.type). */
const SECURITY_EVENTS: Record<string, { code: string; display: string }> = {
  lockout: { code: '110113', display: 'Security Alert' },
  'client-create': { code: '110137', display: 'User Security Attributes Changed' },
  'client-deactivate': { code: '110137', display: 'User Security Attributes Changed' },
  'client-activate': { code: '110137', display: 'User Security Attributes Changed' },
  'client-rotate': { code: '110137', display: 'User Security Attributes Changed' },
  'client-delete': { code: '110137', display: 'User Security Attributes Changed' },
};

/** An audit row as FHIR AuditEvent. */
export function renderAuditEvent(row: AuditRow & { recorded: string | Date }, baseUrl: string): AuditEvent {
  const recorded = new Date(row.recorded).toISOString();
  const agents: AuditEventAgent[] = [
    {
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type', code: 'dataprocessor', display: 'data processor' }] },
      who: row.client_id ? { identifier: { system: `${baseUrl}/oauth2/clients`, value: row.client_id } } : { display: 'anonymous' },
      requestor: true,
      ...(row.roles.length > 0 ? { role: row.roles.map((r) => ({ coding: [{ system: 'https://aiguillage.org/fhir/CodeSystem/role', code: r }] })) } : {}),
      ...(row.source_ip ? { network: { address: row.source_ip, type: '2' as const } } : {}),
    },
  ];
  if (row.organization) {
    const [system, value] = row.organization.includes('|') ? row.organization.split('|', 2) : [undefined, row.organization];
    agents.push({
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleClass', code: 'PROV', display: 'healthcare provider' }] },
      who: system ? { identifier: { system, value } } : { reference: value },
      requestor: false,
    });
  }
  const entity: AuditEventEntity[] = row.entities.map((ref, i) => ({
    what: { reference: row.versions[i] ? `${ref}/_history/${row.versions[i]}` : ref },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
  }));
  if (row.query || row.request_id) {
    entity.push({
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
      ...(row.resource_type ? { name: row.resource_type } : {}),
      ...(row.query ? { query: Buffer.from(row.query, 'utf8').toString('base64') } : {}),
      ...(row.request_id ? { detail: [{ type: 'X-Request-Id', valueString: row.request_id }] } : {}),
    });
  }
  const security = SECURITY_EVENTS[row.interaction];
  const count = row.count ?? 1;
  const outcomeDesc = row.aggregate_key ? `${row.detail ?? 'Refused'} (${count} request${count > 1 ? 's' : ''} without a valid token from this network in this minute)` : row.detail;
  return {
    resourceType: 'AuditEvent',
    id: row.id,
    meta: { versionId: String(count), lastUpdated: row.last_recorded ? new Date(row.last_recorded).toISOString() : recorded },
    type: security
      ? { system: 'http://dicom.nema.org/resources/ontology/DCM', code: security.code, display: security.display }
      : { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: [security ? { system: AUDIT_SUBTYPE_SYSTEM, code: row.interaction } : { system: 'http://hl7.org/fhir/restful-interaction', code: row.interaction }],
    action: row.action as AuditEvent['action'],
    ...(row.aggregate_key ? { period: { start: recorded, end: new Date(row.last_recorded ?? row.recorded).toISOString() } } : {}),
    recorded,
    outcome: row.outcome as AuditEvent['outcome'],
    ...(outcomeDesc ? { outcomeDesc } : {}),
    agent: agents,
    source: { observer: { display: 'aiguillage' }, type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }] },
    ...(entity.length > 0 ? { entity } : {}),
  };
}

/** The search parameters of AuditEvent. */
export const AUDIT_SEARCH_PARAMS = ['date', 'agent', 'entity', 'entity-type', 'action', 'outcome', 'subtype', 'address', 'request-id'] as const;

/** A search of the audit trail: criteria already checked, newest first. */
export interface AuditSearch {
  /** `recorded` bounds: [op, instant]. */
  dates: ['>=' | '>' | '<=' | '<', string][];
  equals: { column: 'client_id' | 'action' | 'outcome' | 'interaction' | 'source_ip' | 'request_id' | 'resource_type'; values: string[] }[];
  entities: string[];
  count: number;
  /** Position after the previous page: [recorded, id]. */
  after?: [string, string];
}

/** Runs an audit search; `next` is the position after the page's last row when there may be more. */
export async function searchAuditEvents(q: Queryable, search: AuditSearch): Promise<{ rows: (AuditRow & { recorded: Date })[]; next?: [string, string] }> {
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (v: unknown): string => {
    params.push(v);
    return `$${params.length}`;
  };
  for (const [op, instant] of search.dates) where.push(`recorded ${op} ${param(instant)}::timestamptz`);
  for (const { column, values } of search.equals) where.push(`${column} = ANY(${param(values)}::text[])`);
  if (search.entities.length > 0) where.push(`entities && ${param(search.entities)}::text[]`);
  if (search.after) where.push(`(recorded, id) < (${param(search.after[0])}::timestamptz, ${param(search.after[1])})`);
  const { rows } = await q.query<AuditRow & { recorded: Date }>(
    `SELECT * FROM audit_event ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY recorded DESC, id DESC LIMIT ${param(search.count + 1)}`,
    params
  );
  const page = rows.slice(0, search.count);
  const last = page[page.length - 1];
  return { rows: page, next: rows.length > search.count && last ? [new Date(last.recorded).toISOString(), last.id] : undefined };
}

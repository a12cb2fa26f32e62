/**
 * The audit trail of patient data, as records: each request carries a trail
 * (who, from where, which request) that its interactions add records to; the
 * write listener (listener.ts) and the FHIR layer's interaction audit are
 * the only ones that add any. A write's records are inserted in the write's
 * own transaction; reads and refusals go through the group commit of
 * audit-log.ts. Refusals of callers without a valid token are counted (one
 * row a minute per network, interaction and status), not stored one by one.
 */
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import ipaddr from 'ipaddr.js';
import type { Queryable } from '../../store/db.js';
import type { SqlFragment } from '../../store/sql.js';
import { auditInsertSql, insertAuditRows, type AuditRow } from '../../store/tables/audit-event.js';
import type { Principal } from '../../core/principal.js';

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

/** The patient-data resources among some resources (a search page, a Bundle's entries), as audit entities. */
export function auditedEntities(resources: readonly (Resource | undefined)[], isPatientData: (type: string) => boolean): AuditRecord['entities'] {
  const entities: AuditRecord['entities'] = [];
  for (const r of resources) {
    if (r?.id && isPatientData(r.resourceType)) entities.push({ type: r.resourceType, id: r.id, version: versionOf(r) });
  }
  return entities;
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

export function rowsOf(trail: AuditTrail, records: readonly AuditRecord[], recorded: string): AuditRow[] {
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
    practitioner: trail.principal?.practitioner ?? null,
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

/** The insert of a trail's pending events, to run within another statement (and the trail emptied). */
export function auditInsert(trail: AuditTrail, now: Date): SqlFragment | undefined {
  if (trail.pending.length === 0) return undefined;
  return auditInsertSql(rowsOf(trail, trail.pending.splice(0), now.toISOString()));
}

/** Stores a trail's pending events within `q` (the write's transaction), and empties it. */
export async function flushAudit(q: Queryable, trail: AuditTrail | undefined, now: Date): Promise<void> {
  if (!trail || trail.pending.length === 0) return;
  const records = trail.pending.splice(0);
  await insertAuditRows(q, rowsOf(trail, records, now.toISOString()));
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

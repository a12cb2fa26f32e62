/**
 * The audit listener: every write of patient data (created, updated, or a
 * write that did not happen: a conditional create's match, an unchanged
 * push), and every security event (a lockout, a client's change), becomes a
 * record on the request's trail, stored with the trail's
 * other records in the unit of work's transaction, before it commits. With
 * the interaction audit of the FHIR layer, the only place records are made.
 */
import type { DomainEvent, WriteListener } from '../kind.js';
import { audit, auditedEntities, auditInsert, flushAudit, type AuditRecord } from './trail.js';

/** Every resource of an event of patient data is audited. */
const all = (): boolean => true;

function recordOf(e: DomainEvent): AuditRecord | undefined {
  if (e.event === 'write' && e.kind.patientData) {
    const created = e.action === 'created';
    return {
      action: created ? 'C' : 'U',
      interaction: created ? 'create' : 'update',
      status: created ? 201 : 200,
      resourceType: e.kind.type,
      entities: auditedEntities(e.resources, all),
    };
  }
  if (e.event === 'read-through' && e.kind.patientData) {
    return { action: 'R', interaction: e.interaction, status: 200, resourceType: e.kind.type, entities: auditedEntities([e.resource], all) };
  }
  if (e.event === 'security') return { action: e.action, interaction: e.interaction, status: e.status, resourceType: e.resourceType, entities: [], query: e.query, detail: e.detail };
  return undefined;
}

export const auditListener: WriteListener = {
  name: 'audit',
  async flush(ctx, q, events) {
    for (const e of events) {
      const record = recordOf(e);
      if (record) audit(ctx.audit, record);
    }
    await flushAudit(q, ctx.audit, ctx.clock.now());
  },
  inline(ctx, events) {
    const records = events.map(recordOf).filter((r): r is AuditRecord => !!r);
    if (!ctx.audit) return null;
    for (const record of records) audit(ctx.audit, record);
    return auditInsert(ctx.audit, ctx.clock.now()) ?? null;
  },
};

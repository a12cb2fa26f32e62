/** Audit rows as FHIR AuditEvents (for `admin`). */
import type { AuditEvent, AuditEventAgent, AuditEventEntity } from '@medplum/fhirtypes';
import type { AuditRow } from '../../store/tables/audit-event.js';

/** The gateway's own AuditEvent subtypes (events that are not RESTful interactions). */
export const AUDIT_SUBTYPE_SYSTEM = 'https://aiguillage.org/fhir/CodeSystem/audit-event-subtype';

/** Security events, by subtype, with their DICOM event type (AuditEvent.type). */
export const SECURITY_EVENTS: Record<string, { code: string; display: string; subtypeDisplay: string }> = {
  lockout: { code: '110113', display: 'Security Alert', subtypeDisplay: 'Verrouillage après des échecs répétés' },
  'client-create': { code: '110137', display: 'User Security Attributes Changed', subtypeDisplay: 'Client créé' },
  'client-deactivate': { code: '110137', display: 'User Security Attributes Changed', subtypeDisplay: 'Client désactivé' },
  'client-activate': { code: '110137', display: 'User Security Attributes Changed', subtypeDisplay: 'Client réactivé' },
  'client-rotate': { code: '110137', display: 'User Security Attributes Changed', subtypeDisplay: 'Identifiants du client renouvelés' },
  'client-delete': { code: '110137', display: 'User Security Attributes Changed', subtypeDisplay: 'Client supprimé' },
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
  if (row.practitioner) {
    // The professional the software acted for (Pro Santé Connect): national identifier (idNatPs), name, profession.
    agents.push({
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type', code: 'humanuser', display: 'human user' }] },
      ...(row.practitioner.profession ? { role: [{ coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante', code: row.practitioner.profession }] }] } : {}),
      who: { identifier: { system: 'urn:oid:1.2.250.1.71.4.2.1', value: row.practitioner.id }, ...(row.practitioner.name ? { display: row.practitioner.name } : {}) },
      requestor: true,
    });
  }
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
      // A name or a query, not both (invariant sev-1): the type searched goes in the description then.
      ...(row.query ? { query: Buffer.from(row.query, 'utf8').toString('base64'), ...(row.resource_type ? { description: row.resource_type } : {}) } : row.resource_type ? { name: row.resource_type } : {}),
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

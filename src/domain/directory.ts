/** Directory rules the other modules rely on. */
import type { Queryable } from '../store/db.js';
import { run, sql, type SqlFragment } from '../store/sql.js';

/** Whether a unit may be targeted by a request or a decision, and why not. */
export interface TargetCheck {
  usable: boolean;
  reason?: string;
}

/**
 * A HealthcareService is usable as a target only when it exists, is active
 * (an absent `active` counts as active, as FHIR says) and is provided by an
 * Organization that exists and is active.
 */
export async function checkUsableTarget(q: Queryable, serviceId: string): Promise<TargetCheck> {
  const { rows } = await run<TargetRow>(q, targetRows([serviceId]));
  return targetChecks([serviceId], rows).get(serviceId) as TargetCheck;
}

/** What a target check reads of a unit and its organization. */
export interface TargetRow {
  id: string;
  active: boolean | null;
  organization_id: string | null;
  org_found: boolean;
  org_active: boolean | null;
}

/** The query of the rows a target check reads (to embed in a larger statement). */
export function targetRows(serviceIds: string[]): SqlFragment {
  return sql`SELECT s.id, s.active, s.organization_id, o.id IS NOT NULL AS org_found, o.active AS org_active
       FROM healthcare_service s LEFT JOIN organization o ON o.id = s.organization_id
      WHERE s.id = ANY(${serviceIds}::text[])`;
}

/** The checks of these units, from their rows. */
export function targetChecks(serviceIds: string[], rows: TargetRow[]): Map<string, TargetCheck> {
  const byId = new Map(rows.map((r) => [r.id, r]));
  return new Map(serviceIds.map((id) => [id, targetCheck(id, byId.get(id))]));
}

function targetCheck(serviceId: string, row: { active: boolean | null; organization_id: string | null; org_found: boolean; org_active: boolean | null } | undefined): TargetCheck {
  if (!row) return { usable: false, reason: `HealthcareService/${serviceId} does not exist` };
  if (row.active === false) return { usable: false, reason: `HealthcareService/${serviceId} is not active` };
  if (!row.organization_id) return { usable: false, reason: `HealthcareService/${serviceId} has no providing Organization` };
  if (!row.org_found) return { usable: false, reason: `Organization/${row.organization_id} providing HealthcareService/${serviceId} is not in the directory yet` };
  if (row.org_active === false) return { usable: false, reason: `Organization/${row.organization_id} providing HealthcareService/${serviceId} is not active` };
  return { usable: true };
}

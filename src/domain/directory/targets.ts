/** Directory rules the other modules rely on. */
import type { Queryable } from '../../store/db.js';
import { selectTargetRows, type TargetRow } from '../../store/tables/healthcare-service.js';

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
  return targetChecks([serviceId], await selectTargetRows(q, [serviceId])).get(serviceId) as TargetCheck;
}

/** The checks of these units, from their rows. */
export function targetChecks(serviceIds: readonly string[], rows: readonly TargetRow[]): Map<string, TargetCheck> {
  const byId = new Map(rows.map((r) => [r.id, r]));
  return new Map(serviceIds.map((id) => [id, targetCheck(id, byId.get(id))]));
}

function targetCheck(serviceId: string, row: TargetRow | undefined): TargetCheck {
  if (!row) return { usable: false, reason: `HealthcareService/${serviceId} does not exist` };
  if (row.active === false) return { usable: false, reason: `HealthcareService/${serviceId} is not active` };
  if (!row.organization_id) return { usable: false, reason: `HealthcareService/${serviceId} has no providing Organization` };
  if (!row.org_found) return { usable: false, reason: `Organization/${row.organization_id} providing HealthcareService/${serviceId} is not in the directory yet` };
  if (row.org_active === false) return { usable: false, reason: `Organization/${row.organization_id} providing HealthcareService/${serviceId} is not active` };
  return { usable: true };
}

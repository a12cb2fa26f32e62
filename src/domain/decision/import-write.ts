/**
 * Writing a chunk of an MDPH import, through the repository's bulk writes:
 * persons and decisions upserted (a new version only when something
 * changed; a decision's targets are those it had plus the new ones), one
 * task per new target. Ids are derived from the MDPH's own identifiers, so
 * re-importing a decision updates it instead of creating another.
 */
import type { Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { FINESS_SYSTEM, ID_NAT_DECISION_SYSTEM } from '../../../mappings/decision/codes.js';
import { type DecisionRow, type RowError } from '../../../mappings/decision/file.js';
import { assignedNationalId, decisionIds, decisionOf, decisionTaskOf, mdphKey, patientOf } from '../../../mappings/decision/resources.js';
import { serviceRequestRow, taskRow } from '../../../mappings/referral.js';
import { identifierKeys, patientRow, type Row } from '../../../mappings/resource-rows.js';
import { sameContent } from '../../../mappings/versions.js';
import type { Queryable } from '../../store/db.js';
import { lockKeys } from '../../store/locks.js';
import { organizationKeysByIdentifier } from '../../store/tables/organization.js';
import { tasksOfReferrals, updateDecisionTaskColumns } from '../../store/tables/task.js';
import { identifierHolders, lockCurrents, type VersionWrite } from '../../store/tables/versions.js';
import type { CallContext } from '../kind.js';
import { insertMany, requireKind, writeVersion } from '../repository.js';

/** A call writing an import's chunk: within its transaction and unit of work. */
type ChunkContext = CallContext & { tx: Queryable };

/** One decision of a chunk: its first valid row's data, every target of its rows, and their numbers. */
export interface Grouped {
  row: DecisionRow;
  targets: Set<string>;
  rows: number[];
}

/** Domain columns of a decision (beyond the generic ServiceRequest row). */
function decisionColumns(dept: string, row: DecisionRow): Row {
  return {
    module: 'decision',
    department: dept,
    individual: row.individual,
    birth_date: row.birthDate,
    esms_category: row.category,
    validity_start: row.validFrom,
    validity_end: row.validTo,
    creton: row.creton,
    level_esms: row.levelEsms ?? null,
    level_pro: row.levelPro ?? null,
    requester_keys: [mdphKey(dept)],
  };
}

/**
 * A version to write. The resource was built for this write alone, so it is
 * stamped in place (as `stamp` would, without copying it: an import makes
 * millions of them).
 */
function versionWrite(resource: Patient | ServiceRequest | Task, id: string, version: number, now: string, row: Row): VersionWrite {
  resource.id = id;
  resource.meta = { ...resource.meta, versionId: String(version), lastUpdated: now };
  return { resource, version, lastUpdated: now, row, identifiers: identifierKeys(resource.identifier) };
}

/**
 * The decisions whose national id (idNat_Decision) another decision holds:
 * a national id names one decision in the whole country, so a row reusing
 * another's (another MDPH's, or another of the same MDPH's) is rejected, and
 * SDO pushes naming it keep reaching the one true decision. The ids are locked
 * first (sorted, one statement), so that two imports cannot both take one.
 */
async function nationalIdConflicts(q: Queryable, dept: string, decisions: Grouped[]): Promise<Map<Grouped, RowError>> {
  const nationalOf = (d: Grouped): string => d.row.idNatDecision ?? assignedNationalId(dept, d.row.idDecision);
  const nationals = [...new Set(decisions.map(nationalOf))];
  await lockKeys(q, 'idNat_Decision', nationals);
  const holders = await identifierHolders(q, 'ServiceRequest', ID_NAT_DECISION_SYSTEM, nationals);
  const conflicts = new Map<Grouped, RowError>();
  const taken = new Map<string, string>();
  for (const d of decisions) {
    const national = nationalOf(d);
    const id = decisionIds.decision(dept, d.row.idDecision);
    const other = (holders.get(national) ?? []).find((holder) => holder !== id) ?? (taken.has(national) && taken.get(national) !== id ? taken.get(national) : undefined);
    if (other) {
      const whose = other.startsWith(`d-${dept}-`) ? 'another decision of this MDPH' : 'a decision of another MDPH';
      conflicts.set(d, { column: 'id_nat_decision', reason: `the national decision id ${national} is already held by ${whose}` });
    } else {
      taken.set(national, id);
    }
  }
  return conflicts;
}

/**
 * Writes a chunk's decisions. Returns the decisions refused (their national
 * id is another's), with the reason, written for none of them.
 */
export async function writeDecisions(ctx: ChunkContext, dept: string, all: Grouped[], now: string): Promise<{ rows: number[]; error: RowError }[]> {
  if (all.length === 0) return [];
  const q = ctx.tx;
  const conflicts = await nationalIdConflicts(q, dept, all);
  const decisions = all.filter((d) => !conflicts.has(d));
  const refused = [...conflicts].map(([d, error]) => ({ rows: d.rows, error }));
  if (decisions.length === 0) return refused;
  // Persons.
  const persons = new Map<string, Patient>();
  for (const d of decisions) persons.set(decisionIds.patient(dept, d.row.individual), patientOf(dept, d.row));
  const storedPersons = await lockCurrents(q, requireKind('Patient'), [...persons.keys()].sort(), false);
  const personCreates: VersionWrite[] = [];
  for (const [id, person] of persons) {
    const current = storedPersons.get(id);
    const row = Object.assign(patientRow(person), { owner_org: mdphKey(dept) });
    if (!current) {
      personCreates.push(versionWrite(person, id, 1, now, row));
    } else if (!sameContent(person, current.content)) {
      await writeVersion(ctx, 'Patient', versionWrite(person, id, current.version + 1, now, row));
    }
  }
  await insertMany(ctx, 'Patient', personCreates);

  // Decisions.
  const ids = decisions.map((d) => decisionIds.decision(dept, d.row.idDecision));
  const storedDecisions = await lockCurrents(q, requireKind('ServiceRequest'), [...ids].sort(), false);
  const decisionCreates: VersionWrite[] = [];
  const newTasks: DecisionTaskInput[] = [];
  // Tasks exist only for decisions stored before (a decision's tasks are written with it, or claimed after it).
  const haveTask = await tasksOfReferrals(q, ids.filter((id) => storedDecisions.has(id)));
  for (let i = 0; i < decisions.length; i++) {
    const { row, targets } = decisions[i];
    const id = ids[i];
    const patientId = decisionIds.patient(dept, row.individual);
    const current = storedDecisions.get(id);
    const previousTargets = ((current?.content as ServiceRequest | undefined)?.performer ?? []).map((p) => p.identifier?.value).filter((v): v is string => !!v);
    const allTargets = [...new Set([...previousTargets, ...targets])];
    const decision = decisionOf(dept, row, patientId, allTargets);
    const columns = Object.assign(serviceRequestRow(decision), decisionColumns(dept, row));
    if (!current) {
      decisionCreates.push(versionWrite(decision, id, 1, now, columns));
    } else if (!sameContent({ ...decision, status: (current.content as ServiceRequest).status }, current.content)) {
      // A re-import never revives a cancelled decision: its status is the MDPH's to change.
      const status = (current.content as ServiceRequest).status;
      await writeVersion(ctx, 'ServiceRequest', versionWrite({ ...decision, status }, id, current.version + 1, now, { ...columns, status }));
      await updateDecisionTaskColumns(q, id, row);
    }
    for (const finess of allTargets) {
      const taskId = decisionIds.task(id, finess);
      if (!haveTask.has(taskId)) {
        haveTask.add(taskId);
        newTasks.push({ decisionId: id, patientId, finess, category: row.category, individual: row.individual, validFrom: row.validFrom, validTo: row.validTo });
      }
    }
  }
  await insertMany(ctx, 'ServiceRequest', decisionCreates);
  await createDecisionTasks(ctx, dept, newTasks, now, false);
  return refused;
}

/** What a decision's new task is made from. */
export interface DecisionTaskInput {
  decisionId: string;
  patientId: string;
  finess: string;
  category: string;
  individual: string;
  validFrom: string;
  validTo: string;
}

/** Creates the tasks of targeted (or claiming) ESMS, with each ESMS's organization keys, in one statement. */
export async function createDecisionTasks(ctx: ChunkContext, dept: string, tasks: DecisionTaskInput[], now: string, claimed: boolean): Promise<Task[]> {
  if (tasks.length === 0) return [];
  const keys = await organizationKeysByIdentifier(ctx.tx, FINESS_SYSTEM, [...new Set(tasks.map((t) => t.finess))]);
  const writes = tasks.map((t) => {
    const id = decisionIds.task(t.decisionId, t.finess);
    const task = decisionTaskOf(t.decisionId, t.patientId, dept, t.finess, now, claimed);
    return versionWrite(
      task,
      id,
      1,
      now,
      Object.assign(taskRow(task), {
        module: 'decision',
        business_status: '39',
        esms_finess: t.finess,
        claimed,
        owner_keys: keys.get(t.finess) ?? [`${FINESS_SYSTEM}|${t.finess}`],
        requester_keys: [mdphKey(dept)],
        status_since: now,
        notified_at: now,
        department: dept,
        esms_category: t.category,
        individual: t.individual,
        validity_start: t.validFrom,
        validity_end: t.validTo,
      })
    );
  });
  await insertMany(ctx, 'Task', writes, { prepare: writes.length <= 20 });
  return writes.map((w) => w.resource as Task);
}

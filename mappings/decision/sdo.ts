/**
 * The SDO guide's Task (profile sdo-task 2.3) as pure mappings: reading the
 * inputs an ESMS pushes, moving a decision's task to the status they say,
 * and showing a decision's task in the guide's shape to ESMS software.
 *
 * The inputs are sliced on `type.text`. The StructureDefinition types
 * `idNat_Struct`, `idDecision` and `idNat_Decision` as `Identifier`, where
 * the guide's own examples (SDOTask.json, the search-result Bundle) send a
 * `valueString` (and a `valueId` for `idUnite`): the national material is not
 * consistent with itself, so a push may use either, and the gateway emits
 * the StructureDefinition's `valueIdentifier`.
 */
import type { Identifier, Task, TaskInput } from '@medplum/fhirtypes';
import { SYSTEMS } from '../identifier-systems.js';
import { ID_DECISION_SYSTEM_PREFIX, ID_NAT_DECISION_SYSTEM, SDO_TASK_PROFILE } from './codes.js';
import { esmsStatusConcept, ESMS_STATUSES, type EsmsStatus } from './statuses.js';

/** The slices of sdo-task (type.text), at most one input each. */
export const SDO_SLICES = [
  'idNat_Struct',
  'nomESMS',
  'statutESMS',
  'motifESMS',
  'dateStatutESMS',
  'idUnite',
  'nomUnite',
  'categorieOrganisation',
  'temporaliteAccueil',
  'accueilSequentiel',
  'modePriseCharge',
  'statutUnite',
  'dateStatutUnite',
  'motifUnite',
  'typeDroitPrestation',
  'idDecision',
  'idNat_Decision',
] as const;

/** The slices the gateway fills from the decision when it shows a decision's task (the required ones). */
export const SDO_REQUIRED_SLICES = ['idNat_Struct', 'nomESMS', 'statutESMS', 'idDecision', 'idNat_Decision'] as const;

/** Whether a resource claims the sdo-task profile. */
export function isSdoTask(resource: unknown): resource is Task {
  const task = resource as Task | undefined;
  return task?.resourceType === 'Task' && (task.meta?.profile ?? []).includes(SDO_TASK_PROFILE);
}

/** The slice an input belongs to: its `type.text` (the discriminator). */
export function sliceOf(input: TaskInput): string | undefined {
  return input.type?.text;
}

/** The input of a slice. */
export function sdoInput(task: Task, slice: string): TaskInput | undefined {
  return (task.input ?? []).find((i) => sliceOf(i) === slice);
}

/** The text of an input given as a string, an id or an Identifier (the guide uses all three, see above). */
export function sdoInputText(task: Task, slice: string): string | undefined {
  const input = sdoInput(task, slice);
  return input?.valueString ?? input?.valueId ?? input?.valueIdentifier?.value ?? undefined;
}

/** The JDV_J252 code of the statutESMS input. */
export function sdoStatusOf(task: Task): string | undefined {
  return sdoInput(task, 'statutESMS')?.valueCodeableConcept?.coding?.find((c) => c.code)?.code;
}

/** The slices of sdo-task given more than once (each is 0..1 or 1..1). */
export function repeatedSlices(task: Task): string[] {
  const counts = new Map<string, number>();
  for (const input of task.input ?? []) {
    const slice = sliceOf(input);
    if (slice && (SDO_SLICES as readonly string[]).includes(slice)) counts.set(slice, (counts.get(slice) ?? 0) + 1);
  }
  return [...counts].filter(([, n]) => n > 1).map(([slice]) => slice);
}

/**
 * A decision's task moved to the status an SDO Task says: its status and
 * TRE_R357 businessStatus, the reason (motifESMS, else motifUnite), and the
 * ESMS's inputs, which the decision's MDPH reads with the task.
 */
export function decisionTaskMovedBy(current: Task, sdo: Task, status: EsmsStatus): Task {
  const motif = sdoInput(sdo, 'motifESMS') ?? sdoInput(sdo, 'motifUnite');
  return {
    ...current,
    status: ESMS_STATUSES[status].taskStatus,
    businessStatus: esmsStatusConcept(status),
    ...(motif?.valueCodeableConcept ? { statusReason: motif.valueCodeableConcept } : {}),
    ...(sdo.input ? { input: sdo.input } : {}),
  };
}

/** What the gateway knows of a decision's task beyond its content, to show it in the guide's shape. */
export interface SdoFacts {
  /** The ESMS's FINESS number (the task's owner). */
  finess: string;
  /** Its name in the directory, when the directory has it. */
  esmsName?: string;
  /** The decision's identifiers (its MDPH's idDecision, its idNat_Decision). */
  decisionIds: Identifier[];
}

function slice(name: string, value: Omit<TaskInput, 'type'>): TaskInput {
  return { type: { text: name }, ...value };
}

/**
 * A decision's task as ESMS software pulls it (profile sdo-task): status
 * completed and intent plan (fixed by the profile: the person's status is in
 * statutESMS and businessStatus), the required slices filled from the
 * decision and the directory, then the optional inputs the ESMS last pushed.
 * idNat_Struct is "1" + FINESS in the national structure identifier system.
 */
export function sdoViewOf(task: Task, facts: SdoFacts, status: EsmsStatus): Task {
  const idDecision = facts.decisionIds.find((i) => i.system?.startsWith(ID_DECISION_SYSTEM_PREFIX));
  const idNat = facts.decisionIds.find((i) => i.system === ID_NAT_DECISION_SYSTEM);
  const required: TaskInput[] = [
    slice('idNat_Struct', { valueIdentifier: { system: SYSTEMS.idNatStruct, value: `1${facts.finess}` } }),
    slice('nomESMS', { valueString: facts.esmsName ?? `ESMS ${facts.finess}` }),
    slice('statutESMS', { valueCodeableConcept: esmsStatusConcept(status) }),
    // A decision always has both (the gateway assigns the national id when the MDPH's file has none).
    ...(idDecision?.value ? [slice('idDecision', { valueIdentifier: { system: idDecision.system, value: idDecision.value } })] : []),
    ...(idNat?.value ? [slice('idNat_Decision', { valueIdentifier: { system: idNat.system, value: idNat.value } })] : []),
  ];
  const kept = (task.input ?? []).filter((i) => !(SDO_REQUIRED_SLICES as readonly string[]).includes(sliceOf(i) ?? ''));
  return {
    ...task,
    meta: { ...task.meta, profile: [SDO_TASK_PROFILE] },
    status: 'completed',
    intent: 'plan',
    input: [...required, ...kept],
  };
}

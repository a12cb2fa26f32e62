/**
 * The tables of docs/fhir-contract.md, written from the code that enforces
 * them: the referral and decision state machines (who may make each move),
 * what each role may do on each type, and the operations of the route
 * table. `npm run docs` writes them into the document between its
 * `<!-- generated:NAME -->` markers, and a test fails when the document
 * differs from the code.
 */
import type { Questionnaire, QuestionnaireItem } from '@medplum/fhirtypes';
import { CARE_FIELDS, CARE_WANTED, FORMS } from '../../../mappings/forms.js';
import { BUSINESS_STATUSES, REASONS, REASONS_BY_MOVE, STATUS_TABLE, type Side } from '../../../mappings/referral.js';
import { DECISION_MOVES, ESMS_STATUSES, type DecisionSide, type EsmsStatus } from '../../../mappings/decision/statuses.js';
import { ROLES } from '../../core/principal.js';
import { roleScopes } from '../../domain/scopes.js';
import { MEDICAL_VALIDATORS, VOLET_WRITERS } from '../../domain/referral/volet.js';
import { SENDING_ROLES } from '../../domain/referral/service-request.js';
import { PRESCRIBER_SIDE } from '../../domain/referral/shared.js';
import { ROUTES } from '../routes.js';
import { operationsOf } from './operation-definitions.js';

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The referral Task's states: FHIR status, label, and the moves of each side. */
function referralStates(): string {
  return table(
    ['businessStatus', 'Task.status', 'label (seed 002)', 'moves of the receiving unit', 'moves of the prescriber'],
    BUSINESS_STATUSES.map((s) => {
      const info = STATUS_TABLE[s];
      const moves = (side: Side): string => (info.next[side] ?? []).map((m) => `\`${m}\``).join(', ') || '—';
      return [`\`${s}\``, `\`${info.taskStatus}\``, info.display, moves('unit'), moves('prescriber')];
    })
  );
}

function referralReasons(): string {
  const by = (reason: string): string =>
    (Object.entries(REASONS_BY_MOVE) as [string, readonly string[]][]).filter(([, list]) => list.includes(reason)).map(([move]) => `\`${move}\``).join(', ') || 'the gateway only';
  return table(['reason (Task.statusReason)', 'label', 'given with'], Object.entries(REASONS).map(([code, label]) => [`\`${code}\``, label, by(code)]));
}

/** The decision Task's states (TRE_R357): FHIR status and the moves of each side. */
function decisionStates(): string {
  return table(
    ['code (TRE_R357)', 'label', 'Task.status', 'moves of the ESMS', 'moves of the MDPH'],
    (Object.keys(DECISION_MOVES) as EsmsStatus[]).map((code) => {
      const moves = (side: DecisionSide): string => (DECISION_MOVES[code][side] ?? []).map((m) => `\`${m}\` ${ESMS_STATUSES[m].display}`).join(', ') || '—';
      return [`\`${code}\``, ESMS_STATUSES[code].display, `\`${ESMS_STATUSES[code].taskStatus}\``, moves('esms'), moves('mdph')];
    })
  );
}

/** Per type and role: the interactions the role allows (SMART letters: c create, r read, u update, s search). */
function access(): string {
  const byRole = ROLES.map((role) => roleScopes([role]));
  const types = [...new Set(byRole.flatMap((m) => [...m.keys()]))].sort();
  return table(
    ['type', ...ROLES.map((r) => `\`${r}\``)],
    types.map((type) => [type, ...byRole.map((m) => ['c', 'r', 'u', 's'].filter((p) => m.get(type)?.has(p as never)).join('') || '—')])
  );
}

function operations(): string {
  return table(
    ['operation', 'called on', 'what it does'],
    operationsOf(ROUTES).map((op) => [
      `\`$${op.name}\``,
      op.level === 'system' ? 'the base (`/fhir`)' : `${op.level === 'type' ? 'type' : 'instance'}: ${(op.resource ?? []).join(', ') || 'every type'}`,
      op.description.replace(/\n/g, ' '),
    ])
  );
}

/** Who writes each volet, who validates the medical one, and who sends a request (besides admin). */
function volets(): string {
  const roles = (list: readonly string[]): string => list.map((r) => `\`${r}\``).join(', ');
  return [
    table(
      ['volet', 'written by', 'validated (`completed`, `amended`) by'],
      (Object.keys(VOLET_WRITERS) as (keyof typeof VOLET_WRITERS)[]).map((v) => [v, roles(VOLET_WRITERS[v]), v === 'medical' ? roles(MEDICAL_VALIDATORS) : roles(VOLET_WRITERS[v])])
    ),
    '',
    `A request is sent (\`status\` \`active\`, at creation or from a draft) by ${roles(SENDING_ROLES.filter((r) => r !== 'admin'))}, with its \`category\` naming the care wanted, citing in \`supportingInfo\` a validated medical volet written for that care and a completed administrative volet its organization wrote, and the patient's consent (else 422, naming what is missing); it is cancelled by ${roles(PRESCRIBER_SIDE)} (a \`portal\` validates the medical volet only for a doctor acting through it, and asks for EHPAD or USLD only).`,
  ].join('\n');
}

/** The items of the volets' forms: type, whether required, and when a block is asked. */
function forms(): string {
  const rows: string[][] = [];
  const walk = (form: string, items: readonly QuestionnaireItem[], depth: number): void => {
    for (const item of items) {
      const asked = (item.enableWhen ?? []).map((c) => `${c.question} = ${c.answerCoding?.code ?? ''}`).join(item.enableBehavior === 'any' ? ' or ' : ' and ');
      const options = item.answerOption ? ` (${item.answerOption.map((o) => o.valueCoding?.code).join(', ')})` : '';
      rows.push([depth === 0 ? `\`${form}\`` : '', `${'… '.repeat(depth)}\`${item.linkId}\` ${item.text ?? ''}`, `${item.type}${item.repeats ? ', repeats' : ''}${options}`, item.required ? 'yes' : '', asked]);
      walk(form, item.item ?? [], depth + 1);
    }
  };
  for (const form of Object.values<Questionnaire>(FORMS)) walk(form.id as string, form.item ?? [], 0);
  return table(['form', 'item', 'type', 'required (completed)', 'asked when'], rows);
}

/** Which units take each care wanted: the fields of activity (TRE_R227) a targeted unit may declare. */
function careFields(): string {
  return table(
    ['care wanted', 'name', 'units of fields of activity (TRE_R227)'],
    CARE_WANTED.codes.map(([code, name]) => [`\`${code}\``, name, (CARE_FIELDS[code] ?? []).join(', ')])
  );
}

/** Every generated table, by its marker name. */
export function contractTables(): Record<string, string> {
  return {
    'referral-states': referralStates(),
    'referral-reasons': referralReasons(),
    'decision-states': decisionStates(),
    volets: volets(),
    forms: forms(),
    'care-fields': careFields(),
    access: access(),
    operations: operations(),
  };
}

/** The document with every generated table written between its markers; throws on a missing marker. */
export function withContractTables(doc: string): string {
  let out = doc;
  for (const [name, body] of Object.entries(contractTables())) {
    const re = new RegExp(`(<!-- generated:${name} -->)[\\s\\S]*?(<!-- /generated:${name} -->)`);
    if (!re.test(out)) throw new Error(`docs/fhir-contract.md has no <!-- generated:${name} --> … <!-- /generated:${name} --> block`);
    out = out.replace(re, (_m, open: string, close: string) => `${open}\n${body}\n${close}`);
  }
  return out;
}

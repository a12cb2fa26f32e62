/**
 * Communication: messages between the two sides of a task (and the
 * reminders, a category of them). The sides are filled in from the task;
 * the recipient alone marks a message read; a prescriber's message counts
 * as its action on the request (the deadlines wait on it).
 */
import type { Communication, Reference, Resource } from '@medplum/fhirtypes';
import { parseReference } from '../../../mappings/reference.js';
import { communicationRow, MESSAGE_CATEGORY_SYSTEM } from '../../../mappings/referral.js';
import { conflict, forbidden, ruleViolation } from '../../core/outcomes.js';
import { sql } from '../../store/sql.js';
import { MESSAGE_COLUMNS, messageRecipients, messageRequest } from '../../store/tables/message.js';
import { recordPrescriberAction } from '../../store/tables/referral.js';
import { taskParties } from '../../store/tables/task.js';
import { COMMON_PARAMS, token } from '../common-params.js';
import type { Prepared, ResourceKind, WriteEvent } from '../kind.js';
import { canonicalKey, organizationKeys, principalKey, referenceKey } from '../parties.js';
import { sameJson } from './shared.js';
import type { Role } from '../../core/principal.js';

/** Who exchanges messages about a request: its requesting side (every profile, seed 001) and the units. */
const MESSAGE_ROLES: readonly Role[] = ['prescriber', 'care-team', 'admin-social', 'non-medical-manager', 'portal', 'receiver', 'admin'];

function organizationReference(key: string): Reference {
  const literal = parseReference(key);
  if (literal) return { reference: key };
  const bar = key.indexOf('|');
  return { type: 'Organization', identifier: { system: key.slice(0, bar), value: key.slice(bar + 1) } };
}

/** The reference by which a side is addressed: its Organization when known, else its first key. */
function sideReference(keys: string[]): Reference {
  const organization = keys.find((k) => k.startsWith('Organization/'));
  return organizationReference(organization ?? keys.find((k) => k.includes('|')) ?? keys[0]);
}

function stripMeta(resource: Resource): unknown {
  const { meta: _m, id: _i, ...rest } = resource;
  return rest;
}

async function prepareMessage(e: WriteEvent): Promise<Prepared> {
  const message = e.resource as Communication;
  const previous = e.previous?.content as Communication | undefined;
  const now = e.ctx.clock.now().toISOString();
  const gateway = e.ctx.principal?.gateway === true;
  if (previous) {
    if (gateway) return { resource: message };
    const recipients = await messageRecipients(e.q, e.id);
    const key = principalKey(e.ctx.principal) ?? '';
    if (!recipients?.includes(key)) throw forbidden('Only the recipient may change a message, to mark it read (received)');
    const { received: _r, ...rest } = message;
    const { received: _p, ...before } = previous;
    if (!sameJson(stripMeta(rest), stripMeta(before))) throw ruleViolation('A message does not change once sent; its recipient only sets received', 'Communication');
    if (previous.received && message.received !== previous.received) throw conflict('This message was already marked read', 'Communication.received');
    if (!message.received) throw ruleViolation('Marking a message read sets received', 'Communication.received');
    return { resource: { ...message, received: previous.received ?? now } };
  }
  const taskId = (message.partOf ?? []).map((p) => parseReference(p.reference)).find((r) => r?.type === 'Task')?.id;
  if (!taskId) throw ruleViolation('A message is about a task: partOf Task/{id}', 'Communication.partOf');
  const task = await taskParties(e.q, taskId);
  if (message.received) throw ruleViolation('received is set by the recipient, when it reads the message', 'Communication.received');
  let sender: string[];
  let recipient: string[];
  if (gateway) {
    if (!task) throw ruleViolation(`Task/${taskId} does not exist`, 'Communication.partOf');
    const toUnit = parseReference(message.recipient?.[0]?.reference)?.type === 'HealthcareService';
    [sender, recipient] = toUnit ? [task.requester_keys, task.owner_keys] : [task.owner_keys, task.requester_keys];
  } else {
    const key = principalKey(e.ctx.principal);
    const mine = key && task ? [task.owner_keys.includes(key) ? 'unit' : '', task.requester_keys.includes(key) ? 'prescriber' : ''].filter(Boolean) : [];
    if (!task || mine.length === 0) throw ruleViolation(`Task/${taskId} does not exist`, 'Communication.partOf');
    const fromUnit = mine[0] === 'unit';
    [sender, recipient] = fromUnit ? [task.owner_keys, task.requester_keys] : [task.requester_keys, task.owner_keys];
    if (message.sender) {
      const senderKey = referenceKey(message.sender);
      if (!senderKey || !(await organizationKeys(e.q, key as string)).includes(canonicalKey(senderKey))) {
        throw ruleViolation('The sender must be the caller’s own organization', 'Communication.sender');
      }
    }
    for (const [i, r] of (message.recipient ?? []).entries()) {
      const recipientKey = referenceKey(r);
      if (!recipientKey || !recipient.includes(canonicalKey(recipientKey))) throw ruleViolation('The recipient must be the other side of the task', `Communication.recipient[${i}]`);
    }
  }
  const resource: Communication = {
    ...message,
    sender: message.sender ?? (sideReference(sender) as Communication['sender']),
    recipient: message.recipient && message.recipient.length > 0 ? message.recipient : [sideReference(recipient) as NonNullable<Communication['recipient']>[number]],
    sent: now,
  };
  return { resource, row: { sender_keys: sender, recipient_keys: recipient } };
}

/** A prescriber's message is its action on the request: recorded, and the request's deadlines planned again. */
async function afterMessage(e: WriteEvent): Promise<void> {
  if (e.previous || e.ctx.principal?.gateway) return;
  const request = await messageRequest(e.q, e.id);
  if (request && request.requester_keys.includes(principalKey(e.ctx.principal) ?? '')) {
    await recordPrescriberAction(e.q, request.referral_id, e.ctx.clock.now().toISOString());
    await e.repo.emit(e.ctx, e.q, { event: 'referral-activity', referral: request.referral_id });
  }
}

/** A reminder (relance), as a message to the other side of a task. */
export function reminderMessage(taskId: string, text: string, recipient?: Reference): Communication {
  return {
    resourceType: 'Communication',
    status: 'completed',
    category: [{ coding: [{ system: MESSAGE_CATEGORY_SYSTEM, code: 'reminder', display: 'Relance' }] }],
    partOf: [{ reference: `Task/${taskId}` }],
    ...(recipient ? { recipient: [recipient as NonNullable<Communication['recipient']>[number]] } : {}),
    payload: [{ contentString: text }],
  };
}

export const COMMUNICATION: ResourceKind<Communication> = {
  type: 'Communication',
  table: 'message',
  columns: MESSAGE_COLUMNS,
  toRow: communicationRow,
  profiles: [],
  searchParams: [
    ...COMMON_PARAMS,
    { code: 'part-of', type: 'reference', kind: 'reference', column: 'task_id', target: 'Task', documentation: 'The task the message is about' },
    { ...token('sender', 'sender_keys', 'The sending side: Organization/id, HealthcareService/id or an identifier system|value'), expression: 'Communication.sender' },
    { ...token('recipient', 'recipient_keys', 'The receiving side: Organization/id, HealthcareService/id or an identifier system|value'), expression: 'Communication.recipient' },
    { code: 'received', type: 'date', kind: 'instant', column: 'received', documentation: 'When the recipient read it; received:missing=true for unread messages' },
    token('category', 'category_codes', 'e.g. https://aiguillage.org/fhir/CodeSystem/message-category|reminder'),
  ],
  includes: [{ param: 'part-of', target: 'Task', column: 'task_id', array: false }],
  access: {
    read: MESSAGE_ROLES,
    write: MESSAGE_ROLES,
    visibleTo: (key) => sql`(t.sender_keys @> ARRAY[${key}]::text[] OR t.recipient_keys @> ARRAY[${key}]::text[])`,
    partiesWrite: true,
  },
  patientData: true,
  subscribable: true,
  clientIds: false,
  rules: { prepare: prepareMessage, after: afterMessage },
};

/** The OperationDefinitions of the operations the route table serves, as their routes declare them. */
import type { OperationDefinition } from '@medplum/fhirtypes';
import type { ResourceKind } from '../../domain/kind.js';
import type { OperationDecl, Route } from '../route.js';
import { canonical } from './canonical.js';

/** Operations the gateway serves as FHIR defines them (its definition says what it implements, `base` points at FHIR's). */
const FHIR_OPERATIONS: Record<string, string> = { 'Resource-validate': 'http://hl7.org/fhir/OperationDefinition/Resource-validate' };

/** The canonical URL of an operation's definition. */
export function operationCanonical(operation: OperationDecl): string {
  return canonical('OperationDefinition', operation.id);
}

/** Every operation the table serves, once (an operation served on several types has one definition). */
export function operationsOf(table: readonly Route[]): OperationDecl[] {
  const byId = new Map<string, OperationDecl>();
  for (const r of table) if (r.operation && !byId.has(r.operation.id)) byId.set(r.operation.id, r.operation);
  return [...byId.values()];
}

/** The OperationDefinition of an operation the gateway serves. */
export function operationDefinition(operation: OperationDecl, kinds: readonly ResourceKind[], version: string): OperationDefinition {
  const resource = operation.resource ?? (operation.level === 'system' ? [] : kinds.map((k) => k.type));
  return {
    resourceType: 'OperationDefinition',
    id: operation.id,
    url: operationCanonical(operation),
    version,
    name: operation.id.replace(/[^A-Za-z0-9]/g, ''),
    title: operation.title,
    status: 'active',
    kind: 'operation',
    description: operation.description,
    affectsState: operation.affectsState,
    code: operation.name,
    ...(FHIR_OPERATIONS[operation.id] ? { base: FHIR_OPERATIONS[operation.id] } : {}),
    ...(resource.length > 0 ? { resource: resource as OperationDefinition['resource'] } : {}),
    system: operation.level === 'system',
    type: operation.level === 'type',
    instance: operation.level === 'instance',
    parameter: operation.parameters,
  };
}

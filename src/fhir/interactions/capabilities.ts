/** `GET /metadata` and `GET /OperationDefinition/[id]`: what the server says of itself, written from the route table. */
import { notFound } from '../../core/outcomes.js';
import { allKinds } from '../../domain/registry.js';
import { capabilityStatement, operationDefinition, operationsOf } from '../capability.js';
import type { Route } from '../route.js';

export const metadataRoute: Route = {
  method: 'GET',
  path: 'metadata',
  interaction: 'capabilities',
  isPublic: () => true,
  async handler({ services, table }) {
    return { status: 200, body: capabilityStatement(table, allKinds(), services.baseUrl, services.validator.profiles, services.version, services.clock.now().toISOString().slice(0, 10)) };
  },
};

export const operationDefinitionRoute: Route = {
  method: 'GET',
  path: 'OperationDefinition/:id',
  interaction: 'read',
  isPublic: () => true,
  async handler({ services, params, table }) {
    const operation = operationsOf(table).find((o) => o.id === params.id);
    if (!operation) throw notFound(`OperationDefinition/${params.id} not found`);
    return { status: 200, body: operationDefinition(operation, allKinds(), services.version) };
  },
};

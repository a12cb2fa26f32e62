/** `POST [type]/$validate`: checks a resource against the R4 base rules and the type's profiles, storing nothing. */
import type { Resource } from '@medplum/fhirtypes';
import { badRequest, issue, okOutcome, outcome } from '../../core/outcomes.js';
import type { Route } from '../route.js';
import { checkParameters } from './parameters.js';

export const validateRoute: Route = {
  method: 'POST',
  path: ':type/$validate',
  interaction: 'operation',
  operation: {
    name: 'validate',
    id: 'Resource-validate',
    level: 'type',
    title: 'Validate a resource',
    description: 'Checks a resource (the body, or Parameters with a resource parameter) against the FHIR R4 base rules and the profiles the gateway enforces on its type; nothing is stored.',
    affectsState: false,
    parameters: [
      { name: 'resource', use: 'in', min: 0, max: '1', type: 'Resource', documentation: 'The resource to check' },
      { name: 'return', use: 'out', min: 1, max: '1', type: 'OperationOutcome', documentation: 'The issues found, or an informational one' },
    ],
  },
  async handler({ services, request, kind }) {
    const k = kind as NonNullable<typeof kind>;
    let resource = request.body;
    if (resource && typeof resource === 'object' && (resource as Resource).resourceType === 'Parameters') {
      checkParameters(services, resource, false);
      const part = ((resource as { parameter?: { name?: string; resource?: unknown }[] }).parameter ?? []).find((p) => p.name === 'resource');
      if (!part?.resource) throw badRequest('$validate expects a resource, or Parameters with a "resource" parameter', 'Parameters.parameter');
      resource = part.resource;
    }
    if ((resource as Resource | undefined)?.resourceType !== k.type) {
      return { status: 200, body: outcome(issue('structure', `Expected a ${k.type}`, 'resourceType')) };
    }
    const issues = services.validator.check(resource, k.profiles);
    const found = [...issues.base, ...issues.profile];
    return { status: 200, body: found.length > 0 ? outcome(...found) : okOutcome(`${k.type} is valid`) };
  },
};

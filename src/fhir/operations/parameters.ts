/** Reading an operation's Parameters body: its shape, and its named values. */
import type { Parameters, Resource } from '@medplum/fhirtypes';
import { badRequest } from '../../core/outcomes.js';
import type { FhirServices } from '../types.js';

/** Checks an operation's body, when it has one, as a FHIR Parameters resource (400 otherwise). */
export function checkParameters(services: FhirServices, body: unknown, full = true): void {
  if (body === undefined || body === null) return;
  if ((body as Resource).resourceType !== 'Parameters') throw badRequest('The operation takes a Parameters resource', 'resourceType');
  const parameter = (body as { parameter?: unknown }).parameter;
  if (parameter !== undefined && (!Array.isArray(parameter) || parameter.some((p) => !p || typeof p !== 'object' || typeof (p as { name?: unknown }).name !== 'string'))) {
    throw badRequest('Parameters.parameter is a list of named parameters', 'Parameters.parameter');
  }
  if (full) services.validator.validate(body);
}

/** The `valueString` of a named parameter of a Parameters body, if any. */
export function stringParameter(body: unknown, name: string): string | undefined {
  if (body === undefined || body === null) return undefined;
  if ((body as Resource).resourceType !== 'Parameters') throw badRequest('The operation takes a Parameters resource', 'resourceType');
  const part = ((body as Parameters).parameter ?? []).find((p) => p.name === name);
  if (part && typeof part.valueString !== 'string') throw badRequest(`Parameter ${name} is a valueString`, `Parameters.parameter.where(name='${name}')`);
  return part?.valueString;
}

/** The `valueDate` of a named parameter of a Parameters body, if any. */
export function dateParameter(body: unknown, name: string): string | undefined {
  const part = ((body as Parameters | undefined)?.parameter ?? []).find((p) => p.name === name);
  const value = part?.valueDate;
  const real = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value) && new Date(`${value}T00:00:00Z`).toISOString().slice(0, 10) === value;
  if (part && !real) throw badRequest(`Parameter ${name} is a valueDate, a real day YYYY-MM-DD`, `Parameters.parameter.where(name='${name}')`);
  return part?.valueDate;
}

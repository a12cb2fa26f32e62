/**
 * The model of a search, below the domain: the kinds of search parameters
 * the gateway evaluates, their declarations, and a parsed search on one
 * type. Parsing (parse.ts) and SQL (store/search.ts) both work from it.
 */
import type { ResourceType } from '@medplum/fhirtypes';

/** How a search parameter is evaluated against the domain table (alias `t`). */
export type ParamKind =
  | { kind: 'id' }
  | { kind: 'last-updated' }
  /** A date column that falls between today and N days ahead. */
  | { kind: 'days-ahead'; column: string }
  /** A date column's colour code (VALIDITY_ALERTS: expired, red, orange, green) as of today. */
  | { kind: 'validity-alert'; column: string }
  /** An instant column; `:missing=true` finds rows without one. */
  | { kind: 'instant'; column: string }
  | { kind: 'identifier' }
  /**
   * Accent/case-insensitive match on a normalised column: starts-with (FHIR's
   * default) or, for the directory's names, contains; `:contains` and
   * `:exact` (when `exactColumn` is set) as modifiers.
   */
  | { kind: 'string'; column: string; exactColumn?: string; match?: 'prefix' | 'contains' }
  /** Same, over a `text[]` column of normalised values. */
  | { kind: 'string-array'; column: string }
  | { kind: 'code'; column: string }
  /** Tokens in a `text[]` column holding `system|code` and `code` (see mappings/ror.ts codeTokens). */
  | { kind: 'token-array'; column: string }
  /** A quantity compared on a numeric column, converted to the column's unit (ages in years). */
  | { kind: 'quantity'; column: string; unit: 'years' }
  /** `near=latitude|longitude|distance|unit` on two coordinate columns. */
  | { kind: 'near'; latitude: string; longitude: string }
  | { kind: 'boolean'; column: string }
  /** A date range stored as two inclusive `date` columns. */
  | { kind: 'date-range'; low: string; high: string }
  | { kind: 'reference'; column: string; target: ResourceType }
  | { kind: 'reference-array'; column: string; target: ResourceType }
  /**
   * A parameter defined by a FHIRPath expression (the national guides'
   * SearchParameter definitions): the mapping evaluates it on every write
   * and keeps the values, normalised for the parameter's type, in the
   * table's `search_values` jsonb column under the parameter's code.
   */
  | { kind: 'expression'; expression: string; values: ExpressionValueType }
  /**
   * Places around a commune given by its official code (COG/INSEE): the
   * commune's position is taken from the places of the directory in it,
   * then `near` semantics apply (`code|distance|unit`).
   */
  | { kind: 'near-commune'; commune: string; latitude: string; longitude: string };

/** How the values of an `expression` parameter are kept and compared. */
export type ExpressionValueType = 'token' | 'number' | 'date' | 'string' | 'quantity';

/** A search parameter as the CapabilityStatement declares it, whatever evaluates it. */
export interface DeclaredParam {
  code: string;
  type: 'number' | 'date' | 'string' | 'token' | 'reference' | 'composite' | 'quantity' | 'uri' | 'special';
  /** The canonical URL of its definition, when it is not the gateway's own (FHIR R4, a national guide). */
  definition?: string;
  documentation: string;
  /** FHIRPath of the values it searches, for the SearchParameter the gateway publishes of its own parameters. */
  expression?: string;
}

/** A search parameter as declared in the CapabilityStatement. */
export type SearchParamDef = ParamKind & DeclaredParam & {
  /** SQL expression on `t` to order by, when `_sort` may use this parameter. */
  sort?: string;
};

/** An `_include` the type supports (`Type:param`), read from a domain column. */
export interface IncludeDef {
  param: string;
  target: ResourceType;
  column: string;
  array: boolean;
}

/** What a search runs over: a type, its domain table, its parameters and its `_include`s. */
export interface Searchable {
  type: string;
  table: string;
  searchParams: readonly SearchParamDef[];
  includes: readonly IncludeDef[];
  /** `_revinclude`s it accepts, `SourceType:param` (an `_include` of the source type pointing at this one). */
  revIncludes?: readonly string[];
}

/** An `_include` or `_revinclude` asked for: from which type, along which reference, iterated or not. */
export interface IncludeRequest {
  /** The type holding the reference. */
  source: Searchable;
  def: IncludeDef;
  /** `_revinclude`: the resources of `source` that point at the results. */
  reverse: boolean;
  /** `:iterate`: applied to included resources too, not only to the matches. */
  iterate: boolean;
}

/** `_has:Source:reference:param=value`: results some resource of `source` points at, matching `criterion`. */
export interface HasCriterion {
  source: Searchable;
  reference: { column: string; array: boolean };
  criterion: Criterion;
}

/** A `_filter` expression: parameters of the searched type joined by and, or, not. */
export type FilterNode = { op: 'and' | 'or'; left: FilterNode; right: FilterNode } | { op: 'not'; node: FilterNode } | { op: 'leaf'; criterion: Criterion };

/** `_summary` values (FHIR R4). */
export const SUMMARIES = ['true', 'false', 'text', 'data', 'count'] as const;
/** A `_summary` value. */
export type Summary = (typeof SUMMARIES)[number];

/** Comparison prefixes of number, date and quantity parameters. */
export const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
/** A comparison prefix. */
export type Prefix = (typeof PREFIXES)[number];

/** One parameter occurrence: its values are alternatives (OR); occurrences are combined with AND. */
export interface Criterion {
  param: SearchParamDef;
  /** A URL modifier, or `starts` (starts-with, from `_filter`'s `sw`). */
  modifier?: string;
  values: string[];
}

/** A sort key. */
export interface SortKey {
  param: SearchParamDef;
  descending: boolean;
}

/** A parsed search on one type. */
export interface SearchQuery {
  kind: Searchable;
  criteria: Criterion[];
  sort: SortKey[];
  count: number;
  /** Values of the sort keys (then the id) of the last row of the previous page. */
  after?: unknown[];
  includes: IncludeRequest[];
  total: boolean;
  has?: HasCriterion[];
  filter?: FilterNode;
  /** `_elements`: top-level elements of the matches to return (the rest is left out, tagged SUBSETTED). */
  elements?: string[];
  summary?: Summary;
}

/** The modifiers each kind of parameter supports. */
export const MODIFIERS: Record<SearchParamDef['kind'], readonly string[]> = {
  id: ['not'],
  'last-updated': [],
  instant: ['missing'],
  'days-ahead': [],
  'validity-alert': [],
  identifier: ['not'],
  string: ['contains', 'exact'],
  'string-array': ['contains'],
  code: ['not'],
  boolean: ['not'],
  'date-range': [],
  reference: [],
  'reference-array': [],
  'token-array': ['not'],
  quantity: [],
  near: [],
  expression: ['not', 'missing'],
  'near-commune': [],
};

/** The modifiers a parameter accepts (an `expression` parameter's depend on its values' type). */
export function modifiersOf(param: SearchParamDef): readonly string[] {
  if (param.kind !== 'expression') return MODIFIERS[param.kind];
  const byValues: Record<ExpressionValueType, readonly string[]> = { token: ['not', 'missing'], string: ['contains', 'exact', 'missing'], number: ['missing'], date: ['missing'], quantity: ['missing'] };
  return byValues[param.values];
}

/**
 * A tiny parameterised SQL builder. Values interpolated into the `sql`
 * template become `$n` parameters; nested fragments are spliced in with
 * their parameters renumbered; `raw()` is only for identifiers that come from
 * the gateway's own definitions, never from a request.
 */

import { createHash } from 'node:crypto';

/** A fragment of SQL with its parameter values. */
export class SqlFragment {
  constructor(
    readonly strings: readonly string[],
    readonly values: readonly unknown[]
  ) {}

  /** Renders `$1, $2…` placeholders and the parameter list. */
  toQuery(): { text: string; params: unknown[] } {
    const params: unknown[] = [];
    const text = this.render(params);
    return { text, params };
  }

  private render(params: unknown[], placed = new Map<SharedValue, number>()): string {
    let text = this.strings[0];
    for (let i = 0; i < this.values.length; i++) {
      const value = this.values[i];
      if (value instanceof SqlFragment) {
        text += value.render(params, placed);
      } else if (value instanceof RawSql) {
        text += value.text;
      } else if (value instanceof SharedValue) {
        let n = placed.get(value);
        if (n === undefined) {
          params.push(value.value);
          n = params.length;
          placed.set(value, n);
        }
        text += `$${n}`;
      } else {
        params.push(value);
        text += `$${params.length}`;
      }
      text += this.strings[i + 1];
    }
    return text;
  }
}

class RawSql {
  constructor(readonly text: string) {}
}

/** A value sent once however many times the statement reads it (a large array read by two inserts). */
class SharedValue {
  constructor(readonly value: unknown) {}
}

/** One parameter for every place this value is interpolated. */
export function shared(value: unknown): SharedValue {
  return new SharedValue(value);
}

/** Builds a parameterised fragment. */
export function sql(strings: TemplateStringsArray, ...values: unknown[]): SqlFragment {
  return new SqlFragment(strings, values);
}

/** A trusted identifier or keyword from the gateway's own definitions. */
export function raw(text: string): RawSql {
  if (!/^[A-Za-z_][A-Za-z0-9_.]*( (ASC|DESC))?$/.test(text) && !/^[<>=!]{1,2}$/.test(text)) {
    throw new Error(`raw SQL must be an identifier or an operator, got "${text}"`);
  }
  return new RawSql(text);
}

/** A trusted SQL expression written in the gateway's own definitions (never request input). */
export function trusted(expression: string): SqlFragment {
  return new SqlFragment([expression], []);
}

/** Joins fragments with a separator (`AND`, `,`…). */
export function join(fragments: readonly SqlFragment[], separator: string): SqlFragment {
  if (fragments.length === 0) return sql``;
  const strings = [''];
  for (let i = 1; i < fragments.length; i++) strings.push(separator);
  strings.push('');
  return new SqlFragment(strings, fragments);
}

/** Runs a fragment on a queryable. */
export async function run<R>(
  db: { query<T>(text: string, params?: readonly unknown[], name?: string): Promise<{ rows: T[]; rowCount: number }> },
  fragment: SqlFragment,
  /**
   * Prepare the statement (named after a hash of its text), so PostgreSQL
   * parses and plans it once per connection. Only for the hot statements
   * whose text takes a handful of shapes: each shape stays prepared on every
   * pooled connection.
   */
  options: { prepare?: boolean } = {}
): Promise<{ rows: R[]; rowCount: number }> {
  const { text, params } = fragment.toQuery();
  return db.query<R>(text, params, options.prepare ? statementName(text) : undefined);
}

/** Names of the prepared statements by text (a handful of shapes: hashed once each, not once a call). */
const NAMES = new Map<string, string>();

function statementName(text: string): string {
  let name = NAMES.get(text);
  if (name === undefined) {
    name = `s${createHash('sha1').update(text).digest('base64url').slice(0, 20)}`;
    // Prepared shapes are few; should a caller prepare many, the cache is bounded.
    if (NAMES.size >= 1_000) NAMES.clear();
    NAMES.set(text, name);
  }
  return name;
}

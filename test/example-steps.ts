/**
 * The worked examples of docs/examples/: each job is a list of HTTP steps in
 * `fixtures/examples/<job>/steps.json`, with its bodies as files beside it.
 * `test/examples.test.ts` runs them against a real gateway; `npm run docs`
 * writes each job's steps into its document, so that a document cannot
 * show a step that is not run.
 *
 * In paths, headers and bodies, `{{name}}` is a value saved by an earlier
 * step (`save`: a dotted path into the answer's body, `header:NAME`, or `.`
 * for the whole body); a saved `Type/id/_history/n` location is kept as the
 * reference `Type/id`, and `{{name.id}}` is its id. `{{name.a.b}}` reads
 * into a saved resource.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fromRoot } from '../src/paths.js';

export interface ExampleStep {
  title: string;
  /** The client that calls (a key of `clients`); none: no token. */
  as?: string;
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers?: Record<string, string>;
  /** A file beside steps.json. */
  body?: string;
  /** The body is this saved resource with the file's elements put over it. */
  merge?: string;
  /** Elements set on the body (after `merge`): a dotted path, where `list[a.b=v]` is the element of `list` whose `a.b` is `v`. */
  set?: Record<string, string>;
  /** Repeats the call while the answer is 202 (a status URL). */
  poll?: boolean;
  expect: { status: number; equals?: Record<string, string | number | boolean>; count?: Record<string, number> };
  save?: Record<string, string>;
}

export interface Example {
  title: string;
  clients: Record<string, { roles: string[]; organization?: string }>;
  steps: ExampleStep[];
}

/** The jobs, in the order they run (each may use what the ones before made). */
export const EXAMPLE_JOBS = ['ror-push', 'referral', 'usp-request', 'grand-age', 'mdph-import', 'esms-pull'] as const;

export function exampleDir(job: string): string {
  return fromRoot('fixtures', 'examples', job);
}

export function loadExample(job: string): Example {
  return JSON.parse(fs.readFileSync(path.join(exampleDir(job), 'steps.json'), 'utf8')) as Example;
}

/** A value at a dotted path (`entry.0.resource.id`; `.` is the whole). */
export function at(value: unknown, dotted: string): unknown {
  if (dotted === '.') return value;
  return dotted.split('.').reduce<unknown>((v, key) => (v === null || v === undefined ? undefined : (v as Record<string, unknown>)[key]), value);
}

/** Sets the element at `dotted` (see ExampleStep.set) in `target`. */
export function setAt(target: unknown, dotted: string, value: string): void {
  const segments = dotted.split(/\.(?![^[]*\])/);
  let node = target as Record<string, unknown>;
  segments.forEach((segment, i) => {
    const select = /^(\w+)\[([\w.]+)=([^\]]*)\]$/.exec(segment);
    const last = i === segments.length - 1;
    if (select) {
      const found = ((node[select[1]] as unknown[] | undefined) ?? []).find((el) => String(at(el, select[2])) === select[3]);
      if (!found) throw new Error(`set ${dotted}: no ${select[1]} with ${select[2]} = ${select[3]}`);
      node = found as Record<string, unknown>;
    } else if (last) {
      node[segment] = value;
    } else {
      node = node[segment] as Record<string, unknown>;
      if (node === undefined) throw new Error(`set ${dotted}: nothing at ${segment}`);
    }
  });
}

/** A saved value as the examples keep it: locations become `{ reference, id }`. */
export function saved(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([^/]+)\/_history\/\d+$/.exec(value) ?? /^(?:https?:\/\/[^/]+)?(\/fhir\/.*)$/.exec(value);
  if (!m) return value;
  if (m.length === 2) return new URL(value, 'http://x').pathname;
  return { reference: `${m[1]}/${m[2]}`, id: m[2] };
}

/** `text` with its `{{…}}` replaced from `values`. */
export function substitute(text: string, values: Record<string, unknown>): string {
  return text.replace(/\{\{([\w.-]+)\}\}/g, (_m, name: string) => {
    const [head, ...rest] = name.split('.');
    if (!(head in values)) throw new Error(`{{${name}}}: nothing saved as ${head} yet`);
    let value = rest.length ? at(values[head], rest.join('.')) : values[head];
    if (value && typeof value === 'object' && 'reference' in value) value = (value as { reference: string }).reference;
    if (value === undefined || typeof value === 'object') throw new Error(`{{${name}}} is not a value`);
    return String(value);
  });
}

/** A job's steps as its document shows them (markdown). */
export function renderExample(job: string): string {
  const example = loadExample(job);
  const lines: string[] = [];
  example.steps.forEach((step, i) => {
    const who = step.as ? `as \`${step.as}\` (${example.clients[step.as].roles.join(', ')}${example.clients[step.as].organization ? `, organization \`${example.clients[step.as].organization}\`` : ''})` : 'without a token';
    lines.push(`${i + 1}. ${step.title}, ${who}:`, '', '   ```http', `   ${step.method} ${step.path}`);
    for (const [name, value] of Object.entries(step.headers ?? {})) lines.push(`   ${name}: ${value}`);
    if (step.body) lines.push(`   (body: fixtures/examples/${job}/${step.body}${step.merge ? `, put over the saved \`${step.merge}\`` : ''})`);
    for (const [p, v] of Object.entries(step.set ?? {})) lines.push(`   (and ${p} = ${v})`);
    lines.push('   ```', '');
    const checks = [
      `\`${step.expect.status}\`${step.poll ? ' (after polling while `202`)' : ''}`,
      ...Object.entries(step.expect.equals ?? {}).map(([p, v]) => `\`${p}\` = \`${v}\``),
      ...Object.entries(step.expect.count ?? {}).map(([p, n]) => `${n} × \`${p}\``),
    ];
    lines.push(`   Answer: ${checks.join(', ')}.${step.save ? ` Kept for the next steps: ${Object.entries(step.save).map(([n, p]) => `\`${n}\` (${p})`).join(', ')}.` : ''}`, '');
  });
  return lines.join('\n').trimEnd();
}

/**
 * The worked examples of docs/examples/ run against a real gateway, step by
 * step, each answer checked as the document says; and the documents show
 * exactly the steps that run (their generated blocks match the step files).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../src/core/principal.js';
import { withContractTables } from '../src/fhir/conformance/contract-tables.js';
import { fromRoot } from '../src/paths.js';
import { at, EXAMPLE_JOBS, setAt, exampleDir, loadExample, renderExample, saved, substitute, type ExampleStep } from './example-steps.js';
import { FHIR_JSON, startTestGateway, type TestGateway } from './helpers.js';

let t: TestGateway;
const values: Record<string, unknown> = {};

beforeAll(async () => {
  t = await startTestGateway({ workers: true });
});
afterAll(() => t.close());

async function call(step: ExampleStep, job: string, token: string | undefined): Promise<{ status: number; body: unknown; headers: Record<string, string> }> {
  const url = substitute(step.path, values);
  let req = t.http[step.method.toLowerCase() as 'get' | 'post' | 'put'](url);
  if (token) req = req.set('Authorization', `Bearer ${token}`);
  for (const [name, value] of Object.entries(step.headers ?? {})) req = req.set(name, substitute(value, values));
  if (step.body && !/\.(json|csv|txt)$/.test(step.body)) {
    // A document (a PDF…): its bytes as they are.
    req = req.send(fs.readFileSync(path.join(exampleDir(job), step.body)));
  } else if (step.body) {
    const text = substitute(fs.readFileSync(path.join(exampleDir(job), step.body), 'utf8'), values);
    if (step.body.endsWith('.json')) {
      const body = step.merge ? { ...(structuredClone(values[step.merge]) as object), ...(JSON.parse(text) as object) } : (JSON.parse(text) as object);
      for (const [p, v] of Object.entries(step.set ?? {})) setAt(body, p, substitute(v, values));
      if (!step.headers?.['Content-Type']) req = req.set('Content-Type', FHIR_JSON);
      req = req.send(JSON.stringify(body));
    } else {
      req = req.send(text);
    }
  }
  const res = await req;
  return { status: res.status, body: res.body as unknown, headers: res.headers as Record<string, string> };
}

describe.each(EXAMPLE_JOBS)('the worked example %s', (job) => {
  const example = loadExample(job);
  const tokens: Record<string, string> = {};

  it('is shown step by step in its document', () => {
    const doc = fs.readFileSync(fromRoot('docs', 'examples', `${job}.md`), 'utf8');
    const block = /<!-- generated:steps -->\n([\s\S]*?)\n<!-- \/generated:steps -->/.exec(doc);
    expect(block, `docs/examples/${job}.md has no generated steps block`).not.toBeNull();
    expect(block?.[1], 'the document differs from its steps: run npm run docs').toBe(renderExample(job));
    for (const step of example.steps) if (step.body) expect(fs.existsSync(path.join(exampleDir(job), step.body)), step.body).toBe(true);
  });

  it('runs, every answer as the document says', async () => {
    for (const [name, client] of Object.entries(example.clients)) tokens[name] = await t.tokenFor(client.roles as Role[], client.organization);
    for (const [i, step] of example.steps.entries()) {
      const label = `${job} step ${i + 1}: ${step.title}`;
      let res = await call(step, job, step.as ? tokens[step.as] : undefined);
      for (let tries = 0; step.poll && res.status === 202 && tries < 400; tries++) {
        await new Promise((r) => setTimeout(r, 50));
        res = await call(step, job, step.as ? tokens[step.as] : undefined);
      }
      if (process.env.EXAMPLES_DEBUG) process.stderr.write(`${label}: ${res.status} ${JSON.stringify(res.body).slice(0, Number(process.env.EXAMPLES_DEBUG) || 400)}\n`);
      expect(res.status, `${label}: ${JSON.stringify(res.body).slice(0, 600)}`).toBe(step.expect.status);
      for (const [p, v] of Object.entries(step.expect.equals ?? {})) expect(String(at(res.body, p)), `${label}: ${p}`).toBe(String(v));
      for (const [p, n] of Object.entries(step.expect.count ?? {})) expect((at(res.body, p) as unknown[] | undefined)?.length ?? 0, `${label}: ${p}`).toBe(n);
      for (const [name, from] of Object.entries(step.save ?? {})) {
        const value = from.startsWith('header:') ? res.headers[from.slice('header:'.length).toLowerCase()] : at(res.body, from);
        expect(value, `${label}: nothing at ${from} to keep as ${name}`).toBeDefined();
        values[name] = saved(value);
      }
    }
  }, 60_000);
});

describe('docs/fhir-contract.md', () => {
  it('shows the state tables, access rules and operations the code enforces', () => {
    const doc = fs.readFileSync(fromRoot('docs', 'fhir-contract.md'), 'utf8');
    expect(withContractTables(doc), 'the document differs from the code: run npm run docs').toBe(doc);
  });
});

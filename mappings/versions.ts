/** A resource's server metadata: stamping a version, and comparing contents without it (pure). */
import type { Resource } from '@medplum/fhirtypes';
import { canonicalJson } from './canonical-json.js';

/** The resource as stored: server meta set, client-supplied version data dropped. */
export function stamp(resource: Resource, id: string, version: number, lastUpdated: string): Resource {
  const { versionId: _v, lastUpdated: _l, ...meta } = resource.meta ?? {};
  return { ...resource, id, meta: { ...meta, versionId: String(version), lastUpdated } };
}

/** Whether two renderings say the same, server metadata aside. */
export function sameContent(a: Resource, b: Resource): boolean {
  const strip = (r: Resource): unknown => {
    const { id: _id, meta, ...rest } = r;
    const { versionId: _v, lastUpdated: _l, ...keptMeta } = meta ?? {};
    return Object.keys(keptMeta).length > 0 ? { ...rest, meta: keptMeta } : rest;
  };
  return canonicalJson(strip(a)) === canonicalJson(strip(b));
}

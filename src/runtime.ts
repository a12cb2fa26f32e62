/**
 * The Node.js releases the gateway supports: 24 (the current LTS, what CI
 * runs in full), 22, and 20.19+ (past end of life since April 2026, still
 * tested on the core, embedded and CLI tests until `@medplum/*` 5.x drops it).
 */

/** Node's major version, e.g. 24. */
export function nodeMajor(version: string = process.versions.node): number {
  return Number(version.split('.')[0]);
}

/** A warning for the operator when this Node is past end of life; undefined otherwise. */
export function nodeSupportWarning(version: string = process.versions.node): string | undefined {
  if (nodeMajor(version) >= 22) return undefined;
  return `Node ${version} is past end of life (April 2026); run the gateway on Node 24, the current LTS (Node 20 support ends with the move to @medplum 5.x)`;
}

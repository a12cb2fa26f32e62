/** Locations of the files the gateway ships beside its code (migrations, profiles, mappings). */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

/** The package's root folder, whether running from `src/` (tests) or `dist/src/` (build). */
export const packageRoot: string = findRoot();

/** A path inside the package. */
export function fromRoot(...segments: string[]): string {
  return path.join(packageRoot, ...segments);
}

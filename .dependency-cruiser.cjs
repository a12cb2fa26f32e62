/**
 * The import rules of the code, checked by `npm test` (npm run deps):
 * no cycle (type-only imports included), and the layers pointing one way.
 *
 *   http ─┐                      main, cli (the composition root)
 *   queues ┼─► fhir ─► domain ─► store, jobs ─► core, mappings
 *   ror ───┘           auth ──┘
 *
 * core (outcomes, search parsing, principals) and mappings (pure FHIR ↔ row
 * mappings) import nothing of the gateway's own.
 */
const layer = (name, path) => ({ name, path: `^${path}` });
const LAYERS = {
  core: layer('core', 'src/core/'),
  mappings: layer('mappings', 'mappings/'),
  store: layer('store', 'src/store/'),
  jobs: layer('jobs', 'src/jobs/'),
  domain: layer('domain', 'src/domain/'),
  auth: layer('auth', 'src/auth/'),
  fhir: layer('fhir', 'src/fhir/'),
  ror: layer('ror', 'src/ror/'),
  queues: layer('queues', 'src/queues/'),
  http: layer('http', 'src/http/'),
};

/** Utilities anyone may import: where the package's files are, the logger. */
const UTILITIES = '^src/(paths|logger)\\.ts$';
/** The configuration's types, which the workers read. */
const CONFIG = '^src/config\\.ts$';

/** A layer may import only the layers listed (and itself, and the utilities). */
function only(from, allowed, extra = []) {
  return {
    name: `${from}-imports-only-${allowed.join('-') || 'itself'}`,
    comment: `${from} imports only ${allowed.join(', ') || 'itself'} (and libraries)`,
    severity: 'error',
    from: { path: LAYERS[from].path },
    to: {
      path: '^(src|mappings)/',
      pathNot: [LAYERS[from].path, UTILITIES, ...extra, ...allowed.map((l) => LAYERS[l].path)],
    },
  };
}

module.exports = {
  forbidden: [
    { name: 'no-circular', comment: 'No import cycle, type-only imports included', severity: 'error', from: {}, to: { circular: true } },
    only('core', []),
    only('mappings', []),
    only('store', ['core', 'mappings']),
    only('jobs', ['store', 'core']),
    only('domain', ['store', 'jobs', 'core', 'mappings']),
    only('auth', ['domain', 'store', 'core']),
    only('fhir', ['domain', 'store', 'jobs', 'core', 'mappings']),
    only('ror', ['fhir', 'domain', 'store', 'core', 'mappings']),
    only('queues', ['fhir', 'ror', 'domain', 'store', 'jobs', 'core', 'mappings'], [CONFIG]),
    only('http', ['fhir', 'auth', 'domain', 'store', 'core', 'mappings']),
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
  },
};

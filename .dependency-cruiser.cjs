/**
 * Layer rules of docs/architecture.md, checked on every `npm test`. Imports point down only;
 * heavy dependencies have one home each; folders are entered through their index.ts.
 */
const layer = (name) => `^src/${name}/`;

// Each layer and the layers it may import (besides itself). Side layers import only core/config.
const allowed = {
  core: [],
  config: ['core'],
  monitoring: ['core', 'config'],
  security: ['core', 'config'],
  runtime: ['core', 'config', 'monitoring'],
  scheduler: ['core', 'config', 'monitoring', 'runtime'],
  repository: ['core', 'config', 'monitoring', 'security', 'runtime', 'scheduler'],
  rollout: ['core', 'config', 'monitoring', 'security', 'repository', 'scheduler', 'runtime'],
  dataplane: ['core', 'config', 'monitoring', 'security', 'rollout', 'repository', 'scheduler', 'runtime'],
  jobs: ['core', 'config', 'monitoring', 'security', 'dataplane'],
  'adapters/rest': ['core', 'config', 'monitoring', 'security', 'dataplane', 'jobs'],
  'adapters/grpc': ['core', 'config', 'monitoring', 'security', 'dataplane', 'jobs'],
  'adapters/metrics': ['core', 'config', 'monitoring', 'security', 'dataplane'],
};

const layerRules = Object.entries(allowed).map(([name, deps]) => {
  const mayImport = [name, ...deps].map((d) => `src/${d}/`).join('|');
  return {
    name: `layer-${name.replace('/', '-')}`,
    severity: 'error',
    comment: `src/${name} may import only: ${[name, ...deps].join(', ')}`,
    from: { path: layer(name) },
    to: { path: '^src/', pathNot: `^(${mayImport})` },
  };
});

// One home per heavy dependency.
const homes = {
  'onnxruntime-node': 'src/runtime/onnx/',
  'onnx-buf': 'src/runtime/onnx/',
  '@bufbuild/protobuf': 'src/runtime/onnx/',
  fastify: 'src/adapters/rest/',
  '@fastify': 'src/adapters/rest/',
  '@grpc': 'src/adapters/grpc/',
  'prom-client': 'src/monitoring/',
  'better-sqlite3': 'src/repository/store/',
  // The job queue holds one connection of its own beside pg-boss's pool (an advisory lock).
  pg: '(src/repository/store/|src/jobs/queue/)',
  kysely: 'src/repository/store/',
  pino: '(src/monitoring/|src/app/|src/cli/)',
  commander: 'src/cli/',
  'cli-progress': 'src/cli/',
  'csv-parse': 'src/jobs/formats/',
  hyparquet: 'src/jobs/formats/',
  'hyparquet-writer': 'src/jobs/formats/',
  'pg-boss': 'src/jobs/queue/',
  jose: 'src/security/',
  'rate-limiter-flexible': 'src/security/',
};
const homeRules = Object.entries(homes).map(([pkg, home]) => ({
  name: `home-${pkg.replace(/[@/]/g, '')}`,
  severity: 'error',
  comment: `${pkg} may only be imported under ${home}`,
  from: { path: '^src/', pathNot: `^${home}` },
  to: { path: `node_modules/${pkg}(/|$)` },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    ...homeRules,
    {
      name: 'enter-through-index',
      severity: 'error',
      comment: 'import another folder through its index.ts',
      from: { path: '^src/([^/]+(?:/(?:rest|grpc|metrics|onnx))?)/' },
      to: {
        path: '^src/',
        pathNot: ['^src/$1/', '^src/runtime/runtime\\.ts$', '^src/[^/]+/index\\.ts$', '^src/adapters/[^/]+/index\\.ts$', '^src/runtime/onnx/index\\.ts$'],
      },
    },
    {
      name: 'app-cli-on-top',
      severity: 'error',
      comment: 'nothing below app/ and cli/ imports them',
      from: { path: '^src/', pathNot: '^src/(app|cli)/' },
      to: { path: '^src/(app|cli)/' },
    },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    { name: 'no-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};

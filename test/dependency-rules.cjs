/**
 * The import rules every package keeps, checked by dependency-cruiser in
 * test/src/architecture.spec.ts. Type-only imports count: a cycle of types is
 * still two modules that cannot be understood one without the other.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'no module may import itself through others',
      from: {},
      to: { circular: true },
    },
    {
      name: 'dashboard-uses-the-shared-contract',
      severity: 'error',
      comment: 'the dashboard reads the admin API through @fl/shared, never the coordinator source',
      from: { path: '^coordinator/dashboard/' },
      to: { path: '^coordinator/(?!dashboard/)' },
    },
    {
      name: 'shared-imports-no-package',
      severity: 'error',
      comment: 'shared is imported by the others and imports none of them',
      from: { path: '^shared/' },
      to: { path: '^(coordinator|participant-agent|test|bench)/' },
    },
    {
      name: 'shared-browser-entry-stays-browser-safe',
      severity: 'error',
      comment: 'the dashboard bundles @fl/shared through browser.ts: nothing it reaches may need Node',
      from: { path: '^shared/src/browser[.]ts$' },
      // Node's own modules resolve to their bare names: crypto, node:crypto.
      to: { path: '^(node:)?(buffer|child_process|crypto|events|fs|http|https|net|os|path|stream|url|util|worker_threads|zlib)$', reachable: true },
    },
    {
      name: 'agent-and-coordinator-apart',
      severity: 'error',
      comment: 'the coordinator and the agent meet only in shared (and in test/ and bench/)',
      from: { path: '^(coordinator|participant-agent)/' },
      to: { path: '^(coordinator|participant-agent)/', pathNot: '^$1/' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    // Builds and libraries are nodes of the graph (so that rules see an import of them), not followed.
    doNotFollow: { path: '(^|/)(dist|node_modules)/' },
  },
};

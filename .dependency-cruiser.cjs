/**
 * The layering of src/ (docs/architecture.md), checked by `npm run check`
 * (`depcruise src`). Imports point down:
 *
 *   main.ts, server.ts, config.ts, metrics.ts, tls-credentials.ts   (composition)
 *   payments/                                                       (the domain)
 *   idempotency/                                                    (generic exactly-once layer)
 *   merchants/                                                      (API keys)
 *   grpc/                                                           (transport pieces)
 *   provider/  db/  gen/  logger.ts                                 (edges)
 *
 * simulator/ is a tool beside the service; client/ is a library beside it.
 */
const COMPOSITION = '^src/(main|server|config|metrics|tls-credentials)\\.ts$';
const TESTS_AND_TOOLS = ['^test/', '^scripts/', '\\.test\\.ts$'];

/** A layer may import itself and the layers under it, never those above. */
function layer(name, from, above) {
  return {
    name,
    comment: `${from} must not import ${above.join(', ')} (imports point down; see docs/architecture.md)`,
    severity: 'error',
    from: { path: from, pathNot: '\\.test\\.ts$' },
    to: { path: above },
  };
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'modules of src/ must not import each other in a cycle',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'production-code-imports-no-tests-or-tools',
      comment: 'the service must not import tests, scripts or benchmarks',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { path: TESTS_AND_TOOLS },
    },
    {
      name: 'simulator-is-a-tool',
      comment:
        'production code must not import the provider simulator; only main.ts may load it, lazily (await import), when no provider URL is configured',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/simulator/', '^src/main\\.ts$', '\\.test\\.ts$'] },
      to: { path: '^src/simulator/' },
    },
    {
      name: 'simulator-loaded-lazily',
      comment: 'main.ts may load the simulator only with a dynamic import, so a configured provider never loads it',
      severity: 'error',
      from: { path: '^src/main\\.ts$' },
      to: { path: '^src/simulator/', dependencyTypesNot: ['dynamic-import'] },
    },
    {
      name: 'simulator-imports-only-wire-types',
      comment: 'the simulator may import only the provider wire types from the service',
      severity: 'error',
      from: { path: '^src/simulator/' },
      to: { path: '^src/', pathNot: ['^src/simulator/', '^src/provider/provider-types\\.ts$'] },
    },
    {
      name: 'client-library-stands-alone',
      comment: 'the client library may import only generated code, the status details decoder and the method options reader',
      severity: 'error',
      from: { path: '^src/client/' },
      to: { path: '^src/', pathNot: ['^src/client/', '^src/gen/', '^src/grpc/status-details\\.ts$', '^src/idempotency/method-options\\.ts$'] },
    },
    layer('payments-below-composition', '^src/payments/', [COMPOSITION, '^src/client/', '^src/simulator/']),
    layer('idempotency-knows-no-domain', '^src/idempotency/', [COMPOSITION, '^src/payments/', '^src/client/', '^src/simulator/', '^src/provider/']),
    layer('merchants-below-idempotency', '^src/merchants/', [COMPOSITION, '^src/payments/', '^src/idempotency/', '^src/client/', '^src/simulator/']),
    layer('grpc-below-merchants', '^src/grpc/', [COMPOSITION, '^src/payments/', '^src/idempotency/', '^src/merchants/', '^src/client/', '^src/simulator/']),
    layer('edges-import-only-edges', '^src/(provider|db|gen)/|^src/logger\\.ts$', [
      COMPOSITION,
      '^src/(payments|idempotency|merchants|grpc|client|simulator)/',
    ]),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/gen/google/' },
    // Type-only imports count: a layer must not even name the types of a layer above it.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};

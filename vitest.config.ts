import { defineConfig } from 'vitest/config';

/**
 * Four suites, each runnable alone (`npm run test:unit`, `test:workflows`, `test:integration`,
 * `test:cluster`); `npm test` runs them all. The integration suite runs on the dev profile's
 * servers; the cluster suite runs the scenario table, the HTTP end-to-end tests and the browser
 * test again on the cluster profile's, after the others (it starts a dozen server processes).
 */
export default defineConfig({
  test: {
    reporters: ['default', './test/setup/closing-line-reporter.ts'],
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'workflows',
          include: ['test/workflows/**/*.test.ts'],
          globalSetup: ['test/setup/time-skipping-server.ts'],
          setupFiles: ['test/setup/quiet-temporal.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // They need the cluster profile's servers, which only the cluster suite starts.
          exclude: ['test/integration/temporal-cluster.test.ts', 'test/integration/cluster-tls.test.ts', 'test/integration/web-ui-login-codec.test.ts'],
          globalSetup: ['test/setup/integration-servers.ts'],
          setupFiles: ['test/setup/quiet-temporal.ts'],
          testTimeout: 90_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'cluster',
          include: [
            'test/integration/orchestrated-flow.test.ts',
            'test/integration/choreographed-flow.test.ts',
            'test/integration/http-scenarios.test.ts',
            'test/integration/web-ui.test.ts',
            'test/integration/web-ui-login-codec.test.ts',
            'test/integration/temporal-cluster.test.ts',
            'test/integration/cluster-tls.test.ts',
          ],
          globalSetup: ['test/setup/cluster-servers.ts'],
          setupFiles: ['test/setup/quiet-temporal.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

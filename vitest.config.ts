import { defineConfig } from 'vitest/config';

/** The tests that run the whole system through `npm start`, each with servers of its own. */
const systemTests = ['test/integration/npm-start.test.ts', 'test/integration/fault-tolerance.test.ts', 'test/integration/chaos.test.ts'];

/**
 * Five suites, each runnable alone (`npm run test:unit`, `test:workflows`, `test:integration`,
 * `test:cluster`, `test:system`); `npm test` runs them all. The integration suite runs on the dev profile's
 * servers; the cluster suite runs the scenario table, the HTTP end-to-end tests and the browser
 * test again on the cluster profile's, after the others (it starts a dozen server processes); the
 * system suite runs the tests that start the whole system through `npm start`, last and one at a time.
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
          exclude: [
            'test/integration/temporal-cluster.test.ts',
            'test/integration/cluster-tls.test.ts',
            'test/integration/web-ui-login-codec.test.ts',
            ...systemTests,
          ],
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
      {
        test: {
          name: 'system',
          include: systemTests,
          setupFiles: ['test/setup/quiet-temporal.ts'],
          testTimeout: 90_000,
          hookTimeout: 180_000,
          // One at a time, after the others: each runs the whole system (a dozen processes, three
          // JVMs) on this machine's cores, and two side by side lost port races and audits.
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});

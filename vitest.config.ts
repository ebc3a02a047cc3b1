import { defineConfig } from 'vitest/config';

/**
 * Three suites, each runnable alone (`npm run test:unit`, `test:workflows`, `test:integration`);
 * `npm test` runs them all. Only the integration suite starts servers.
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
          globalSetup: ['test/setup/integration-servers.ts'],
          setupFiles: ['test/setup/quiet-temporal.ts'],
          testTimeout: 90_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});

import { describe, expect, it, vi } from 'vitest';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { stackServers } from '../../infra/stack/stack.ts';
import { standInTools } from '../fixtures/stand-in-tools.ts';

/** The data folder the stack's PostgreSQL runs on for `profile` (as a non-root user: nothing is prepared on disk). */
function postgresDataFolder(profile: 'dev' | 'cluster'): string {
  vi.spyOn(process, 'getuid').mockReturnValue(1000);
  try {
    const postgres = stackServers(loadStackConfig({ STACK_DATA_DIR: '/nonexistent/order-saga', STACK_PROFILE: profile }), standInTools).find(
      (s) => s.name === 'postgres',
    )!;
    const { args } = postgres.launchSpec();
    return args[args.indexOf('-D') + 1]!;
  } finally {
    vi.restoreAllMocks();
  }
}

describe('each stack profile keeps its own database', () => {
  it("runs the cluster profile's PostgreSQL on another data folder than the dev profile's, as it has its own Kafka and Temporal", () => {
    expect(postgresDataFolder('dev')).toBe('/nonexistent/order-saga/postgres');
    expect(postgresDataFolder('cluster')).toBe('/nonexistent/order-saga/postgres-cluster');
  });
});

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { loadStackConfig, type StackConfig } from '../../infra/stack/config.ts';
import { schemaRegistryUrl } from '../../infra/stack/servers/schema-registry.ts';
import { appServices, stackServers } from '../../infra/stack/stack.ts';
import { standInTools } from '../fixtures/stand-in-tools.ts';

/** The servers of `config`'s stack, as a non-root user (nothing is prepared on disk). */
function serversOf(config: StackConfig) {
  vi.spyOn(process, 'getuid').mockReturnValue(1000);
  try {
    return stackServers(config, standInTools);
  } finally {
    vi.restoreAllMocks();
  }
}

describe('the schema registry of the stack', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'schema-registry-wiring-'));

  it('listens on SCHEMA_REGISTRY_PORT, 8081 by default, its Confluent-compatible API under /apis/ccompat/v7', () => {
    expect(loadStackConfig({}).SCHEMA_REGISTRY_PORT).toBe(8081);
    expect(loadStackConfig({ SCHEMA_REGISTRY_PORT: '46081' }).SCHEMA_REGISTRY_PORT).toBe(46081);
    expect(schemaRegistryUrl(46081)).toBe('http://127.0.0.1:46081/apis/ccompat/v7');
  });

  it.each(['dev', 'cluster'] as const)(
    'runs once in the %s profile: on 127.0.0.1, stored in an H2 file under the profile data folder, BACKWARD by default',
    (profile) => {
      const config = loadStackConfig({ STACK_DATA_DIR: dataDir, STACK_PROFILE: profile, SCHEMA_REGISTRY_PORT: '46081' });
      const registries = serversOf(config).filter((s) => s.name === 'schema-registry');
      expect(registries).toHaveLength(1);
      const registry = registries[0]!;
      expect(registry.ports).toEqual([{ port: 46081, setting: 'SCHEMA_REGISTRY_PORT' }]);
      expect(registry.logPath).toBe(join(dataDir, 'logs', 'schema-registry.log'));
      const spec = registry.launchSpec();
      expect(spec.command).toBe(standInTools.java);
      expect(spec.args.slice(-2)).toEqual(['-jar', standInTools.schemaRegistryJar]);
      const folder = join(dataDir, profile === 'cluster' ? 'schema-registry-cluster' : 'schema-registry');
      expect(spec.args).toEqual(
        expect.arrayContaining([
          '-Dquarkus.http.host=127.0.0.1',
          '-Dquarkus.http.port=46081',
          '-Dquarkus.datasource.db-kind=h2',
          `-Dquarkus.datasource.jdbc.url=jdbc:h2:file:${join(folder, 'registry')};LOCK_TIMEOUT=10000`,
          '-Dregistry.rules.global.compatibility=BACKWARD',
          '-Dregistry.auth.enabled=false',
        ]),
      );
    },
  );

  it("does not hand the stack's environment to the registry, which reads variables of its own (Kafka events, storage)", () => {
    process.env.KAFKA_BOOTSTRAP_SERVERS = '127.0.0.1:1';
    try {
      const registry = serversOf(loadStackConfig({ STACK_DATA_DIR: dataDir })).find((s) => s.name === 'schema-registry')!;
      expect(registry.launchSpec().env).not.toHaveProperty('KAFKA_BOOTSTRAP_SERVERS');
      expect(registry.launchSpec().env).toHaveProperty('PATH');
    } finally {
      delete process.env.KAFKA_BOOTSTRAP_SERVERS;
    }
  });

  it.each(['dev', 'cluster'] as const)('gives every application process of the %s profile that talks to Kafka its URL in SCHEMA_REGISTRY_URL', (profile) => {
    const config = loadStackConfig({ STACK_DATA_DIR: dataDir, STACK_PROFILE: profile, SCHEMA_REGISTRY_PORT: '46081' });
    const withKafka = appServices(config).filter((s) => s.launchSpec().env?.KAFKA_BROKERS);
    expect(withKafka.map((s) => s.name.replace(/-[12]$/, ''))).toEqual(expect.arrayContaining(['temporal-worker', 'choreography', 'api', 'projector']));
    for (const service of withKafka) expect(service.launchSpec().env?.SCHEMA_REGISTRY_URL, service.name).toBe('http://127.0.0.1:46081/apis/ccompat/v7');
  });
});

/**
 * Global setup of the integration suite: starts throwaway PostgreSQL, Kafka, Temporal and schema
 * registry servers on free ports with temporary data folders, from the binaries the stack
 * installed, and stops them afterwards. With ORDER_SAGA_TEST_STACK=running it starts nothing and
 * uses the servers at TEMPORAL_ADDRESS, KAFKA_BROKERS, DATABASE_URL and SCHEMA_REGISTRY_URL
 * (default: the local stack of `npm run stack:up`).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { locateTools } from '../../infra/stack/install.ts';
import { freePort } from '../../infra/stack/ports.ts';
import { postgresUser } from '../../infra/stack/prerequisites.ts';
import type { ProcessRecord } from '../../infra/stack/process.ts';
import { createKafkaServer } from '../../infra/stack/servers/kafka.ts';
import { createNodeService, httpProbe } from '../../infra/stack/servers/node-service.ts';
import { createPostgresServer, postgresUrl } from '../../infra/stack/servers/postgres.ts';
import { createSchemaRegistryServer, schemaRegistryUrl } from '../../infra/stack/servers/schema-registry.ts';
import { registerEventContracts } from '../../src/messaging/schema-registry.ts';
import type { ManagedServer } from '../../infra/stack/servers/server.ts';
import { createTemporalServer } from '../../infra/stack/servers/temporal.ts';
import { consoleRedirectUrisOf, identityIssuerOf } from '../../infra/stack/stack.ts';
import { startServer, stopServer } from '../../infra/stack/start-server.ts';
import { stackClientsFile } from '../../src/platform/access-tokens.ts';
import type { TestServers } from './servers.ts';

const readyTimeoutMs = 120_000;

function runningStack(): TestServers {
  const config = loadStackConfig();
  return {
    temporalAddress: process.env.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_PORT}`,
    temporalNamespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    temporalUiUrl: process.env.TEMPORAL_UI_URL ?? `http://127.0.0.1:${config.TEMPORAL_UI_PORT}`,
    kafkaBrokers: (process.env.KAFKA_BROKERS ?? `127.0.0.1:${config.KAFKA_PORT}`).split(','),
    databaseUrl:
      process.env.DATABASE_URL ??
      postgresUrl({ user: config.POSTGRES_USER, password: config.POSTGRES_PASSWORD, port: config.POSTGRES_PORT, database: config.POSTGRES_DB }),
    schemaRegistryUrl: process.env.SCHEMA_REGISTRY_URL ?? schemaRegistryUrl(config.SCHEMA_REGISTRY_PORT),
    identity: { issuer: process.env.AUTH_ISSUER ?? identityIssuerOf(config), clientsFile: stackClientsFile() },
  };
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.ORDER_SAGA_TEST_STACK === 'running') {
    project.provide('servers', runningStack());
    return undefined;
  }

  const tools = locateTools(loadStackConfig().STACK_TOOLS_DIR);
  const root = mkdtempSync(join(tmpdir(), 'order-saga-test-'));
  // PostgreSQL runs as `postgres` when we are root, and must be able to enter the folder.
  chmodSync(root, 0o755);
  const runAs = process.getuid?.() === 0 ? postgresUser() : undefined;
  const [pgPort, kafkaPort, controllerPort, temporalPort, temporalUiPort, identityPort, schemaRegistryPort, consolePort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const identityIssuer = `http://127.0.0.1:${identityPort}`;
  const identityClientsFile = join(root, 'identity', 'clients.json');
  const database = { user: 'order_saga', password: 'order_saga', database: 'order_saga_test', port: pgPort };
  const servers: ManagedServer[] = [
    createPostgresServer({
      ...database,
      binDir: tools.postgresBinDir,
      dataDir: join(root, 'postgres'),
      logPath: join(root, 'postgres.log'),
      durable: false,
      ...(runAs ? { runAs } : {}),
    }),
    createKafkaServer({
      java: tools.java,
      libDir: tools.kafkaLibDir,
      log4jConfig: tools.kafkaLog4jConfig,
      dataDir: join(root, 'kafka'),
      port: kafkaPort,
      controllerPort,
      heapMb: 384,
      logPath: join(root, 'kafka.log'),
    }),
    // With its Web UI: the browser test looks at workflows there.
    createTemporalServer({
      temporal: tools.temporal,
      port: temporalPort,
      uiPort: temporalUiPort,
      logPath: join(root, 'temporal.log'),
      namespaceRetentionMs: loadStackConfig().TEMPORAL_NAMESPACE_RETENTION_MS,
    }),
    createSchemaRegistryServer({
      java: tools.java,
      jar: tools.schemaRegistryJar,
      port: schemaRegistryPort,
      dataDir: join(root, 'schema-registry'),
      logPath: join(root, 'schema-registry.log'),
    }),
    // The API's tokens come from a real OpenID Connect provider, the one the stack runs.
    createNodeService({
      name: 'identity-provider',
      entry: 'src/workers/identity-provider.ts',
      env: {
        IDENTITY_PORT: String(identityPort),
        IDENTITY_ISSUER: identityIssuer,
        IDENTITY_STATE_FILE: join(root, 'identity', 'provider.json'),
        IDENTITY_CLIENTS_FILE: identityClientsFile,
        // The console test's API listens there: the console's sign-in comes back to its page.
        IDENTITY_CONSOLE_REDIRECT_URIS: consoleRedirectUrisOf([consolePort]).join(','),
      },
      ports: [{ port: identityPort, setting: 'IDENTITY_PORT' }],
      logPath: join(root, 'identity-provider.log'),
      probe: httpProbe(`${identityIssuer}/.well-known/openid-configuration`),
    }),
  ];

  const started: { server: ManagedServer; record: ProcessRecord }[] = [];
  const teardown = async () => {
    await Promise.all(started.map(({ server, record }) => stopServer(server, record, 15_000)));
    if (!process.env.ORDER_SAGA_KEEP_TEST_DATA) rmSync(root, { recursive: true, force: true });
  };

  const outcomes = await Promise.allSettled(
    servers.map(async (server) => {
      const record = await startServer(server, readyTimeoutMs);
      started.push({ server, record });
    }),
  );
  const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [(o.reason as Error).message] : []));
  if (failures.length > 0) {
    process.env.ORDER_SAGA_KEEP_TEST_DATA = '1'; // keep the logs the messages point at
    await teardown();
    throw new Error(`integration servers did not start:\n${failures.join('\n')}`);
  }

  // The catalog's schemas registered once, before the test files run side by side: each file's
  // processes then find them (reads), as a deployment's processes do after its first start.
  await registerEventContracts({ url: schemaRegistryUrl(schemaRegistryPort) });
  project.provide('servers', {
    temporalAddress: `127.0.0.1:${temporalPort}`,
    temporalNamespace: 'default',
    temporalUiUrl: `http://127.0.0.1:${temporalUiPort}`,
    kafkaBrokers: [`127.0.0.1:${kafkaPort}`],
    databaseUrl: postgresUrl(database),
    schemaRegistryUrl: schemaRegistryUrl(schemaRegistryPort),
    identity: { issuer: identityIssuer, clientsFile: identityClientsFile, consolePort },
  });
  return teardown;
}

/**
 * Global setup of the cluster suite: the stack's cluster profile (`npm start -- --profile
 * cluster`) started by the stack's own code on free ports in a temporary folder: PostgreSQL, the
 * Temporal server's services with the standalone Web UI, and three Kafka nodes (topics get the
 * brokers' default of 3 replicas, min.insync.replicas 2), the schema registry (one, as in the
 * profile), and the identity provider the Web UI signs its users in at. The scenario table, the HTTP
 * end-to-end tests and the browser test then run against it exactly as they run against the dev
 * profile's servers.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { locateClusterTools, locateTools } from '../../infra/stack/install.ts';
import { freePort, freePortRange } from '../../infra/stack/ports.ts';
import { postgresUser } from '../../infra/stack/prerequisites.ts';
import { freeKafkaClusterPorts, kafkaScramCredentials } from '../../infra/stack/servers/kafka.ts';
import { createPostgresServer } from '../../infra/stack/servers/postgres.ts';
import { schemaRegistryUrl } from '../../infra/stack/servers/schema-registry.ts';
import { registerEventContracts } from '../../src/messaging/schema-registry.ts';
import { temporalTlsServerName } from '../../infra/stack/servers/temporal-cluster.ts';
import {
  databaseUrlOf,
  identityClientsFileOf,
  identityIssuerOf,
  identityProviderServer,
  kafkaClusterServers,
  kafkaEnvOf,
  stackDown,
  stackFolders,
  stackUp,
  kafkaSecurityOf,
  postgresTlsOf,
  schemaRegistryServer,
  temporalClusterServers,
  temporalTlsOf,
  withStackCertificates,
} from '../../infra/stack/stack.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = mkdtempSync(join(tmpdir(), 'order-saga-cluster-test-'));
  // PostgreSQL runs as `postgres` when we are root, and must be able to enter the folder.
  chmodSync(root, 0o755);
  const kafkaPorts = await freeKafkaClusterPorts();
  const env = {
    STACK_PROFILE: 'cluster',
    STACK_DATA_DIR: root,
    POSTGRES_PORT: String(await freePort()),
    KAFKA_PORT: String(kafkaPorts.port),
    KAFKA_CONTROLLER_PORT: String(kafkaPorts.controllerPort),
    KAFKA_HEAP_MB: '384',
    // Under the server's own 1 h floor, which the stack lowers (temporal-cluster.test.ts checks it took).
    TEMPORAL_NAMESPACE_RETENTION_MS: String(30 * 60_000),
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    TEMPORAL_CLUSTER_PORT_BASE: String(await freePortRange(60)),
    IDENTITY_PORT: String(await freePort()),
    SCHEMA_REGISTRY_PORT: String(await freePort()),
    // Where the Web UI's codec endpoint is (https://localhost:<port>/codec): the Web UI login test serves it.
    API_TLS_PORT: String(await freePort()),
  };
  const config = loadStackConfig(env);
  const tools = locateTools(config.STACK_TOOLS_DIR);
  // Names the install command when the binaries are missing (npm test's install builds them).
  locateClusterTools(config.STACK_TOOLS_DIR);
  const logs = stackFolders(config).logs;
  const runAs = process.getuid?.() === 0 ? postgresUser() : undefined;
  // As the stack's cluster profile: TLS only, with the stack's certificates (made by the first server to start).
  const postgresTls = postgresTlsOf(config)!;
  const servers = [
    withStackCertificates(
      config,
      createPostgresServer({
        binDir: tools.postgresBinDir,
        dataDir: join(root, 'postgres'),
        port: config.POSTGRES_PORT,
        user: config.POSTGRES_USER,
        password: config.POSTGRES_PASSWORD,
        database: config.POSTGRES_DB,
        logPath: join(logs, 'postgres.log'),
        durable: false,
        maxConnections: 400,
        tls: postgresTls,
        ...(runAs ? { runAs } : {}),
      }),
    ),
    ...kafkaClusterServers(config, tools),
    ...temporalClusterServers(config),
    schemaRegistryServer(config, tools),
    identityProviderServer(config),
  ];
  const teardown = async () => {
    await stackDown(config, servers, () => undefined);
    if (!process.env.ORDER_SAGA_KEEP_TEST_DATA) rmSync(root, { recursive: true, force: true });
  };
  try {
    await stackUp(config, servers, () => undefined);
  } catch (err) {
    process.env.ORDER_SAGA_KEEP_TEST_DATA = '1'; // keep the logs the message points at
    await teardown();
    throw new Error(`the cluster profile's servers did not start (logs in ${logs}):\n${(err as Error).message}`);
  }

  // Every hop takes TLS only, as in the stack's cluster profile: the tests' clients get its CA and credentials.
  const kafkaSecurity = kafkaSecurityOf(config)!;
  const temporalTls = temporalTlsOf(config)!;
  // Tests that look at the stack itself (its processes, their status) rebuild its config from this.
  project.provide('clusterStackEnv', env);
  // The catalog's schemas registered once, before the test files run side by side: each file's
  // processes then find them (reads), as a deployment's processes do after its first start.
  await registerEventContracts({ url: schemaRegistryUrl(config.SCHEMA_REGISTRY_PORT) });
  project.provide('servers', {
    temporalAddress: `127.0.0.1:${config.TEMPORAL_PORT}`,
    temporalNamespace: config.TEMPORAL_NAMESPACE,
    // localhost, not 127.0.0.1: the host of the UI's sign-in callback, where its cookies must be.
    temporalUiUrl: `http://localhost:${config.TEMPORAL_UI_PORT}`,
    kafkaBrokers: kafkaEnvOf(config).KAFKA_BROKERS!.split(','),
    databaseUrl: databaseUrlOf(config),
    schemaRegistryUrl: schemaRegistryUrl(config.SCHEMA_REGISTRY_PORT),
    identity: { issuer: identityIssuerOf(config), clientsFile: identityClientsFileOf(config) },
    security: {
      kafka: { ca: kafkaSecurity.ca, mechanism: 'scram-sha-512', ...kafkaScramCredentials(kafkaSecurity.credentialsFile).client },
      temporal: { ca: temporalTls.ca, cert: temporalTls.client.cert, key: temporalTls.client.key, serverName: temporalTlsServerName },
    },
  });
  return teardown;
}

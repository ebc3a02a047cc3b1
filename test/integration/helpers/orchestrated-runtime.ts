import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { Client, Connection } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Kafka, logLevel } from 'kafkajs';
import type pg from 'pg';
import { createOrderActivities } from '../../../src/activities/order-activities.ts';
import { createMailer } from '../../../src/contexts/notifications/mailer.ts';
import { createHttpPaymentGateway } from '../../../src/contexts/payments/gateway-client.ts';
import { buildGatewayApp, type GatewayOptions } from '../../../src/gateway/gateway-app.ts';
import type { GatewayLedger } from '../../../src/gateway/ledger.ts';
import { createEventPublisher } from '../../../src/messaging/event-publisher.ts';
import { ensureTopics } from '../../../src/messaging/topics.ts';
import { clientTracingInterceptors, workerTracing } from '../../../src/observability/temporal-tracing.ts';
import type { Tracing } from '../../../src/observability/tracing.ts';
import { OrderSagaClient } from '../../../src/orchestration/order-saga-client.ts';
import { createPool } from '../../../src/platform/database.ts';
import { migrateAll } from '../../../src/platform/migrations.ts';
import { startSmtpSink, type SmtpSink } from '../../../src/smtp-sink/smtp-sink.ts';
import type { TestServers } from '../../setup/servers.ts';
import { buildApiApp, type ApiDeps } from '../../../src/api/app.ts';
import { wireOrderFlows } from '../../../src/workers/order-flows.ts';
import { testAuth } from './auth.ts';
import { testContracts } from './contracts.ts';
import { testVault } from './vault.ts';
import { kafkaSecurity, temporalTls } from './secure-clients.ts';

const require = createRequire(import.meta.url);

/** The real dependencies of the orchestrated flow, started in this process for a test file. */
export interface OrchestratedRuntime {
  pool: pg.Pool;
  kafka: Kafka;
  client: Client;
  sagas: OrderSagaClient;
  ledger: GatewayLedger;
  gatewayUrl: string;
  sink: SmtpSink & { smtpPort: number };
  taskQueue: string;
  close(): Promise<void>;
}

/**
 * Migrates the database, creates the topics, starts the gateway simulator and the SMTP sink on
 * free ports and, unless `worker: false`, a Temporal worker with the real activities on a task
 * queue of its own. With `payloadCodec`, the client and the worker encode every payload with it.
 */
export async function startOrchestratedRuntime(
  servers: TestServers,
  options: { gateway?: GatewayOptions; worker?: boolean; topicPrefix?: string; tracing?: Tracing; payloadCodec?: PayloadCodec } = {},
): Promise<OrchestratedRuntime> {
  await migrateAll(servers.databaseUrl);
  const pool = createPool(servers.databaseUrl, 5);
  const kafka = new Kafka({ clientId: 'orchestrated-test', brokers: servers.kafkaBrokers, logLevel: logLevel.NOTHING, ...kafkaSecurity(servers) });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, { prefix: options.topicPrefix ?? '' });
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  const { app, ledger } = buildGatewayApp(options.gateway);
  const gatewayUrl = await app.listen({ port: 0, host: '127.0.0.1' });
  const sink = await startSmtpSink({ smtpPort: 0, httpPort: 0 });

  const taskQueue = `orders-test-${randomUUID()}`;
  const connection = await Connection.connect({ address: servers.temporalAddress, ...temporalTls(servers) });
  const dataConverter = options.payloadCodec ? { payloadCodecs: [options.payloadCodec] } : {};
  const client = new Client({
    connection,
    namespace: servers.temporalNamespace,
    dataConverter,
    ...(options.tracing ? { interceptors: clientTracingInterceptors() } : {}),
  });
  const traced = workerTracing(options.tracing);

  const mailer = createMailer({ host: '127.0.0.1', port: sink.smtpPort });
  let stopWorker: () => Promise<void> = () => Promise.resolve();
  if (options.worker !== false) {
    const workerConnection = await NativeConnection.connect({ address: servers.temporalAddress, ...temporalTls(servers) });
    const worker = await Worker.create({
      connection: workerConnection,
      namespace: servers.temporalNamespace,
      taskQueue,
      dataConverter,
      workflowsPath: require.resolve('../../../src/workflows/index.ts'),
      activities: createOrderActivities({
        pool,
        gateway: createHttpPaymentGateway({ baseUrl: gatewayUrl }),
        vault: testVault,
        mailer,
        publisher: createEventPublisher(producer, { contracts: await testContracts(servers), topicPrefix: options.topicPrefix ?? '' }),
      }),
      interceptors: { activity: traced.activity, workflowModules: traced.workflowModules },
      sinks: traced.sinks,
    });
    const running = worker.run();
    stopWorker = async () => {
      worker.shutdown();
      await running;
      await workerConnection.close();
    };
  }

  return {
    pool,
    kafka,
    client,
    sagas: new OrderSagaClient(client, taskQueue),
    ledger,
    gatewayUrl,
    sink,
    taskQueue,
    async close() {
      await stopWorker();
      await connection.close();
      await producer.disconnect();
      await app.close();
      mailer.close();
      await sink.close();
      await pool.end();
    },
  };
}

/**
 * The API over `runtime`'s orchestrated side, as the tests that look at Temporal through it build
 * it (the Web UI and codec tests): the suite's token verifier and vault, no readiness checks;
 * `extra` adds or overrides the rest (a codec endpoint, TLS, the UI's URL).
 */
export function buildOrchestratedApi(runtime: OrchestratedRuntime, servers: TestServers, extra: Partial<ApiDeps> = {}) {
  return buildApiApp({
    pool: runtime.pool,
    flows: wireOrderFlows({ pool: runtime.pool, sagas: runtime.sagas, vault: testVault }),
    temporalUiUrl: servers.temporalUiUrl,
    namespace: servers.temporalNamespace,
    readiness: [],
    auth: testAuth(servers).verifier,
    ...extra,
  });
}

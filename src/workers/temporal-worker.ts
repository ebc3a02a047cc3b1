/**
 * Process entry point: the Temporal worker of the orchestrated flow (workflows and activities on
 * task queue `orders`). `npm run worker`. Configured from environment variables (README
 * "Configuration"); stops on SIGINT/SIGTERM after in-flight activities finish.
 */
// First: tracing starts before any module loads pg.
import { tracing } from '../observability/register-tracing.ts';
import { createRequire } from 'node:module';
import { NativeConnection, Runtime, Worker, makeTelemetryFilterString } from '@temporalio/worker';
import { Type } from 'typebox';
import { createOrderActivities } from '../activities/order-activities.ts';
import { createMailer } from '../contexts/notifications/mailer.ts';
import { createHttpPaymentGateway } from '../contexts/payments/gateway-client.ts';
import { paymentVaultOf } from '../contexts/payments/payment-vault.ts';
import { createEventPublisher } from '../messaging/event-publisher.ts';
import { ensureTopics } from '../messaging/topics.ts';
import { createRenewingProducer } from '../messaging/renewing-producer.ts';
import { createMetricsRegistry, serveMetrics } from '../observability/metrics.ts';
import { sagaActivityInterceptor } from '../observability/saga-activity-interceptor.ts';
import { createSagaMetrics } from '../observability/saga-metrics.ts';
import { workerTracing } from '../observability/temporal-tracing.ts';
import {
  DatabaseEnv,
  IntegrationsEnv,
  KafkaEnv,
  LogEnv,
  PaymentVaultEnv,
  SchemaRegistryEnv,
  TemporalEnv,
  loadConfig,
  metricsEnv,
  poolTimeoutsOf,
  schemaRegistryOf,
} from '../platform/config.ts';
import { registerWorkerContracts } from '../messaging/schema-registry.ts';
import { createPool } from '../platform/database.ts';
import { createKafka } from '../platform/kafka.ts';
import { createLogger, temporalLogger } from '../platform/logger.ts';
import { migrateAll } from '../platform/migrations.ts';
import { dataConverterOf, payloadCodecOf } from '../platform/payload-codec.ts';
import { temporalConnectionOptions } from '../platform/temporal-connection.ts';
import { runProcess, type ProcessLifecycle } from '../platform/process-lifecycle.ts';

const WorkerEnvSchema = Type.Object({
  ...TemporalEnv,
  ...KafkaEnv,
  ...SchemaRegistryEnv,
  ...DatabaseEnv,
  ...IntegrationsEnv,
  ...PaymentVaultEnv,
  ...LogEnv,
  ...metricsEnv(9464),
  TEMPORAL_SDK_METRICS_PORT: Type.Integer({
    minimum: 0,
    maximum: 65535,
    default: 9465,
    description: "the Temporal SDK's own Prometheus metrics (task slots, polls, latencies); 0 turns them off",
  }),
  WORKER_SHUTDOWN_GRACE_SECONDS: Type.Integer({ minimum: 1, default: 30, description: 'how long in-flight activities get to finish on SIGTERM' }),
});

async function main({ onStop, useLogger, extendGracePeriod }: ProcessLifecycle): Promise<void> {
  onStop('tracing', () => tracing?.shutdown());
  const config = loadConfig(WorkerEnvSchema);
  // Read before anything starts, so a bad key stops the process with a config error.
  const payloadCodec = payloadCodecOf(config);
  const log = createLogger('temporal-worker', config.LOG_LEVEL);
  useLogger(log);
  // The worker's own stop (below) waits up to this long for in-flight activities.
  extendGracePeriod(config.WORKER_SHUTDOWN_GRACE_SECONDS * 1000);
  Runtime.install({
    // runProcess handles the signals, stopping the worker first (the SDK would stop it on its own).
    shutdownSignals: [],
    // Workflow and activity log lines go through pino like every other line of this process.
    logger: temporalLogger(log),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      ...(config.TEMPORAL_SDK_METRICS_PORT === 0
        ? {}
        : {
            metrics: {
              prometheus: {
                bindAddress: `${config.METRICS_HOST}:${config.TEMPORAL_SDK_METRICS_PORT}`,
                countersTotalSuffix: true,
                unitSuffix: true,
                useSecondsForDurations: true,
              },
            },
          }),
    },
  });
  const traced = workerTracing(tracing);
  const registry = createMetricsRegistry('temporal-worker');
  const metricsEndpoint = await serveMetrics(registry, { host: config.METRICS_HOST, port: config.METRICS_PORT });
  onStop('metrics endpoint', () => metricsEndpoint.close());

  const pool = createPool(
    config.DATABASE_URL,
    config.DATABASE_POOL_MAX,
    (err) => log.warn({ err }, 'database connection lost; the pool reconnects'),
    poolTimeoutsOf(config),
  );
  onStop('database pool', () => pool.end());
  if (config.MIGRATE_ON_START) await migrateAll(config.DATABASE_URL, undefined, (msg) => log.debug({ msg }, 'migration'));

  const kafka = createKafka(config, `${config.KAFKA_CLIENT_ID}-temporal-worker`);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, {
    partitions: config.KAFKA_TOPIC_PARTITIONS,
    replicationFactor: config.KAFKA_REPLICATION_FACTOR,
    prefix: config.KAFKA_TOPIC_PREFIX,
    retentionMs: config.KAFKA_TOPIC_RETENTION_MS,
    segmentMs: config.KAFKA_TOPIC_SEGMENT_MS,
  });
  await admin.disconnect();
  // Idempotent, and renewed after a failed send (src/messaging/renewing-producer.ts says why).
  const producer = createRenewingProducer(kafka, (err) => log.warn({ err }, 'a send failed; the next one goes through a new producer id'));
  await producer.connect();
  onStop('producer', () => producer.disconnect());
  const contracts = await registerWorkerContracts(schemaRegistryOf(config), pool);

  const mailer = createMailer({ host: config.SMTP_HOST, port: config.SMTP_PORT });
  onStop('mailer', () => mailer.close());
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  onStop('temporal connection', () => connection.close());
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    dataConverter: dataConverterOf(payloadCodec),
    workflowsPath: createRequire(import.meta.url).resolve('../workflows/index.ts'),
    activities: createOrderActivities({
      pool,
      gateway: createHttpPaymentGateway({ baseUrl: config.PAYMENT_GATEWAY_URL }),
      vault: paymentVaultOf(config),
      mailer,
      publisher: createEventPublisher(producer, { contracts, topicPrefix: config.KAFKA_TOPIC_PREFIX }),
    }),
    interceptors: { activity: [...traced.activity, sagaActivityInterceptor(createSagaMetrics(registry))], workflowModules: traced.workflowModules },
    sinks: traced.sinks,
    shutdownGraceTime: `${config.WORKER_SHUTDOWN_GRACE_SECONDS} seconds`,
  });
  log.info(
    {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      namespace: config.TEMPORAL_NAMESPACE,
      address: config.TEMPORAL_ADDRESS,
      metrics: metricsEndpoint.url,
      payloadKeyId: payloadCodec?.currentKeyId ?? null,
    },
    'worker started',
  );
  const running = worker.run();
  onStop('worker', async () => {
    // Stops polling; `running` resolves once in-flight activities finished (or shutdownGraceTime passed).
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
  });
  // A worker that fails on its own rejects here, and runProcess stops the process with exit code 1.
  await running;
}

runProcess(main);

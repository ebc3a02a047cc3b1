/**
 * Process entry point: the choreographed flow (`npm run choreography`): the consumer groups named
 * in CHOREOGRAPHY_SERVICES, OUTBOX_RELAYS outbox relays and the review-deadline sweeper. Run them
 * together (the default) or one per process (e.g. CHOREOGRAPHY_SERVICES=payments OUTBOX_RELAYS=0).
 * Stops on SIGINT/SIGTERM: stops fetching, finishes in-flight handlers, commits, disconnects.
 */
// First: tracing starts before any module loads pg.
import { dedupeWindowOf } from '../messaging/dedupe-window.ts';
import { tracing } from '../observability/register-tracing.ts';
import { Type } from 'typebox';
import { choreographyPoolSize, startChoreography } from '../choreography/runtime.ts';
import { createChoreographyServices } from '../choreography/services.ts';
import { registerStalledOrderMetrics } from '../choreography/stalled-orders.ts';
import { createMailer } from '../contexts/notifications/mailer.ts';
import { createHttpPaymentGateway } from '../contexts/payments/gateway-client.ts';
import { paymentVaultOf } from '../contexts/payments/payment-vault.ts';
import { defaultKeysConsumedConcurrently, defaultRetryWindowMs } from '../messaging/consumer-runner.ts';
import { deadLetterTopicOf } from '../messaging/topics.ts';
import { createRenewingProducer } from '../messaging/renewing-producer.ts';
import { outboxBacklog } from '../messaging/outbox.ts';
import { registerKafkaBacklogMetrics, registerOutboxMetrics } from '../observability/backlog-metrics.ts';
import { createConsumerMetrics } from '../observability/consumer-metrics.ts';
import { createMetricsRegistry, serveMetrics } from '../observability/metrics.ts';
import {
  DatabaseEnv,
  IntegrationsEnv,
  KafkaEnv,
  LogEnv,
  PaymentVaultEnv,
  SchemaRegistryEnv,
  RecordsRetentionEnv,
  RetentionEnv,
  checkRetentionOrder,
  loadConfig,
  metricsEnv,
  poolTimeoutsOf,
  schemaRegistryOf,
} from '../platform/config.ts';
import { registerWorkerContracts } from '../messaging/schema-registry.ts';
import { createPool } from '../platform/database.ts';
import { createKafka } from '../platform/kafka.ts';
import { createLogger } from '../platform/logger.ts';
import { migrateAll } from '../platform/migrations.ts';
import { runProcess, type ProcessLifecycle } from '../platform/process-lifecycle.ts';

const serviceNames = ['orders', 'inventory', 'payments', 'notifications'] as const;

const ChoreographyEnvSchema = Type.Object({
  ...KafkaEnv,
  ...SchemaRegistryEnv,
  ...DatabaseEnv,
  ...IntegrationsEnv,
  ...PaymentVaultEnv,
  ...LogEnv,
  ...metricsEnv(9466),
  ...RetentionEnv,
  NOTIFICATIONS_RETENTION_MS: RecordsRetentionEnv.NOTIFICATIONS_RETENTION_MS,
  // Unset: sized from what this process runs (choreographyPoolSize).
  DATABASE_POOL_MAX: Type.Optional(
    Type.Integer({ minimum: 1, description: 'connections of the pool; default: computed from the groups, relays and sweeper of this process' }),
  ),
  CHOREOGRAPHY_SERVICES: Type.String({
    default: serviceNames.join(','),
    pattern: `^((${serviceNames.join('|')}),?)*$`,
    description: 'consumer groups to run here',
  }),
  OUTBOX_RELAYS: Type.Integer({ minimum: 0, maximum: 8, default: 1 }),
  REVIEW_SWEEP_INTERVAL_MS: Type.Integer({ minimum: 0, default: 5000, description: '0: no sweeper in this process' }),
  // 5 min: rides out a restart or short outage of the gateway or SMTP; the partition waits meanwhile.
  CONSUMER_RETRY_WINDOW_MS: Type.Integer({
    minimum: 0,
    default: defaultRetryWindowMs,
    description: 'how long a retryable failure is retried (its partition waiting) before the event is dead-lettered',
  }),
  CONSUMER_KEYS_CONCURRENTLY: Type.Integer({
    minimum: 1,
    default: defaultKeysConsumedConcurrently,
    description: 'orders of a fetched batch each consumer group handles at once (each order in partition order); 1: one message at a time per partition',
  }),
  CONSUMER_SESSION_TIMEOUT_MS: Type.Integer({ minimum: 6000, default: 30_000, description: 'how soon a dead member loses its partitions' }),
});

async function main({ onStop, useLogger }: ProcessLifecycle): Promise<void> {
  onStop('tracing', () => tracing?.shutdown());
  const config = loadConfig(ChoreographyEnvSchema);
  checkRetentionOrder(config);
  const log = createLogger('choreography', config.LOG_LEVEL);
  useLogger(log);
  const wanted = config.CHOREOGRAPHY_SERVICES.split(',').filter(Boolean) as (typeof serviceNames)[number][];
  const needed = choreographyPoolSize({ groups: wanted.length, relays: config.OUTBOX_RELAYS, sweeper: config.REVIEW_SWEEP_INTERVAL_MS > 0 });
  const poolSize = config.DATABASE_POOL_MAX ?? needed;
  if (poolSize < needed) log.warn({ poolSize, needed }, 'DATABASE_POOL_MAX is below what this process may use at once: handlers will wait for connections');
  const pool = createPool(config.DATABASE_URL, poolSize, (err) => log.warn({ err }, 'database connection lost; the pool reconnects'), poolTimeoutsOf(config));
  onStop('database pool', () => pool.end());
  if (config.MIGRATE_ON_START) await migrateAll(config.DATABASE_URL);
  const kafka = createKafka(config, `${config.KAFKA_CLIENT_ID}-choreography`);
  const producer = createRenewingProducer(kafka, (err) => log.warn({ err }, 'a send failed; the next one goes through a new producer id'));
  await producer.connect();
  onStop('producer', () => producer.disconnect());
  const contracts = await registerWorkerContracts(schemaRegistryOf(config), pool);

  const mailer = createMailer({ host: config.SMTP_HOST, port: config.SMTP_PORT });
  onStop('mailer', () => mailer.close());
  const all = createChoreographyServices({
    gateway: createHttpPaymentGateway({ baseUrl: config.PAYMENT_GATEWAY_URL }),
    // Only the payments group opens payment references: the others run without the vault's keys.
    vault: wanted.includes('payments') ? paymentVaultOf(config) : { tokenOf: () => Promise.reject(new Error('this process runs no payments group')) },
    mailer,
  });
  const registry = createMetricsRegistry('choreography');
  const runtime = await startChoreography({
    kafka,
    pool,
    producer,
    contracts,
    log,
    services: wanted.map((name) => all[name]),
    relays: config.OUTBOX_RELAYS,
    sweepIntervalMs: config.REVIEW_SWEEP_INTERVAL_MS,
    prefix: config.KAFKA_TOPIC_PREFIX,
    topicPartitions: config.KAFKA_TOPIC_PARTITIONS,
    replicationFactor: config.KAFKA_REPLICATION_FACTOR,
    topicRetentionMs: config.KAFKA_TOPIC_RETENTION_MS,
    topicSegmentMs: config.KAFKA_TOPIC_SEGMENT_MS,
    retryWindowMs: config.CONSUMER_RETRY_WINDOW_MS,
    sessionTimeoutMs: config.CONSUMER_SESSION_TIMEOUT_MS,
    keysConsumedConcurrently: config.CONSUMER_KEYS_CONCURRENTLY,
    metrics: createConsumerMetrics(registry),
    retention: {
      dedupe: dedupeWindowOf(config),
      outboxMs: config.OUTBOX_RETENTION_MS,
      notificationsMs: config.NOTIFICATIONS_RETENTION_MS,
      sweepIntervalMs: config.RETENTION_SWEEP_INTERVAL_MS,
    },
  });
  // Stops fetching, lets in-flight handlers finish and commit, then disconnects.
  onStop('consumers, relays and sweeper', () => runtime.stop());
  const metricsAdmin = kafka.admin();
  await metricsAdmin.connect();
  onStop('metrics admin', () => metricsAdmin.disconnect());
  registerKafkaBacklogMetrics(registry, metricsAdmin, runtime.consumers, log, deadLetterTopicOf);
  registerOutboxMetrics(registry, () => outboxBacklog(pool), log);
  registerStalledOrderMetrics(registry, pool, log);
  const metricsEndpoint = await serveMetrics(registry, { host: config.METRICS_HOST, port: config.METRICS_PORT });
  onStop('metrics endpoint', () => metricsEndpoint.close());
  log.info({ services: wanted, relays: config.OUTBOX_RELAYS, poolSize, metrics: metricsEndpoint.url }, 'choreography started');
}

runProcess(main);

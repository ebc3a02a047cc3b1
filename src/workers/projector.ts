/**
 * Process entry point: the read model projector (`npm run projector`), one consumer group over
 * every topic of both flows, keeping read_model.order_view and order_timeline. Stops on
 * SIGINT/SIGTERM. `npm run projector -- rebuild` (with the projector stopped) empties the read model
 * and rewinds the group, so the next start rebuilds it from the beginning of the topics.
 */
// First: tracing starts before any module loads pg.
import { tracing } from '../observability/register-tracing.ts';
import { Type } from 'typebox';
import { startProjector, projectorGroup, projectorPoolSize, rebuildReadModel } from '../projections/projector.ts';
import { deadLetterTopicOf } from '../messaging/topics.ts';
import { createRenewingProducer } from '../messaging/renewing-producer.ts';
import { registerKafkaBacklogMetrics } from '../observability/backlog-metrics.ts';
import { createConsumerMetrics } from '../observability/consumer-metrics.ts';
import { createMetricsRegistry, serveMetrics } from '../observability/metrics.ts';
import { createOrderMetrics } from '../observability/order-metrics.ts';
import {
  DatabaseEnv,
  KafkaEnv,
  LogEnv,
  RecordsRetentionEnv,
  RetentionEnv,
  SchemaRegistryEnv,
  checkRetentionOrder,
  loadConfig,
  metricsEnv,
  poolTimeoutsOf,
  schemaRegistryOf,
} from '../platform/config.ts';
import { dedupeWindowOf } from '../messaging/dedupe-window.ts';
import { registerWorkerContracts } from '../messaging/schema-registry.ts';
import { createPool } from '../platform/database.ts';
import { createKafka } from '../platform/kafka.ts';
import { createLogger } from '../platform/logger.ts';
import { migrateAll } from '../platform/migrations.ts';
import { runProcess, type ProcessLifecycle } from '../platform/process-lifecycle.ts';

async function main({ onStop, useLogger }: ProcessLifecycle): Promise<void> {
  onStop('tracing', () => tracing?.shutdown());
  const config = loadConfig(
    Type.Object({
      ...KafkaEnv,
      ...SchemaRegistryEnv,
      ...DatabaseEnv,
      // Unset: sized from the projector's concurrency (projectorPoolSize).
      DATABASE_POOL_MAX: Type.Optional(Type.Integer({ minimum: 1, description: 'connections of the pool; default: computed from the projector concurrency' })),
      ...LogEnv,
      ...metricsEnv(9467),
      ...RetentionEnv,
      READ_MODEL_RETENTION_MS: RecordsRetentionEnv.READ_MODEL_RETENTION_MS,
    }),
  );
  checkRetentionOrder(config);
  const log = createLogger('projector', config.LOG_LEVEL);
  useLogger(log);
  const pool = createPool(
    config.DATABASE_URL,
    config.DATABASE_POOL_MAX ?? projectorPoolSize,
    (err) => log.warn({ err }, 'database connection lost; the pool reconnects'),
    poolTimeoutsOf(config),
  );
  if (config.MIGRATE_ON_START) await migrateAll(config.DATABASE_URL);
  const kafka = createKafka(config, `${config.KAFKA_CLIENT_ID}-projector`);

  if (process.argv[2] === 'rebuild') {
    await rebuildReadModel(pool, kafka, `${config.KAFKA_TOPIC_PREFIX}${projectorGroup}`, config.KAFKA_TOPIC_PREFIX, dedupeWindowOf(config));
    await pool.end();
    log.info('read model emptied and projector group rewound: start the projector to rebuild it');
    return;
  }

  onStop('database pool', () => pool.end());
  const producer = createRenewingProducer(kafka, (err) => log.warn({ err }, 'a send failed; the next one goes through a new producer id'));
  await producer.connect();
  onStop('producer', () => producer.disconnect());
  const contracts = await registerWorkerContracts(schemaRegistryOf(config), pool);
  const registry = createMetricsRegistry('projector');
  const runner = await startProjector({
    kafka,
    pool,
    producer,
    contracts,
    log,
    prefix: config.KAFKA_TOPIC_PREFIX,
    topicPartitions: config.KAFKA_TOPIC_PARTITIONS,
    replicationFactor: config.KAFKA_REPLICATION_FACTOR,
    topicRetentionMs: config.KAFKA_TOPIC_RETENTION_MS,
    topicSegmentMs: config.KAFKA_TOPIC_SEGMENT_MS,
    metrics: { consumer: createConsumerMetrics(registry), orders: createOrderMetrics(registry) },
    retention: { dedupe: dedupeWindowOf(config), readModelMs: config.READ_MODEL_RETENTION_MS, sweepIntervalMs: config.RETENTION_SWEEP_INTERVAL_MS },
  });
  // Stops fetching, lets in-flight events finish and commit, then disconnects.
  onStop('consumer', () => runner.stop());
  const metricsAdmin = kafka.admin();
  await metricsAdmin.connect();
  onStop('metrics admin', () => metricsAdmin.disconnect());
  registerKafkaBacklogMetrics(registry, metricsAdmin, [runner], log, deadLetterTopicOf);
  const metricsEndpoint = await serveMetrics(registry, { host: config.METRICS_HOST, port: config.METRICS_PORT });
  onStop('metrics endpoint', () => metricsEndpoint.close());
  log.info({ metrics: metricsEndpoint.url }, 'projector started');
}

runProcess(main);

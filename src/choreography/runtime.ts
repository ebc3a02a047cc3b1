import type { Kafka } from 'kafkajs';
import type { MessageSender } from '../messaging/renewing-producer.ts';
import type pg from 'pg';
import type { Logger } from 'pino';
import { createConsumerRunner, defaultPartitionsConsumedConcurrently, type ConsumerRunner } from '../messaging/consumer-runner.ts';
import type { ConsumerMetrics } from '../observability/consumer-metrics.ts';
import { createOutboxRelay, type OutboxRelay } from '../messaging/outbox-relay.ts';
import type { EventContracts } from '../messaging/schema-registry.ts';
import { deadLetterTopicOf, ensureTopics } from '../messaging/topics.ts';
import { dedupeSweep, defaultDedupeWindow, type DedupeWindow } from '../messaging/dedupe-window.ts';
import { notificationsSweep } from '../contexts/notifications/retention.ts';
import { startSweeper } from '../platform/retention.ts';
import { sweepReviewDeadlines } from './order-commands.ts';
import type { ChoreographyService } from './services.ts';

/**
 * The connections the choreography of one process needs, to size its pool: one per partition a
 * group handles at a time (`partitionsConsumedConcurrently`), two per relay (its batch and its
 * LISTEN), one for the review sweeper, one for the retention sweeps and two for the gauges of /metrics (outbox, stalled orders). A
 * group may have more transactions waiting than that (several orders of a batch at once,
 * `keysConsumedConcurrently`); they are short and wait their turn for a connection, while the
 * network calls they make (gateway, SMTP) hold none. More connections would only add contention
 * on a database with as few cores as this machine.
 */
export function choreographyPoolSize(process: { groups: number; relays: number; sweeper: boolean; partitionsConsumedConcurrently?: number }): number {
  const perGroup = process.partitionsConsumedConcurrently ?? defaultPartitionsConsumedConcurrently;
  return process.groups * perGroup + process.relays * 2 + (process.sweeper ? 1 : 0) + 1 + 2;
}

/** Options of {@link startChoreography}. */
export interface ChoreographyRuntimeOptions {
  kafka: Kafka;
  pool: pg.Pool;
  /** Connected idempotent producer (relay and dead letters). */
  producer: MessageSender;
  /** The registered event schemas (src/messaging/schema-registry.ts). */
  contracts: EventContracts;
  log: Logger;
  services: ChoreographyService[];
  /** Outbox relays to run in this process (0 when another process runs the relay). @default 1 */
  relays?: number;
  /** Run the review-deadline sweeper every this many ms (0: not in this process). @default 5000 */
  sweepIntervalMs?: number;
  /** The sweeper's clock. @default () => new Date() */
  now?: () => Date;
  /** Prefix of topics and consumer groups (keeps environments or test runs apart). @default '' */
  prefix?: string;
  topicPartitions?: number;
  replicationFactor?: number;
  /** retention.ms and segment.ms of the topics (see TopicOptions). */
  topicRetentionMs?: number;
  topicSegmentMs?: number;
  /** How long the consumers retry a retryable failure before dead-lettering (see ConsumerRunnerOptions). */
  retryWindowMs?: number;
  /** Kafka session timeout of the consumers. */
  sessionTimeoutMs?: number;
  /** Orders of a fetched batch each consumer handles at once (see ConsumerRunnerOptions). */
  keysConsumedConcurrently?: number;
  metrics?: ConsumerMetrics;
  /** How long what this process's stores hold is kept (docs/retention.md); every part has a default. */
  retention?: Partial<ChoreographyRetention>;
}

/** The retentions the choreography enforces. */
export interface ChoreographyRetention {
  /** The consumers' dedupe window (messaging.processed_events). @default defaultDedupeWindow */
  dedupe: DedupeWindow;
  /** Sent outbox rows. @default 1 h */
  outboxMs: number;
  /** The notifications context's sent messages and recipients. @default 30 days */
  notificationsMs: number;
  /** How often the retention sweeps run (0: not in this process). @default 60_000 */
  sweepIntervalMs: number;
}

const defaultRetention: ChoreographyRetention = { dedupe: defaultDedupeWindow, outboxMs: 3_600_000, notificationsMs: 30 * 86_400_000, sweepIntervalMs: 60_000 };
/** Creates the topics (events and dead letters), starts the consumer groups, the relays and the sweeper. */
export async function startChoreography(options: ChoreographyRuntimeOptions) {
  const prefix = options.prefix ?? '';
  const groupIds = options.services.map((s) => `${prefix}${s.groupId}`);
  const admin = options.kafka.admin();
  await admin.connect();
  await ensureTopics(admin, {
    prefix,
    partitions: options.topicPartitions,
    replicationFactor: options.replicationFactor,
    retentionMs: options.topicRetentionMs,
    segmentMs: options.topicSegmentMs,
    extra: groupIds.map((g) => deadLetterTopicOf(g)),
  });
  await admin.disconnect();
  const retention = { ...defaultRetention, ...options.retention };

  const consumers: ConsumerRunner[] = options.services.map((service) =>
    createConsumerRunner({
      kafka: options.kafka,
      pool: options.pool,
      groupId: `${prefix}${service.groupId}`,
      producerName: service.producerName,
      handlers: service.handlers,
      producer: options.producer,
      contracts: options.contracts,
      log: options.log,
      topicPrefix: prefix,
      dedupeWindow: retention.dedupe,
      ...(options.retryWindowMs !== undefined ? { retryWindowMs: options.retryWindowMs } : {}),
      ...(options.sessionTimeoutMs ? { sessionTimeoutMs: options.sessionTimeoutMs } : {}),
      ...(options.keysConsumedConcurrently ? { keysConsumedConcurrently: options.keysConsumedConcurrently } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
    }),
  );
  await Promise.all(consumers.map((c) => c.start()));

  const relays: OutboxRelay[] = Array.from({ length: options.relays ?? 1 }, () =>
    createOutboxRelay({
      pool: options.pool,
      producer: options.producer,
      contracts: options.contracts,
      log: options.log,
      topicPrefix: prefix,
      retentionMs: retention.outboxMs,
    }),
  );
  const relayRuns = relays.map((relay) => relay.run());

  const now = options.now ?? (() => new Date());
  const sweepEvery = options.sweepIntervalMs ?? 5000;
  const sweeper =
    sweepEvery > 0
      ? setInterval(() => {
          sweepReviewDeadlines(options.pool, now()).catch((err: unknown) => options.log.error({ err }, 'review sweep failed'));
        }, sweepEvery)
      : undefined;
  // The dedupe partitions and the notifications' records; one process at a time per store.
  const sweeps = [dedupeSweep(retention.dedupe, options.log), notificationsSweep(retention.notificationsMs)];
  const retentionSweeper = startSweeper({ pool: options.pool, log: options.log, intervalMs: retention.sweepIntervalMs, sweeps });

  return {
    consumers,
    relays,
    /** Runs one sweep now with the sweeper's clock; returns how many orders it rejected. */
    sweep: () => sweepReviewDeadlines(options.pool, now()),
    /** Stops this instance's relays (the consumers go on); resolves once they have stopped. */
    async stopRelays(): Promise<void> {
      for (const relay of relays) relay.stop();
      await Promise.all(relayRuns);
    },
    /** Stops the sweeper, the consumers (finishing in-flight handlers) and the relays. */
    async stop(): Promise<void> {
      if (sweeper) clearInterval(sweeper);
      await retentionSweeper.stop();
      await Promise.all(consumers.map((c) => c.stop()));
      await this.stopRelays();
    },
  };
}

/** A running choreography. */
export type ChoreographyRuntime = Awaited<ReturnType<typeof startChoreography>>;

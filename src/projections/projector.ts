import type { Kafka } from 'kafkajs';
import { dedupeSweep, defaultDedupeWindow, type DedupeWindow } from '../messaging/dedupe-window.ts';
import { startSweeper } from '../platform/retention.ts';
import { readModelSweep } from './retention.ts';
import type { MessageSender } from '../messaging/renewing-producer.ts';
import type pg from 'pg';
import type { Logger } from 'pino';
import { eventTypes, type EventEnvelope, type EventType } from '../domain/events.ts';
import { createConsumerRunner, defaultPartitionsConsumedConcurrently, type EventHandler, type EventHandlers } from '../messaging/consumer-runner.ts';
import { validateEnvelope } from '../messaging/envelope.ts';
import type { EventContracts } from '../messaging/schema-registry.ts';
import { resetGroupToWindow } from '../messaging/dead-letters.ts';
import { deadLetterTopicOf, ensureTopics, topicOf } from '../messaging/topics.ts';
import type { Queryable } from '../platform/database.ts';
import type { ConsumerMetrics } from '../observability/consumer-metrics.ts';
import type { OrderMetrics } from '../observability/order-metrics.ts';
import { orderChangedChannel } from './order-changes.ts';
import { projectOrder, type OrderView } from './order-projection.ts';

/** Consumer group of the read model projector. */
export const projectorGroup = 'projector';

/**
 * An event's data as the read model keeps it: without the payment token that `order.placed`
 * events of orders accepted before the payments vault carried (the read model is no place for one,
 * and GET /orders/:id/events answers what it keeps). The event is in the current version: such a
 * token arrives as `payment.legacyToken` (src/messaging/upcasters.ts).
 */
function withoutPaymentToken(event: EventEnvelope): object {
  if (event.type !== 'order.placed' || !event.data.payment || 'ref' in event.data.payment) return event.data;
  const { payment: _dropped, ...rest } = event.data;
  return rest;
}

/**
 * Records `event` in the order's timeline (once: the event id is its key) and refolds the order's
 * view from its whole timeline, so a redelivered event changes nothing and an out-of-order one
 * lands where it belongs.
 */
export async function projectEvent(tx: Queryable, event: EventEnvelope): Promise<OrderView | null> {
  const inserted = await tx.query(
    `insert into read_model.order_timeline (event_id, order_id, type, occurred_at, flow, producer, correlation_id, causation_id, data, schema_version)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (event_id) do nothing`,
    [
      event.eventId,
      event.orderId,
      event.type,
      event.occurredAt,
      event.flow,
      event.producer,
      event.correlationId,
      event.causationId,
      JSON.stringify(withoutPaymentToken(event)),
      event.schemaVersion,
    ],
  );
  if (inserted.rowCount === 0) return null;
  // Serialises the refold of one order between projector instances.
  await tx.query('select pg_advisory_xact_lock(hashtext($1))', [event.orderId]);
  const { rows } = await tx.query<{
    event_id: string;
    type: EventType;
    occurred_at: Date;
    flow: EventEnvelope['flow'];
    producer: string;
    correlation_id: string;
    causation_id: string | null;
    data: unknown;
    schema_version: number;
  }>('select * from read_model.order_timeline where order_id = $1', [event.orderId]);
  // The timeline holds only events that were validated when they were consumed; validating them
  // again is what types each one's data by its type, and upcasts the rows of an earlier version.
  const view = projectOrder(
    rows.map((r) =>
      validateEnvelope({
        eventId: r.event_id,
        type: r.type,
        schemaVersion: r.schema_version,
        occurredAt: r.occurred_at.toISOString(),
        orderId: event.orderId,
        correlationId: r.correlation_id,
        causationId: r.causation_id,
        producer: r.producer,
        flow: r.flow,
        data: r.data,
      }),
    ),
  );
  await tx.query(
    // With the notice of the change, in the same statement (no round trip more per event): delivered
    // when the transaction commits, to every session listening (the API's live timelines,
    // src/projections/order-changes.ts); never when it rolls back.
    `with changed as (
       insert into read_model.order_view (order_id, flow, customer_id, items, status, reason, total_cents, currency, payment_status, stock_status, notified, event_count, placed_at, updated_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
       on conflict (order_id) do update set flow = excluded.flow, customer_id = excluded.customer_id, items = excluded.items, status = excluded.status, reason = excluded.reason,
         total_cents = excluded.total_cents, currency = excluded.currency, payment_status = excluded.payment_status, stock_status = excluded.stock_status,
         notified = excluded.notified, event_count = excluded.event_count, placed_at = excluded.placed_at, updated_at = excluded.updated_at
       returning order_id)
     select pg_notify($15, order_id) from changed`,
    [
      view.orderId,
      view.flow,
      view.customerId,
      JSON.stringify(view.items),
      view.status,
      view.reason,
      view.totalCents,
      view.currency,
      view.paymentStatus,
      view.stockStatus,
      view.notified,
      view.eventCount,
      view.placedAt,
      view.updatedAt,
      orderChangedChannel,
    ],
  );
  return view;
}

/**
 * The projector's handlers: every event type of both flows. The projector sees every order of
 * both flows end, so it also counts outcomes and saga durations, once per terminal event.
 */
export function projectorHandlers(metrics?: OrderMetrics): EventHandlers {
  const handler: EventHandler = async (event, ctx) => {
    const view = await projectEvent(ctx.tx, event);
    if (view && metrics && (event.type === 'order.confirmed' || event.type === 'order.cancelled')) metrics.orderEnded(event, view);
  };
  return Object.fromEntries(eventTypes.map((type) => [type, handler]));
}

/**
 * Rebuilds the read model from the topics: empties the tables, forgets what the (stopped)
 * projector group applied and moves it back to the start of its dedupe window; the next projector
 * start refolds every event since. The window (about the topics' retention) bounds what can be
 * rebuilt: an order older than that is gone from the rebuilt read model.
 */
export async function rebuildReadModel(
  pool: pg.Pool,
  kafka: Kafka,
  groupId: string,
  /** The topics' prefix (KAFKA_TOPIC_PREFIX): the group is moved on `<prefix><event type>`. */
  prefix: string,
  window: DedupeWindow = defaultDedupeWindow,
): Promise<void> {
  await pool.query('truncate read_model.order_view, read_model.order_timeline');
  await resetGroupToWindow(
    kafka,
    pool,
    groupId,
    eventTypes.map((type) => topicOf(type, prefix)),
    window,
    true,
  );
}

/**
 * Connections the projector uses at most at once: one per partition it handles at a time, one
 * for the stalled-orders gauge of /metrics and one for the retention sweeps.
 */
export const projectorPoolSize = defaultPartitionsConsumedConcurrently + 2;

/** Options of {@link startProjector}. */
export interface ProjectorOptions {
  kafka: Kafka;
  pool: pg.Pool;
  /** Connected producer, for dead letters. */
  producer: MessageSender;
  /** The registered event schemas (src/messaging/schema-registry.ts). */
  contracts: EventContracts;
  log: Logger;
  /** Prefix of topics and of the group name. @default '' */
  prefix?: string;
  topicPartitions?: number;
  replicationFactor?: number;
  /** retention.ms and segment.ms of the topics (see TopicOptions). */
  topicRetentionMs?: number;
  topicSegmentMs?: number;
  metrics?: { consumer: ConsumerMetrics; orders: OrderMetrics };
  /** How long the read model and the group's dedupe rows are kept (docs/retention.md); every part has a default. */
  retention?: Partial<ProjectorRetention>;
}

/** The retentions the projector enforces. */
export interface ProjectorRetention {
  /** The group's dedupe window (messaging.processed_events, shared with the choreography's groups). @default defaultDedupeWindow */
  dedupe: DedupeWindow;
  /** An ended order's view and timeline, after its last change. @default 400 days */
  readModelMs: number;
  /** How often the sweeps run (0: not in this process). @default 60_000 */
  sweepIntervalMs: number;
}

const defaultRetention: ProjectorRetention = { dedupe: defaultDedupeWindow, readModelMs: 400 * 86_400_000, sweepIntervalMs: 60_000 };
/** Creates the topics it needs and starts the projector's consumer group over both flows' events. */
export async function startProjector(options: ProjectorOptions) {
  const prefix = options.prefix ?? '';
  const retention = { ...defaultRetention, ...options.retention };
  const groupId = `${prefix}${projectorGroup}`;
  const admin = options.kafka.admin();
  await admin.connect();
  await ensureTopics(admin, {
    prefix,
    partitions: options.topicPartitions,
    replicationFactor: options.replicationFactor,
    retentionMs: options.topicRetentionMs,
    segmentMs: options.topicSegmentMs,
    extra: [deadLetterTopicOf(groupId)],
  });
  await admin.disconnect();
  const runner = createConsumerRunner({
    kafka: options.kafka,
    pool: options.pool,
    groupId,
    producerName: 'projector',
    handlers: projectorHandlers(options.metrics?.orders),
    producer: options.producer,
    contracts: options.contracts,
    log: options.log,
    topicPrefix: prefix,
    flow: 'any',
    dedupeWindow: retention.dedupe,
    ...(options.metrics ? { metrics: options.metrics.consumer } : {}),
  });
  await runner.start();
  // The read model's ended orders, and the dedupe partitions (also swept by the choreography;
  // a deployment of the orchestrated flow alone has no choreography process).
  const sweeps = [dedupeSweep(retention.dedupe, options.log), readModelSweep(retention.readModelMs)];
  const sweeper = startSweeper({ pool: options.pool, log: options.log, intervalMs: retention.sweepIntervalMs, sweeps });
  return {
    ...runner,
    /** Stops the sweeps and the consumer group. */
    async stop(): Promise<void> {
      await sweeper.stop();
      await runner.stop();
    },
  };
}

import { setTimeout as sleep } from 'node:timers/promises';
import { SpanStatusCode } from '@opentelemetry/api';
import type { Consumer, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type pg from 'pg';
import type { Logger } from 'pino';
import { InvalidEventError, OrderSagaError } from '../domain/errors.ts';
import type { EventData, EventEnvelope, EventType } from '../domain/events.ts';
import type { ConsumerMetrics } from '../observability/consumer-metrics.ts';
import { inProcessSpan } from '../observability/message-tracing.ts';
import { withTransaction } from '../platform/database.ts';
import { failpoint } from '../platform/failpoints.ts';
import { createEnvelope, validateEnvelope } from './envelope.ts';
import { deterministicEventId } from './event-ids.ts';
import { addToOutbox } from './outbox.ts';
import { deadLetterTopicOf, topicOf } from './topics.ts';

/** What a handler gets besides the event: the transaction of its effect, and a way to emit events. */
export interface HandlerContext {
  /** The transaction the effect must use; the dedupe row and the emitted events commit with it. */
  tx: pg.PoolClient;
  /**
   * Adds an event caused by this one to the outbox, in the same transaction. `discriminator`
   * tells apart two events of one type caused by the same event (e.g. two emails).
   */
  emit<T extends EventType>(type: T, data: EventData<T>, discriminator?: string): void;
  log: Logger;
}

/** Applies one event. Throw an OrderSagaError with `retryable: false` to dead-letter at once. */
export type EventHandler = (event: EventEnvelope, ctx: HandlerContext) => Promise<void>;

/** Options of {@link createConsumerRunner}. */
export interface ConsumerRunnerOptions {
  kafka: Kafka;
  pool: pg.Pool;
  /** The consumer group; also the `producer` of the events it emits and the name of its DLQ. */
  groupId: string;
  /** The context name written as `producer` in emitted events. */
  producerName: string;
  handlers: Partial<Record<EventType, EventHandler>>;
  /** Connected producer for dead letters. */
  producer: Producer;
  log: Logger;
  /** Only events of this flow are applied (`any`: both); the others are skipped. @default 'choreographed' */
  flow?: EventEnvelope['flow'] | 'any';
  /** Attempts before a message is dead-lettered. @default 5 */
  maxAttempts?: number;
  /** First backoff; doubles each attempt, with full jitter. @default 200 */
  baseBackoffMs?: number;
  /** Longest single backoff; keeps all attempts well inside the session timeout. @default 3000 */
  maxBackoffMs?: number;
  topicPrefix?: string;
  /** How long `stop()` waits for in-flight handlers before it gives up. @default 15_000 */
  shutdownTimeoutMs?: number;
  /** Kafka session timeout: how soon a member that died loses its partitions. @default 30_000 */
  sessionTimeoutMs?: number;
  /** Counts events by outcome and times handlers, when given. */
  metrics?: ConsumerMetrics;
  /**
   * Topic-partitions handled at the same time, each one's messages in order. The events of one
   * order are still applied one at a time (an advisory lock per group and order). @default 3
   */
  partitionsConsumedConcurrently?: number;
}

/** Headers a dead letter carries, besides the original message's own. */
export const deadLetterHeaders = {
  topic: 'dlq-original-topic',
  partition: 'dlq-original-partition',
  offset: 'dlq-original-offset',
  error: 'dlq-error',
  attempts: 'dlq-attempts',
  group: 'dlq-consumer-group',
  failedAt: 'dlq-failed-at',
} as const;

/** Kafka headers as text (kafkajs hands them over as Buffers, or arrays of them). */
export const headerText = (headers: IHeaders | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(headers ?? {}).flatMap(([k, v]) => (v === undefined ? [] : [[k, Array.isArray(v) ? v.map(String).join(',') : String(v)]])));

/** Backoff before attempt `attempt + 1`: exponential, capped, with full jitter. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  return Math.round(random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
}

/**
 * Applies `event` with `handler` once for this group, in one transaction with its dedupe row and
 * the events it emits; false when the group had already applied it. What the runner does with each
 * message; exported so tests can apply events side by side.
 */
export async function applyEvent(options: Pick<ConsumerRunnerOptions, 'pool' | 'groupId' | 'producerName'>, event: EventEnvelope, handler: EventHandler, eventLog: Logger): Promise<boolean> {
  return withTransaction(options.pool, async (tx) => {
    // An order's events sit on several topics, which are handled concurrently (partitions of
    // one member, or two members). Without this lock, two handlers of one order could each miss
    // what the other has not committed yet (the notifications group once queued an email and
    // stored the recipient at the same time, and neither sent it). With it, the events of one
    // order are applied one after the other in each group.
    await tx.query('select pg_advisory_xact_lock(hashtext($1), hashtext($2))', [options.groupId, event.orderId]);
    const fresh = await tx.query('insert into messaging.processed_events (consumer_group, event_id) values ($1, $2) on conflict do nothing', [options.groupId, event.eventId]);
    if (fresh.rowCount === 0) return false;
    const emitted: EventEnvelope[] = [];
    await handler(event, {
      tx,
      log: eventLog,
      emit: (type, data, discriminator = '') => {
        emitted.push(
          createEnvelope({
            // Derived from this group and the cause: a handler that runs again emits the same ids.
            eventId: deterministicEventId(options.groupId, event.eventId, type, discriminator),
            type,
            orderId: event.orderId,
            correlationId: event.correlationId,
            causationId: event.eventId,
            producer: options.producerName,
            flow: event.flow,
            data,
          }),
        );
      },
    });
    await addToOutbox(tx, emitted);
    return true;
  });
}

/**
 * The consumer runner every choreography service shares: one consumer group, its handlers by
 * event type, and the delivery guarantees around them.
 *
 * - Each event is applied in one PostgreSQL transaction that also inserts
 *   `(group, eventId)` into `messaging.processed_events` (ON CONFLICT DO NOTHING) and the events it
 *   causes into the outbox: a redelivered event finds its row and applies nothing.
 * - A retryable failure is retried in place with exponential backoff and jitter, heartbeating
 *   between attempts, at most `maxAttempts` times (a few seconds in all, far inside the session
 *   timeout).
 * - A poison message (not JSON, not an event of the catalog, an unknown schema version), a
 *   non-retryable failure, or the last failed attempt goes to `dlq.<group>` with the original
 *   topic, partition, offset, error and attempts in headers; the offset is then committed and the
 *   partition moves on.
 * - Up to `partitionsConsumedConcurrently` topic-partitions are handled at once, each in order;
 *   the events of one order are applied one at a time in each group (advisory lock per group and
 *   order, taken first in the transaction), whichever member or partition they come from.
 */
export function createConsumerRunner(options: ConsumerRunnerOptions) {
  const maxAttempts = options.maxAttempts ?? 5;
  const baseBackoff = options.baseBackoffMs ?? 200;
  const maxBackoff = options.maxBackoffMs ?? 3000;
  const prefix = options.topicPrefix ?? '';
  const flow = options.flow ?? 'choreographed';
  const types = Object.keys(options.handlers) as EventType[];
  const typeByTopic = new Map(types.map((type) => [topicOf(type, prefix), type]));
  const sessionTimeout = options.sessionTimeoutMs ?? 30_000;
  const consumer: Consumer = options.kafka.consumer({ groupId: options.groupId, sessionTimeout, heartbeatInterval: Math.min(3000, Math.floor(sessionTimeout / 3)) });
  const log = options.log.child({ consumerGroup: options.groupId });
  const count = (type: string, result: 'applied' | 'duplicate' | 'skipped' | 'retried' | 'dead_lettered') => options.metrics?.events.inc({ group: options.groupId, type, result });

  async function deadLetter(topic: string, partition: number, message: KafkaMessage, error: string, attempts: number, eventLog: Logger = log, type = 'unknown'): Promise<void> {
    const headers = headerText(message.headers);
    await options.producer.send({
      topic: deadLetterTopicOf(options.groupId),
      acks: -1,
      messages: [
        {
          key: message.key,
          value: message.value,
          headers: {
            ...headers,
            [deadLetterHeaders.topic]: topic,
            [deadLetterHeaders.partition]: String(partition),
            [deadLetterHeaders.offset]: message.offset,
            [deadLetterHeaders.error]: error.slice(0, 1000),
            [deadLetterHeaders.attempts]: String(attempts),
            [deadLetterHeaders.group]: options.groupId,
            [deadLetterHeaders.failedAt]: new Date().toISOString(),
          },
        },
      ],
    });
    count(type, 'dead_lettered');
    eventLog.warn({ topic, partition, offset: message.offset, error, attempts }, 'message dead-lettered');
  }

  async function handleMessage(topic: string, partition: number, message: KafkaMessage, heartbeat: () => Promise<void>): Promise<void> {
    let event: EventEnvelope;
    try {
      event = validateEnvelope(JSON.parse(message.value?.toString() ?? ''));
    } catch (err) {
      const reason = err instanceof InvalidEventError ? err.message : `not JSON: ${(err as Error).message}`;
      await deadLetter(topic, partition, message, reason, 1);
      return;
    }
    // Every line about this event names it, its order and the order's journey.
    const eventLog = log.child({ eventId: event.eventId, type: event.type, orderId: event.orderId, correlationId: event.correlationId });
    const handler = options.handlers[event.type];
    if (typeByTopic.get(topic) !== event.type) {
      await deadLetter(topic, partition, message, `event of type ${event.type} on topic ${topic}`, 1, eventLog, event.type);
      return;
    }
    if (!handler || (flow !== 'any' && event.flow !== flow)) {
      count(event.type, 'skipped');
      return;
    }
    const headers = headerText(message.headers);
    // The handling of this message continues the trace of the producer that wrote it.
    await inProcessSpan(topic, options.groupId, event.orderId, headers, async (span) => {
      for (let attempt = 1; ; attempt++) {
        const stopTimer = options.metrics?.handlerDuration.startTimer({ group: options.groupId, type: event.type });
        try {
          const applied = await applyEvent(options, event, handler, eventLog);
          stopTimer?.();
          count(event.type, applied ? 'applied' : 'duplicate');
          span.setAttributes({ 'order_saga.event.applied': applied, 'order_saga.attempts': attempt });
          eventLog.info({ attempt }, applied ? 'event applied' : 'duplicate event skipped');
          failpoint('consumer-after-apply');
          return;
        } catch (err) {
          stopTimer?.();
          const retryable = !(err instanceof OrderSagaError) || err.retryable;
          if (!retryable || attempt >= maxAttempts) {
            const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
            span.setAttributes({ 'order_saga.dead_lettered': true, 'order_saga.attempts': attempt });
            span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
            await deadLetter(topic, partition, message, reason, attempt, eventLog, event.type);
            return;
          }
          count(event.type, 'retried');
          eventLog.info({ attempt, err }, 'handler failed; retrying');
          await sleep(backoffMs(attempt, baseBackoff, maxBackoff));
          await heartbeat();
        }
      }
    });
  }

  return {
    groupId: options.groupId,
    /** The topics this group reads. */
    topics: [...typeByTopic.keys()],
    consumer,

    /** Joins the group and starts consuming; resolves once the consumer runs. */
    async start(): Promise<void> {
      await consumer.connect();
      await consumer.subscribe({ topics: [...typeByTopic.keys()], fromBeginning: true });
      await consumer.run({
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 3,
        eachMessage: (payload) => handleMessage(payload.topic, payload.partition, payload.message, () => payload.heartbeat()),
      });
    },

    /** Stops fetching, lets the handler in flight finish, commits and leaves the group, within the shutdown timeout. */
    async stop(): Promise<void> {
      const limit = options.shutdownTimeoutMs ?? 15_000;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`consumer ${options.groupId} did not stop within ${limit} ms`)), limit);
      });
      try {
        await Promise.race([consumer.disconnect(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** A running consumer group member. */
export type ConsumerRunner = ReturnType<typeof createConsumerRunner>;

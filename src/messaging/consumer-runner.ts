import { SpanStatusCode } from '@opentelemetry/api';
import type { Consumer, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import type { MessageSender } from './renewing-producer.ts';
import type pg from 'pg';
import type { Logger } from 'pino';
import { DataRejectedError, EventOutsideDedupeWindowError, InvalidEventError, OrderSagaError, SchemaRegistryUnavailableError } from '../domain/errors.ts';
import { eventTypes, type EventData, type EventEnvelope, type EventType } from '../domain/events.ts';
import type { ConsumerMetrics } from '../observability/consumer-metrics.ts';
import { inProcessSpan } from '../observability/message-tracing.ts';
import { withTransaction } from '../platform/database.ts';
import { isDeterministicDatabaseError, isTransientDatabaseError } from '../platform/database-errors.ts';
import { failpoint } from '../platform/failpoints.ts';
import { defaultDedupeWindow, ensureDedupePartitions, isMissingPartitionError, type DedupeWindow } from './dedupe-window.ts';
import { createEnvelope, validateEnvelope } from './envelope.ts';
import { deterministicEventId } from './event-ids.ts';
import { schemaIdHeader } from './event-schemas.ts';
import { addToOutbox, outboxInsert, outboxRows } from './outbox.ts';
import type { EventContracts } from './schema-registry.ts';
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

/**
 * A call to another system (the payment gateway, SMTP) that a handler needs, made outside any
 * database transaction, and what to record once it answered. See {@link EventHandler}.
 */
export interface NetworkStep {
  /** Runs with no transaction open; throws to have the event retried (with the same idempotency key). */
  call(): Promise<unknown>;
  /** Records the answer, in the transaction that also marks the event applied. */
  record(result: unknown, ctx: HandlerContext): Promise<void>;
}

/** Builds a {@link NetworkStep}, keeping the type of the call's result for `record`. */
export function networkStep<R>(call: () => Promise<R>, record: (result: R, ctx: HandlerContext) => Promise<void>): NetworkStep {
  return { call, record: (result, ctx) => record(result as R, ctx) };
}

/**
 * Applies one event. Throw an OrderSagaError with `retryable: false` to dead-letter at once.
 *
 * A handler that must call another system records its intent in `ctx.tx` and returns a
 * {@link NetworkStep}, so that no transaction (with its row and advisory locks) waits on the
 * network. The runner commits the intent *without* marking the event applied, makes the call,
 * and records the answer in a second transaction that marks it applied. A crash or a failed call
 * in between leaves the event unapplied: it is delivered again, the handler finds its intent and
 * returns the same call, which must therefore be idempotent (an idempotency key derived from the
 * order).
 */
export type EventHandler<T extends EventType = EventType> = (event: EventEnvelope<T>, ctx: HandlerContext) => Promise<void | NetworkStep>;

/**
 * A consumer group's handlers by event type: the handler of a type gets that type's envelope, so
 * `event.data` is typed without a cast. The group reads the topics of exactly these types.
 */
export type EventHandlers = { [T in EventType]?: EventHandler<T> };

/** The handler of events of type `type`, typed for that type (the map is keyed by type). */
export function handlerFor<T extends EventType>(handlers: EventHandlers, type: T): EventHandler<T> | undefined {
  return handlers[type];
}

/** The event types `handlers` handles, in catalog order: the topics its group subscribes to. */
export function handledTypes(handlers: EventHandlers): EventType[] {
  return eventTypes.filter((type) => Object.hasOwn(handlers, type));
}

/** Options of {@link createConsumerRunner}. */
export interface ConsumerRunnerOptions {
  kafka: Kafka;
  pool: pg.Pool;
  /** The consumer group; also the `producer` of the events it emits and the name of its DLQ. */
  groupId: string;
  /** The context name written as `producer` in emitted events. */
  producerName: string;
  handlers: EventHandlers;
  /** Connected producer for dead letters. */
  producer: MessageSender;
  /** The registered schemas each message is checked against (by the id in its `schema-id` header). */
  contracts: EventContracts;
  log: Logger;
  /** Only events of this flow are applied (`any`: both); the others are skipped. @default 'choreographed' */
  flow?: EventEnvelope['flow'] | 'any';
  /**
   * How long a retryable failure (gateway or SMTP unavailable, an event not published, any
   * unexpected error) is retried, counted from its first failure, before the event is
   * dead-lettered. Long enough to ride out a restart or a short outage of a dependency; meanwhile
   * the event's partition is paused behind it (head-of-line), the group's other partitions are
   * not. 0 dead-letters at the first failure.
   * @default defaultRetryWindowMs (5 min)
   */
  retryWindowMs?: number;
  /** First backoff; doubles each attempt, with full jitter. @default 200 */
  baseBackoffMs?: number;
  /** Longest single backoff: how soon at worst an attempt follows a dependency's return. @default 3000 */
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
  /**
   * Orders (message keys) of one fetched batch handled at the same time, each one's events in
   * partition order. An event that waits (a slow gateway call, a retry's backoff) holds up only
   * its own order's later events; the other orders of the batch go on. 1 handles a partition's
   * messages one at a time. @default defaultKeysConsumedConcurrently (8)
   */
  keysConsumedConcurrently?: number;
  /**
   * How long the group remembers the events it applied: an older event is refused (dead-lettered
   * as EVENT_OUTSIDE_DEDUPE_WINDOW), never applied twice. @default defaultDedupeWindow (8 days, partitions of 1 day)
   */
  dedupeWindow?: DedupeWindow;
}

/**
 * How long a runner retries a retryable failure unless told otherwise: 5 min. A restart of the
 * gateway simulator took about 1 s and stranded orders when the budget was 5 attempts (about 2 s);
 * a rolling restart or failover of a real dependency takes tens of seconds to a few minutes.
 */
export const defaultRetryWindowMs = 5 * 60_000;

/** Topic-partitions a runner handles at the same time unless told otherwise. */
export const defaultPartitionsConsumedConcurrently = 3;

/**
 * Orders of one batch a runner handles at the same time unless told otherwise. With one event at
 * a time per partition, a payment that waited for the gateway (or for a retry's backoff) held up
 * every order behind it: the payments hop took seconds at 20 orders/s while every other hop took
 * tens of milliseconds (docs/comparison.md).
 */
export const defaultKeysConsumedConcurrently = 8;

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

/**
 * What the runner does after a failed attempt:
 * - `dead-letter`: a retry cannot help (a non-retryable business error, or data the database
 *   refuses: SQLSTATE class 22/23, wrapped into {@link DataRejectedError});
 * - `wait-for-database`: the database is away or busy; the event is retried until it is back,
 *   however long that takes, because dead-lettering it would strand a healthy order;
 * - `retry`: anything else, for up to `retryWindowMs` from its first failure.
 */
export type FailureHandling = { action: 'dead-letter'; error: unknown } | { action: 'wait-for-database' } | { action: 'retry' };

/** Decides how the runner handles a handler's error (see {@link FailureHandling}). */
export function classifyFailure(err: unknown): FailureHandling {
  // The row's partition is not there yet (class 23, but not the data's fault): made, then retried.
  if (isMissingPartitionError(err)) return { action: 'retry' };
  if (err instanceof OrderSagaError) return err.retryable ? { action: 'retry' } : { action: 'dead-letter', error: err };
  if (isDeterministicDatabaseError(err)) return { action: 'dead-letter', error: new DataRejectedError((err as Error).message, { cause: err }) };
  if (isTransientDatabaseError(err)) return { action: 'wait-for-database' };
  return { action: 'retry' };
}

/** Backoff before attempt `attempt + 1`: exponential, capped, with full jitter. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  return Math.round(random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
}

/**
 * Applies `event` with `handler` once for this group, in one transaction with its dedupe row and
 * the events it emits (in two transactions around the call when the handler returns a
 * {@link NetworkStep}); false when the group had already applied it. What the runner does with
 * each message; exported so tests can apply events side by side.
 */
export async function applyEvent<T extends EventType>(
  options: Pick<ConsumerRunnerOptions, 'pool' | 'groupId' | 'producerName'>,
  event: EventEnvelope<T>,
  handler: EventHandler<T>,
  eventLog: Logger,
): Promise<boolean> {
  const first = await inEventTransaction<{ applied: boolean } | { step: NetworkStep }>(options, event, eventLog, async (ctx, marks) => {
    if (await wasApplied(ctx.tx, options.groupId, event)) return { applied: false };
    const step = await handler(event, ctx);
    // With a network step, the intent commits now and the event is marked applied after the call.
    if (step) return { step };
    // Not applied before, and no other transaction of this group and order can run meanwhile (the
    // advisory lock): the dedupe row goes in with the outbox rows, one statement for both.
    marks.markAppliedWithOutbox();
    return { applied: true };
  });
  if (!('step' in first)) return first.applied;

  const { step } = first;
  const result = await step.call();
  return inEventTransaction(options, event, eventLog, async (ctx, marks) => {
    // Another member may have finished the same event meanwhile (after a rebalance): record once.
    if (!(await marks.markApplied())) return false;
    await step.record(result, ctx);
    return true;
  });
}

/** Whether the group has applied this event already. */
async function wasApplied(tx: pg.PoolClient, groupId: string, event: EventEnvelope): Promise<boolean> {
  // By the event's time too, so that only its partition is read (and the one of the rows from
  // before the table was partitioned, which kept no time: -infinity).
  const { rowCount } = await tx.query(
    "select 1 from messaging.processed_events where consumer_group = $1 and event_id = $2 and occurred_at in ($3, '-infinity')",
    [groupId, event.eventId, event.occurredAt],
  );
  return (rowCount ?? 0) > 0;
}

/** The ways {@link inEventTransaction} gives its work to mark the event applied by the group. */
interface ApplyMarks {
  /** Inserts the dedupe row now; false when the group had applied the event already. */
  markApplied(): Promise<boolean>;
  /** Inserts the dedupe row with the emitted events' outbox rows, in one statement before the commit. */
  markAppliedWithOutbox(): void;
}

/**
 * One transaction of an event's handling: takes the per-order lock, gives `work` a handler context
 * and the ways to mark the event applied, and adds the events it emitted to the outbox before the
 * commit.
 */
async function inEventTransaction<T>(
  options: Pick<ConsumerRunnerOptions, 'pool' | 'groupId' | 'producerName'>,
  event: EventEnvelope,
  eventLog: Logger,
  work: (ctx: HandlerContext, marks: ApplyMarks) => Promise<T>,
): Promise<T> {
  return withTransaction(options.pool, async (tx) => {
    // An order's events sit on several topics, which are handled concurrently (partitions of
    // one member, or two members). Without this lock, two handlers of one order could each miss
    // what the other has not committed yet (the notifications group once queued an email and
    // stored the recipient at the same time, and neither sent it). With it, the transactions of
    // one order's events take turns in each group.
    await tx.query('select pg_advisory_xact_lock(hashtext($1), hashtext($2))', [options.groupId, event.orderId]);
    const emitted: EventEnvelope[] = [];
    const ctx: HandlerContext = {
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
    };
    const markDedupeRow = 'insert into messaging.processed_events (consumer_group, event_id, occurred_at) values ($1, $2, $3) on conflict do nothing';
    const dedupeRow = [options.groupId, event.eventId, event.occurredAt];
    let markWithOutbox = false;
    const marks: ApplyMarks = {
      markApplied: async () => {
        const fresh = await tx.query(markDedupeRow, dedupeRow);
        return fresh.rowCount !== 0;
      },
      markAppliedWithOutbox: () => {
        markWithOutbox = true;
      },
    };
    const result = await work(ctx, marks);
    // Each statement is a round trip, and round trips are what an event costs (docs/throughput.md).
    // An insert into the outbox wakes the relay even when it inserts no row (a statement trigger):
    // with nothing emitted, the dedupe row goes in alone.
    if (markWithOutbox && emitted.length > 0) await tx.query(`with applied as (${markDedupeRow}) ${outboxInsert(4)}`, [...dedupeRow, ...outboxRows(emitted)]);
    else if (markWithOutbox) await tx.query(markDedupeRow, dedupeRow);
    else await addToOutbox(tx, emitted);
    return result;
  });
}

/** Where an event that failed retryably stands between its deliveries. */
interface RetryState {
  topic: string;
  partition: number;
  /** Attempts made so far, over every delivery. */
  attempt: number;
  /** Time spent retrying retryable failures, from each such failure to the next one. */
  retriedMs: number;
  /** When the last attempt failed retryably; undefined after any other outcome. */
  lastRetryableFailureAt: number | undefined;
}

const partitionKey = (topic: string, partition: number) => `${topic}|${partition}`;

/** Runs `work` on every item, at most `limit` at a time. */
async function forEachConcurrently<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
const messageKey = (topic: string, partition: number, offset: string) => `${topic}|${partition}|${offset}`;

/**
 * The consumer runner every choreography service shares: one consumer group, its handlers by
 * event type, and the delivery guarantees around them.
 *
 * - Each event is applied in one PostgreSQL transaction that also inserts
 *   `(group, eventId)` into `messaging.processed_events` (ON CONFLICT DO NOTHING) and the events it
 *   causes into the outbox: a redelivered event finds its row and applies nothing.
 * - A retryable failure is retried with exponential backoff (capped, full jitter) for
 *   `retryWindowMs` from its first failure (5 min by default: a dependency's restart or short
 *   outage dead-letters nothing). The later events of its order wait behind it; the other orders
 *   of its batch are handled meanwhile. Then the topic-partition is paused until the backoff has
 *   passed and fetched again from the event (what was handled after it is remembered and not
 *   handled again); the member goes on fetching, applying and heartbeating for its other
 *   partitions. The attempts and the
 *   time retried so far are kept by topic, partition and offset across the redeliveries.
 * - A transient database failure (connection refused or lost, server shutting down) is retried
 *   the same way for as long as the database is away, without using up the window: an outage
 *   dead-letters nothing and the event is applied once the database is back (once: its dedupe
 *   row commits with its effect).
 * - A message whose writer's schema this process has not cached while the schema registry is away
 *   waits the same way until the registry answers; with every schema in use cached, an outage of
 *   the registry changes nothing.
 * - A poison message (not JSON, without a `schema-id` header or with an id the registry does not
 *   know, not matching the schema it names, not an event of the catalog, an unknown schema
 *   version), a
 *   non-retryable failure, data the database refuses (class 22/23, as {@link DataRejectedError}),
 *   or a retryable failure still failing at the end of its window goes to `dlq.<group>` with the original
 *   topic, partition, offset, error and attempts in headers; the offset is then committed and the
 *   partition moves on.
 * - Up to `partitionsConsumedConcurrently` topic-partitions are handled at once and, in each
 *   fetched batch, up to `keysConsumedConcurrently` orders (message keys) at once, each order's
 *   events in partition order; offsets are committed up to the first event not done yet. The
 *   events of one order are applied one at a time in each group (advisory lock per group and
 *   order, taken first in the transaction), whichever member or partition they come from.
 */
export function createConsumerRunner(options: ConsumerRunnerOptions) {
  const retryWindow = options.retryWindowMs ?? defaultRetryWindowMs;
  const baseBackoff = options.baseBackoffMs ?? 200;
  const maxBackoff = options.maxBackoffMs ?? 3000;
  const prefix = options.topicPrefix ?? '';
  const flow = options.flow ?? 'choreographed';
  const dedupeWindow = options.dedupeWindow ?? defaultDedupeWindow;
  const types = handledTypes(options.handlers);
  const typeByTopic = new Map(types.map((type) => [topicOf(type, prefix), type]));
  const sessionTimeout = options.sessionTimeoutMs ?? 30_000;
  const heartbeatInterval = Math.min(3000, Math.floor(sessionTimeout / 3));
  const consumer: Consumer = options.kafka.consumer({ groupId: options.groupId, sessionTimeout, heartbeatInterval });
  const log = options.log.child({ consumerGroup: options.groupId });
  const count = (type: string, result: 'applied' | 'duplicate' | 'skipped' | 'retried' | 'dead_lettered') =>
    options.metrics?.events.inc({ group: options.groupId, type, result });
  // Where each event that failed retryably stands, kept across its redeliveries (key: topic,
  // partition, offset): the window and the backoff go on where the last attempt left them.
  const retries = new Map<string, RetryState>();
  // The partitions this member paused behind a failed event, with the timer that resumes each.
  const pausedPartitions = new Map<string, { topic: string; partition: number; timer: NodeJS.Timeout | undefined; resume: () => void }>();
  // Offsets of a paused partition handled already, past the one that failed (other orders of its
  // batch): skipped when the partition is fetched again from the failed event. Their effects are
  // committed; only their offsets could not be, as offsets commit in order.
  const doneAhead = new Map<string, Set<string>>();
  const keysConcurrently = Math.max(1, options.keysConsumedConcurrently ?? defaultKeysConsumedConcurrently);
  let stopped = false;

  /**
   * Stops fetching `topic`/`partition` for `ms`, then fetches it again from its first unresolved
   * offset: the event that failed. Only this partition waits; the member goes on fetching (and
   * heartbeating) for the others. kafkajs fetches per broker and not again until every batch of the
   * last fetch is done, so a handler that slept here held up every partition of the group.
   */
  function pausePartition(topic: string, partition: number, ms: number, pause: () => () => void): void {
    const key = partitionKey(topic, partition);
    const resume = pause();
    // After stop() nothing resumes it (the next member fetches the event again), and no timer is left behind.
    const timer = stopped
      ? undefined
      : setTimeout(() => {
          pausedPartitions.delete(key);
          resume();
        }, ms);
    pausedPartitions.set(key, { topic, partition, timer, resume });
  }

  /** After a rebalance: forgets the retries and pauses of the partitions this member no longer has. */
  function forgetRevoked(assignment: Record<string, number[]>): void {
    const kept = (topic: string, partition: number) => assignment[topic]?.includes(partition) ?? false;
    for (const [key, paused] of pausedPartitions) {
      if (kept(paused.topic, paused.partition)) continue;
      clearTimeout(paused.timer);
      // kafkajs keeps a pause across a rebalance: a partition assigned back later must not stay paused.
      paused.resume();
      pausedPartitions.delete(key);
    }
    for (const [key, state] of retries) if (!kept(state.topic, state.partition)) retries.delete(key);
    for (const key of doneAhead.keys()) {
      const [topic, partition] = [key.slice(0, key.lastIndexOf('|')), Number(key.slice(key.lastIndexOf('|') + 1))];
      if (!kept(topic, partition)) doneAhead.delete(key);
    }
  }
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => forgetRevoked(payload.memberAssignment));

  async function deadLetter(
    topic: string,
    partition: number,
    message: KafkaMessage,
    error: string,
    attempts: number,
    eventLog: Logger = log,
    type = 'unknown',
  ): Promise<void> {
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

  /**
   * Makes one attempt at `message`. Resolves with how long to wait before the next attempt when it
   * failed retryably (the caller pauses the partition and leaves the message unresolved), or with
   * undefined once the message is done with (applied, a duplicate, skipped or dead-lettered).
   */
  /**
   * The event a message carries, in the current schema version: its value parsed, checked against
   * the schema it was written with (the registry id in its `schema-id` header), then against the
   * catalog, earlier versions upcast.
   * @throws InvalidEventError (or a SyntaxError for a value that is not JSON): dead-letter it
   * @throws SchemaRegistryUnavailableError: the writer's schema is not cached and the registry does not answer
   */
  async function decode(message: KafkaMessage): Promise<EventEnvelope> {
    const value: unknown = JSON.parse(message.value?.toString() ?? '');
    const id = headerText(message.headers)[schemaIdHeader];
    if (id === undefined) throw new InvalidEventError(`no ${schemaIdHeader} header: every event carries the registry id of the schema it was written with`);
    if (!/^[1-9]\d{0,9}$/.test(id)) throw new InvalidEventError(`${schemaIdHeader} header ${JSON.stringify(id.slice(0, 40))} is not a registry id`);
    await options.contracts.checkWriterSchema(Number(id), value);
    return validateEnvelope(value);
  }

  async function handleMessage(topic: string, partition: number, message: KafkaMessage): Promise<number | undefined> {
    let event: EventEnvelope;
    try {
      event = await decode(message);
    } catch (err) {
      if (err instanceof SchemaRegistryUnavailableError) {
        // Not the message's fault: it waits, as for a database outage, until the registry answers.
        const key = messageKey(topic, partition, message.offset);
        const state = retries.get(key) ?? { topic, partition, attempt: 0, retriedMs: 0, lastRetryableFailureAt: undefined };
        state.attempt += 1;
        retries.set(key, state);
        const retryInMs = backoffMs(Math.min(state.attempt, 16), baseBackoff, maxBackoff);
        count('unknown', 'retried');
        log.warn({ topic, partition, offset: message.offset, err, retryInMs }, 'schema registry unavailable; retrying until it answers');
        return retryInMs;
      }
      const reason = err instanceof InvalidEventError ? err.message : `not JSON: ${(err as Error).message}`;
      await deadLetter(topic, partition, message, reason, 1);
      retries.delete(messageKey(topic, partition, message.offset));
      return undefined;
    }
    // Every line about this event names it, its order and the order's journey.
    const eventLog = log.child({ eventId: event.eventId, type: event.type, orderId: event.orderId, correlationId: event.correlationId });
    const handler = handlerFor(options.handlers, event.type);
    if (typeByTopic.get(topic) !== event.type) {
      await deadLetter(topic, partition, message, `event of type ${event.type} on topic ${topic}`, 1, eventLog, event.type);
      return undefined;
    }
    if (!handler || (flow !== 'any' && event.flow !== flow)) {
      count(event.type, 'skipped');
      return undefined;
    }
    // Older than the dedupe window: its dedupe row may be gone, so applying it could apply it twice.
    const windowStart = Date.now() - dedupeWindow.retentionMs;
    if (Date.parse(event.occurredAt) < windowStart) {
      const refused = new EventOutsideDedupeWindowError(event.occurredAt, new Date(windowStart).toISOString());
      await deadLetter(topic, partition, message, `${refused.name}: ${refused.message}`, 1, eventLog, event.type);
      retries.delete(messageKey(topic, partition, message.offset));
      return undefined;
    }
    const headers = headerText(message.headers);
    const key = messageKey(topic, partition, message.offset);
    // `attempt` counts every try. `retriedMs` is the time spent retrying retryable failures (from
    // each such failure to the next one); a database outage does not use up the window of the
    // event that waits for it.
    const state = retries.get(key) ?? { topic, partition, attempt: 0, retriedMs: 0, lastRetryableFailureAt: undefined };
    state.attempt += 1;
    const { attempt } = state;
    // The handling of this message continues the trace of the producer that wrote it (a span per attempt).
    return inProcessSpan(topic, options.groupId, event.orderId, headers, async (span) => {
      const stopTimer = options.metrics?.handlerDuration.startTimer({ group: options.groupId, type: event.type });
      try {
        const applied = await applyEvent(options, event, handler, eventLog);
        stopTimer?.();
        retries.delete(key);
        count(event.type, applied ? 'applied' : 'duplicate');
        span.setAttributes({ 'order_saga.event.applied': applied, 'order_saga.attempts': attempt });
        // At info, although a line per event and group is ~4% of the choreography's and the
        // projector's samples at 30 orders/s: at debug the CPU per order did not move measurably
        // (docs/throughput.md), and these lines are how an operator follows an order's journey
        // through the logs by its correlation id.
        eventLog.info({ attempt }, applied ? 'event applied' : 'duplicate event skipped');
        failpoint('consumer-after-apply');
        return undefined;
      } catch (err) {
        stopTimer?.();
        const handling = classifyFailure(err);
        // Made here rather than waiting for the next sweep (src/platform/retention.ts).
        if (isMissingPartitionError(err))
          await ensureDedupePartitions(options.pool, dedupeWindow).catch((e: unknown) => eventLog.warn({ err: e }, 'making the dedupe partitions failed'));
        const now = Date.now();
        if (state.lastRetryableFailureAt !== undefined) state.retriedMs += now - state.lastRetryableFailureAt;
        state.lastRetryableFailureAt = handling.action === 'retry' ? now : undefined;
        if (handling.action === 'dead-letter' || (handling.action === 'retry' && state.retriedMs >= retryWindow)) {
          const cause = handling.action === 'dead-letter' ? handling.error : err;
          const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
          span.setAttributes({ 'order_saga.dead_lettered': true, 'order_saga.attempts': attempt });
          span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
          await deadLetter(topic, partition, message, reason, attempt, eventLog, event.type);
          retries.delete(key);
          return undefined;
        }
        retries.set(key, state);
        count(event.type, 'retried');
        // The exponent stops growing: during a long outage the backoff stays at maxBackoff. The
        // last wait of a window ends with it, so that the last attempt falls on its end.
        const backoff = backoffMs(Math.min(attempt, 16), baseBackoff, maxBackoff);
        const retryInMs = handling.action === 'retry' ? Math.min(backoff, retryWindow - state.retriedMs) : backoff;
        span.setAttributes({ 'order_saga.attempts': attempt, 'order_saga.retry_in_ms': retryInMs });
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
        if (handling.action === 'wait-for-database') eventLog.warn({ attempt, err, retryInMs }, 'database unavailable; retrying until it is back');
        else eventLog.info({ attempt, err, retriedMs: state.retriedMs, retryWindowMs: retryWindow, retryInMs }, 'handler failed; retrying');
        return retryInMs;
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
      // The partitions of the events to come, before the first of them arrives.
      await ensureDedupePartitions(options.pool, dedupeWindow);
      await consumer.connect();
      await consumer.subscribe({ topics: [...typeByTopic.keys()], fromBeginning: true });
      await consumer.run({
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? defaultPartitionsConsumedConcurrently,
        // eachBatch, not eachMessage: a message is resolved (its offset committed) only once it is
        // done with. eachMessage resolves every message its handler returns from, so a retry could
        // only leave the message unresolved by throwing, which restarts kafkajs's fetching for the
        // whole member (and, after a few in a row, the consumer).
        eachBatchAutoResolve: false,
        eachBatch: async (payload) => {
          const { batch } = payload;
          const { topic, partition } = batch;
          // One lane per order (the message key, which is the order id): its events in partition
          // order, the lanes side by side. The producers key every event by its order.
          const lanes = new Map<string, KafkaMessage[]>();
          for (const message of batch.messages) {
            const key = message.key?.toString() ?? '';
            const lane = lanes.get(key);
            if (lane) lane.push(message);
            else lanes.set(key, [message]);
          }
          const ahead = doneAhead.get(partitionKey(topic, partition));
          const done = new Set<string>();
          const waits: number[] = [];
          // Offsets commit in order: up to the first message not done yet.
          let resolvedUpTo = 0;
          const resolveDonePrefix = () => {
            const start = resolvedUpTo;
            while (resolvedUpTo < batch.messages.length && done.has(batch.messages[resolvedUpTo]!.offset)) resolvedUpTo += 1;
            if (resolvedUpTo > start) payload.resolveOffset(batch.messages[resolvedUpTo - 1]!.offset);
          };
          await forEachConcurrently([...lanes.values()], keysConcurrently, async (lane) => {
            for (const message of lane) {
              // As kafkajs's own eachMessage loop: stopping, or a seek on this partition, ends the batch.
              if (!payload.isRunning() || payload.isStale()) return;
              if (!ahead?.delete(message.offset)) {
                const retryInMs = await handleMessage(topic, partition, message);
                if (retryInMs !== undefined) {
                  // This order's later events wait with it (order per order); the other lanes go on.
                  waits.push(retryInMs);
                  return;
                }
              }
              done.add(message.offset);
              resolveDonePrefix();
              await payload.heartbeat();
              await payload.commitOffsetsIfNecessary();
            }
          });
          if (ahead?.size === 0) doneAhead.delete(partitionKey(topic, partition));
          if (waits.length === 0) return;
          // The partition is fetched again from the first event that failed, once the shortest
          // backoff has passed; what was handled after it is remembered, not handled twice.
          const handledAfter = batch.messages.slice(resolvedUpTo).filter((m) => done.has(m.offset));
          if (handledAfter.length > 0) doneAhead.set(partitionKey(topic, partition), new Set([...(ahead ?? []), ...handledAfter.map((m) => m.offset)]));
          pausePartition(topic, partition, Math.min(...waits), () => payload.pause());
        },
      });
    },

    /** Stops fetching, lets the handler in flight finish, commits and leaves the group, within the shutdown timeout. */
    async stop(): Promise<void> {
      // A paused partition is not resumed: its event stays uncommitted and goes to the next member.
      stopped = true;
      for (const paused of pausedPartitions.values()) clearTimeout(paused.timer);
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

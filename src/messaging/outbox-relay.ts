import { setTimeout as sleep } from 'node:timers/promises';
import type { MessageSender } from './renewing-producer.ts';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Span } from '@opentelemetry/api';
import { contextFromHeaders, endSpans, startPublishSpan } from '../observability/message-tracing.ts';
import { failpoint } from '../platform/failpoints.ts';

/** Options of {@link createOutboxRelay}. */
export interface OutboxRelayOptions {
  pool: pg.Pool;
  /** An idempotent producer (`idempotent: true`, `maxInFlightRequests: 1`), connected. */
  producer: MessageSender;
  log: Logger;
  /** Rows published per transaction. @default 200 */
  batchSize?: number;
  /** Longest sleep between two looks at the outbox when no NOTIFY wakes the relay. @default 1000 */
  pollIntervalMs?: number;
  /** Sent rows older than this are deleted. @default 3_600_000 (1 h) */
  retentionMs?: number;
  /** Prefix of the topic names. @default '' */
  topicPrefix?: string;
}

/** Key of the session-level advisory lock that makes one relay at a time publish, so per-key order holds. */
const relayLockKey = 7_318_001;

/** Rows of the outbox as the relay reads them. */
interface OutboxRow {
  id: string;
  topic: string;
  message_key: string;
  payload: unknown;
  headers: Record<string, string>;
}

/** The relay's own connection: it listens for NOTIFY and, once it has the lock, publishes through it. */
interface RelaySession {
  client: pg.PoolClient;
  /** Set when the connection failed: it is destroyed, and the lock with it. */
  broken?: Error;
  /** Whether this session holds the relay lock. */
  leader: boolean;
}

/**
 * The outbox relay: publishes unsent outbox rows to Kafka in id order and marks them sent.
 *
 * One relay at a time publishes: the one whose connection holds a session-level advisory lock.
 * The others wait (trying the lock every `pollIntervalMs`) and take over when the leader's
 * connection ends, so a second relay never publishes later rows of a key ahead of earlier ones.
 * No transaction is open while a batch goes to Kafka (the rows are read, published, then marked
 * sent): a paused broker holds no row locks and hits no idle-in-transaction timeout, and a batch
 * costs two statements. A relay that dies after publishing and before marking leaves the rows
 * unsent; they are published again (the same event ids: at least once, deduplicated by the
 * consumers).
 */
export function createOutboxRelay(options: OutboxRelayOptions) {
  const batchSize = options.batchSize ?? 200;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const retentionMs = options.retentionMs ?? 3_600_000;
  let stopping = false;
  let wake: (() => void) | undefined;
  // Whether an insert was notified since the last look at the outbox.
  let notified = false;
  let lastCleanup = 0;

  /** Publishes one batch through the leader's connection; returns how many rows it published. */
  async function publishBatch(client: pg.PoolClient): Promise<number> {
    const { rows } = await client.query<OutboxRow>(
      'select id, topic, message_key, payload, headers from messaging.outbox where sent_at is null order by id limit $1',
      [batchSize],
    );
    if (rows.length > 0) {
      const byTopic = new Map<string, OutboxRow[]>();
      for (const row of rows) byTopic.set(row.topic, [...(byTopic.get(row.topic) ?? []), row]);
      // Each publish span continues the trace of the transaction that wrote its row.
      const spans: Span[] = [];
      const topicMessages = [...byTopic].map(([rowTopic, batch]) => {
        const topic = `${options.topicPrefix ?? ''}${rowTopic}`;
        return {
          topic,
          messages: batch.map((row) => {
            const { span, headers } = startPublishSpan(topic, row.message_key, row.headers, contextFromHeaders(row.headers));
            spans.push(span);
            return { key: row.message_key, value: JSON.stringify(row.payload), headers };
          }),
        };
      });
      try {
        await options.producer.sendBatch({ acks: -1, topicMessages });
        endSpans(spans);
      } catch (err) {
        endSpans(spans, err);
        throw err;
      }
      failpoint('relay-after-publish-before-mark');
      await client.query('update messaging.outbox set sent_at = now() where id = any($1::bigint[])', [rows.map((r) => r.id)]);
    }
    if (Date.now() - lastCleanup > 60_000) {
      await client.query(`delete from messaging.outbox where sent_at < now() - make_interval(secs => $1)`, [retentionMs / 1000]);
      lastCleanup = Date.now();
    }
    return rows.length;
  }

  /** Opens the relay's connection and listens on it for outbox inserts. */
  async function openSession(): Promise<RelaySession> {
    const client = await options.pool.connect();
    const session: RelaySession = { client, leader: false };
    // A checked-out client that loses its connection emits `error` on itself, nowhere else:
    // without this listener Node would end the process.
    client.on('error', (err) => {
      session.broken = err;
      wake?.();
    });
    // Only the leader publishes; the others try the lock at each poll, not at each insert.
    client.on('notification', () => {
      if (!session.leader) return;
      notified = true;
      wake?.();
    });
    try {
      await client.query('listen outbox');
    } catch (err) {
      client.release(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    return session;
  }

  /**
   * Ends the relay's connection. It is destroyed rather than returned to the pool: the session
   * lock and the LISTEN go with it, where a pooled connection would keep both.
   */
  function closeSession(session: RelaySession): void {
    session.client.release(session.broken ?? true);
  }

  return {
    /**
     * Publishes until {@link stop} is called, woken by NOTIFY on each outbox insert. The relay's
     * connection may break (a database restart): its error is caught, the connection destroyed,
     * and a new one opened from the next round; meanwhile the relay retries every `pollIntervalMs`.
     */
    async run(): Promise<void> {
      let session: RelaySession | undefined;
      try {
        while (!stopping) {
          if (session?.broken) {
            options.log.warn({ err: session.broken }, 'outbox relay lost its database connection; connecting again');
            closeSession(session);
            session = undefined;
          }
          let published = 0;
          notified = false;
          try {
            session ??= await openSession();
            if (!session.leader) {
              const { rows } = await session.client.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [relayLockKey]);
              session.leader = rows[0]?.locked === true;
            }
            if (session.leader) published = await publishBatch(session.client);
          } catch (err) {
            options.log.error({ err }, 'outbox relay batch failed; retrying');
            await sleep(pollIntervalMs);
          }
          // Another look at once only if there may be more: a full batch, or an insert notified
          // while this one was read and sent. Looking again after every batch found nothing
          // most of the time at 30 orders/s, and each look is a statement.
          if (published < batchSize && !notified && !stopping) {
            await new Promise<void>((resolve) => {
              wake = resolve;
              setTimeout(resolve, pollIntervalMs).unref();
            });
          }
        }
      } finally {
        if (session) closeSession(session);
      }
    },

    stop(): void {
      stopping = true;
      wake?.();
    },
  };
}

/** A running outbox relay. */
export type OutboxRelay = ReturnType<typeof createOutboxRelay>;

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

/** The relay's own connections: one listens for NOTIFY, the other holds the lock and publishes. */
interface RelaySession {
  /** Takes the relay lock and runs the relay's statements. */
  client: pg.PoolClient;
  /**
   * Only listens. A backend that listens and also runs statements cost PostgreSQL one more
   * transaction per notification than an idle listener (measured: 388 commits for 100
   * notifications and the relay's 100 looks, against 267 with a listener of its own).
   */
  listener: pg.PoolClient;
  /** Set when a connection failed: both are destroyed, and the lock with them. */
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
 * sent): a paused broker holds no row locks and hits no idle-in-transaction timeout. A batch is
 * marked sent by the statement that reads the next one, or alone before the relay waits: one
 * statement per batch under load, two at idle. A relay that dies after publishing and before
 * marking leaves the rows unsent; they are published again (the same event ids: at least once,
 * deduplicated by the consumers).
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

  // Rows published and not marked sent yet: the next look at the outbox marks them in the same
  // statement (one statement per batch under load), or `markSent` alone before the relay waits.
  let unmarked: string[] = [];
  const selectUnsent = 'select id, topic, message_key, payload, headers from messaging.outbox where sent_at is null';

  /** Marks the rows published last as sent. */
  async function markSent(client: pg.PoolClient): Promise<void> {
    if (unmarked.length === 0) return;
    await client.query('update messaging.outbox set sent_at = now() where id = any($1::bigint[])', [unmarked]);
    unmarked = [];
  }

  /** Publishes one batch through the leader's connection; returns how many rows it published. */
  async function publishBatch(client: pg.PoolClient): Promise<number> {
    // The update's rows still read as unsent in the same statement's snapshot: left out by id.
    const { rows } =
      unmarked.length === 0
        ? await client.query<OutboxRow>(`${selectUnsent} order by id limit $1`, [batchSize])
        : await client.query<OutboxRow>(
            `with marked as (update messaging.outbox set sent_at = now() where id = any($2::bigint[]))
             ${selectUnsent} and id <> all($2::bigint[]) order by id limit $1`,
            [batchSize, unmarked],
          );
    unmarked = [];
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
      unmarked = rows.map((r) => r.id);
    }
    if (Date.now() - lastCleanup > 60_000) {
      await client.query(`delete from messaging.outbox where sent_at < now() - make_interval(secs => $1)`, [retentionMs / 1000]);
      lastCleanup = Date.now();
    }
    return rows.length;
  }

  /** Opens the relay's connections and listens for outbox inserts. */
  async function openSession(): Promise<RelaySession> {
    // Filled in below; the error listeners need the object before its connections exist.
    const session = { leader: false } as RelaySession;
    // A checked-out client that loses its connection emits `error` on itself, nowhere else:
    // without a listener, attached as soon as it is checked out (a database restart while the
    // second connection is being opened hit the first without one), Node would end the process.
    const connect = async () => {
      const c = await options.pool.connect();
      c.on('error', (err) => {
        session.broken = err;
        wake?.();
      });
      return c;
    };
    session.client = await connect();
    try {
      session.listener = await connect();
    } catch (err) {
      session.client.release(true);
      throw err;
    }
    // Only the leader publishes; the others try the lock at each poll, not at each insert.
    session.listener.on('notification', () => {
      if (!session.leader) return;
      notified = true;
      wake?.();
    });
    try {
      await session.listener.query('listen outbox');
    } catch (err) {
      session.broken = err instanceof Error ? err : new Error(String(err));
      closeSession(session);
      throw err;
    }
    return session;
  }

  /**
   * Ends the relay's connections. They are destroyed rather than returned to the pool: the
   * session lock and the LISTEN go with them, where a pooled connection would keep both.
   */
  function closeSession(session: RelaySession): void {
    session.client.release(session.broken ?? true);
    session.listener.release(session.broken ?? true);
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
            if (session?.leader)
              await markSent(session.client).catch((err: unknown) =>
                options.log.error({ err }, 'outbox relay could not mark a batch sent; it is published again'),
              );
            await new Promise<void>((resolve) => {
              wake = resolve;
              setTimeout(resolve, pollIntervalMs).unref();
            });
          }
        }
      } finally {
        if (session) {
          // Marked now, or published again by the next relay (at least once either way).
          if (session.leader && !session.broken) await markSent(session.client).catch(() => undefined);
          closeSession(session);
        }
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

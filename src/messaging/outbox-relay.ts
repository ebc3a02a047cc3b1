import { setTimeout as sleep } from 'node:timers/promises';
import type { MessageSender } from './renewing-producer.ts';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Span } from '@opentelemetry/api';
import { contextFromHeaders, endSpans, startPublishSpan } from '../observability/message-tracing.ts';
import type { EventType } from '../domain/events.ts';
import { failpoint } from '../platform/failpoints.ts';
import { schemaIdHeader } from './event-schemas.ts';
import type { EventContracts } from './schema-registry.ts';

/** Options of {@link createOutboxRelay}. */
export interface OutboxRelayOptions {
  pool: pg.Pool;
  /** An idempotent producer (`idempotent: true`, `maxInFlightRequests: 1`), connected. */
  producer: MessageSender;
  /** The registered schemas: each message gets the id of its own in the `schema-id` header. */
  contracts: EventContracts;
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

/** Key of the advisory lock that makes one relay at a time publish, so per-key order holds. */
const relayLockKey = 7_318_001;

/**
 * The outbox relay: publishes unsent outbox rows to Kafka in id order and marks them sent.
 *
 * Each batch is one transaction that first takes a transaction-level advisory lock: while one
 * relay publishes a batch, a second relay waits its turn instead of publishing later rows of the
 * same key ahead of earlier ones. A relay that dies after publishing and before committing leaves
 * the rows unsent; they are published again (the same event ids: at least once, deduplicated by
 * the consumers).
 */
export function createOutboxRelay(options: OutboxRelayOptions) {
  const batchSize = options.batchSize ?? 200;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const retentionMs = options.retentionMs ?? 3_600_000;
  let stopping = false;
  let wake: (() => void) | undefined;
  let lastCleanup = 0;

  /** Publishes one batch; returns how many rows it published (0: nothing to do or not our turn). */
  async function publishBatch(): Promise<number> {
    const client = await options.pool.connect();
    // A connection lost mid-batch emits `error` on the client: caught here, and the client is
    // destroyed on release instead of going back to the pool.
    let broken: Error | undefined;
    const onError = (err: Error) => {
      broken = err;
    };
    client.on('error', onError);
    try {
      await client.query('begin');
      const locked = await client.query<{ locked: boolean }>('select pg_try_advisory_xact_lock($1) as locked', [relayLockKey]);
      if (!locked.rows[0]?.locked) {
        await client.query('rollback');
        return 0;
      }
      const { rows } = await client.query<{
        id: string;
        topic: string;
        message_key: string;
        payload: { type: EventType; schemaVersion: number };
        headers: Record<string, string>;
      }>('select id, topic, message_key, payload, headers from messaging.outbox where sent_at is null order by id limit $1', [batchSize]);
      if (rows.length > 0) {
        const byTopic = new Map<string, typeof rows>();
        for (const row of rows) byTopic.set(row.topic, [...(byTopic.get(row.topic) ?? []), row]);
        // Each publish span continues the trace of the transaction that wrote its row.
        const spans: Span[] = [];
        const topicMessages = [...byTopic].map(([rowTopic, batch]) => {
          const topic = `${options.topicPrefix ?? ''}${rowTopic}`;
          return {
            topic,
            messages: batch.map((row) => {
              // The row keeps the version it was written in: a row of an earlier version, left by
              // the code before an upgrade, goes out with that version's id.
              const schemaId = String(options.contracts.schemaIdOf(row.payload.type, row.payload.schemaVersion));
              const rowHeaders = { ...row.headers, [schemaIdHeader]: schemaId };
              const { span, headers } = startPublishSpan(topic, row.message_key, rowHeaders, contextFromHeaders(row.headers));
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
      await client.query('commit');
      return rows.length;
    } catch (err) {
      await client.query('rollback').catch((rollbackErr: unknown) => {
        broken ??= rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      });
      throw err;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  return {
    publishBatch,

    /**
     * Publishes until {@link stop} is called, woken by NOTIFY on each outbox insert. The LISTEN
     * connection may break (a database restart): its error is caught, the client destroyed, and a
     * new one listens from the next round; meanwhile the relay polls every `pollIntervalMs`.
     */
    async run(): Promise<void> {
      let listener: { client: pg.PoolClient; broken?: Error } | undefined;
      const listen = async () => {
        const client = await options.pool.connect();
        const current: { client: pg.PoolClient; broken?: Error } = { client };
        // A checked-out client that loses its connection emits `error` on itself, nowhere else:
        // without this listener Node would end the process.
        client.on('error', (err) => {
          current.broken = err;
          wake?.();
        });
        client.on('notification', () => wake?.());
        try {
          await client.query('listen outbox');
        } catch (err) {
          client.release(err instanceof Error ? err : new Error(String(err)));
          throw err;
        }
        return current;
      };
      const dropListener = () => {
        if (!listener) return;
        options.log.warn({ err: listener.broken }, 'outbox relay lost its LISTEN connection; listening again');
        listener.client.release(listener.broken);
        listener = undefined;
      };
      try {
        while (!stopping) {
          if (listener?.broken) dropListener();
          if (!listener) {
            try {
              listener = await listen();
            } catch (err) {
              options.log.warn({ err }, 'outbox relay cannot LISTEN; polling until it can');
            }
          }
          let published = 0;
          try {
            published = await publishBatch();
          } catch (err) {
            options.log.error({ err }, 'outbox relay batch failed; retrying');
            await sleep(pollIntervalMs);
          }
          if (published === 0 && !stopping) {
            await new Promise<void>((resolve) => {
              wake = resolve;
              setTimeout(resolve, pollIntervalMs).unref();
            });
          }
        }
      } finally {
        if (listener) {
          if (!listener.broken) await listener.client.query('unlisten outbox').catch(() => undefined);
          listener.client.release(listener.broken);
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

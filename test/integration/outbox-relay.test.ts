/**
 * The outbox relay against the real PostgreSQL and Kafka: it holds no transaction while a batch
 * is on its way to the broker, and a standby relay takes over when the one publishing stops.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { placeChoreographedOrder } from '../../src/choreography/order-commands.ts';
import { createOutboxRelay } from '../../src/messaging/outbox-relay.ts';
import type { MessageSender } from '../../src/messaging/renewing-producer.ts';
import { ensureTopics } from '../../src/messaging/topics.ts';
import { createPool } from '../../src/platform/database.ts';
import { migrateAll } from '../../src/platform/migrations.ts';
import { eventually } from './helpers/choreography-scenarios.ts';
import '../setup/servers.ts';

/** A real producer that records the order ids it sent and, while `hold` is set, waits before each send. */
function recordingSender(producer: Producer) {
  const sentOrders: string[] = [];
  let hold: Promise<void> | undefined;
  let onSendStarted: (() => void) | undefined;
  const sender: MessageSender = {
    send: (record) => producer.send(record),
    async sendBatch(batch) {
      onSendStarted?.();
      if (hold) await hold;
      const result = await producer.sendBatch(batch);
      for (const { messages } of batch.topicMessages ?? []) for (const m of messages) sentOrders.push(String(m.key));
      return result;
    },
  };
  return {
    sender,
    sentOrders,
    /** Holds every send until the returned function is called; resolves `started` when one begins. */
    holdSends() {
      let release!: () => void;
      hold = new Promise((resolve) => (release = resolve));
      const started = new Promise<void>((resolve) => (onSendStarted = resolve));
      return {
        started,
        release: () => {
          hold = undefined;
          release();
        },
      };
    },
  };
}

describe('the outbox relay', () => {
  const servers = inject('servers');
  const prefix = `relay${randomUUID().slice(0, 8)}.`;
  const kafka = new Kafka({ clientId: 'outbox-relay-test', brokers: servers.kafkaBrokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const log = pino({ level: 'silent' });
  let pool: pg.Pool;

  const placeOrder = async () => {
    const orderId = randomUUID();
    const request = { orderId, customerId: 'relay', email: 'ada@example.com', items: [{ sku: 'KB-001', quantity: 1 }], paymentToken: 'tok_approve' };
    await placeChoreographedOrder(pool, request, `corr-${orderId}`);
    return orderId;
  };
  const sentAt = async (orderId: string) =>
    (await pool.query<{ sent_at: Date | null }>("select sent_at from messaging.outbox where payload->>'orderId' = $1", [orderId])).rows[0]?.sent_at;

  beforeAll(async () => {
    await migrateAll(servers.databaseUrl);
    pool = createPool(servers.databaseUrl, 10);
    const admin = kafka.admin();
    await admin.connect();
    // Every event type's topic: rows other tests left unsent go out under this prefix too.
    await ensureTopics(admin, { prefix });
    await admin.disconnect();
    await producer.connect();
  });

  afterAll(async () => {
    await producer.disconnect();
    await pool?.end();
  });

  it('holds no transaction open while a batch is on its way to the broker, and marks it sent after', async () => {
    const recorder = recordingSender(producer);
    const held = recorder.holdSends();
    const relay = createOutboxRelay({ pool, producer: recorder.sender, log, topicPrefix: prefix });
    const run = relay.run();
    try {
      const orderId = await placeOrder();
      await held.started;
      // The relay's connection, as PostgreSQL sees it while the send waits (a paused broker would
      // look the same): idle, not idle in a transaction that holds locks and runs into the
      // idle-in-transaction timeout.
      const { rows } = await pool.query<{ state: string }>(
        "select state from pg_stat_activity where pid <> pg_backend_pid() and query like '%from messaging.outbox where sent_at is null%'",
      );
      expect(rows.map((r) => r.state)).toEqual(['idle']);
      expect(await sentAt(orderId)).toBeNull();

      held.release();
      await eventually('the row marked sent', async () => (await sentAt(orderId)) != null);
      expect(recorder.sentOrders).toContain(orderId);
    } finally {
      held.release();
      relay.stop();
      await run;
    }
  });

  it('has one relay publish at a time, and a standby take over once the one publishing stops', async () => {
    const first = recordingSender(producer);
    const second = recordingSender(producer);
    const firstRelay = createOutboxRelay({ pool, producer: first.sender, log, topicPrefix: prefix, pollIntervalMs: 200 });
    const firstRun = firstRelay.run();
    const before = await placeOrder();
    await eventually('the first order published', () => Promise.resolve(first.sentOrders.includes(before)));

    const secondRelay = createOutboxRelay({ pool, producer: second.sender, log, topicPrefix: prefix, pollIntervalMs: 200 });
    const secondRun = secondRelay.run();
    try {
      const whileBoth = await placeOrder();
      await eventually('the order placed while both run published', async () => (await sentAt(whileBoth)) != null);
      expect(first.sentOrders).toContain(whileBoth);
      expect(second.sentOrders).toEqual([]);

      firstRelay.stop();
      await firstRun;
      const after = await placeOrder();
      await eventually('the order placed after the first stopped published by the second', () => Promise.resolve(second.sentOrders.includes(after)));
      expect(first.sentOrders).not.toContain(after);
    } finally {
      firstRelay.stop();
      secondRelay.stop();
      await Promise.all([firstRun, secondRun]);
    }
  });
});

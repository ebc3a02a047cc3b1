import type { Producer } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { notificationsSweep } from '../../src/contexts/notifications/retention.ts';
import { paymentVaultSweep } from '../../src/contexts/payments/retention.ts';
import { createConsumerRunner, classifyFailure, type ConsumerRunner } from '../../src/messaging/consumer-runner.ts';
import { listDeadLetters, resetGroupToWindow } from '../../src/messaging/dead-letters.ts';
import {
  dedupeSweep,
  dropExpiredDedupePartitions,
  ensureDedupePartitions,
  isMissingPartitionError,
  type DedupeWindow,
} from '../../src/messaging/dedupe-window.ts';
import { createEnvelope } from '../../src/messaging/envelope.ts';
import { deadLetterTopicOf, ensureTopics, topicOf } from '../../src/messaging/topics.ts';
import { createPool } from '../../src/platform/database.ts';
import { migrateAll } from '../../src/platform/migrations.ts';
import { deleteInBatches, startSweeper } from '../../src/platform/retention.ts';
import { readModelSweep } from '../../src/projections/retention.ts';
import { schemaHeaders, testContracts } from './helpers/contracts.ts';
import { startChoreographyHarness, type ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { eventually } from './helpers/choreography-scenarios.ts';
import { startOwnPostgres, type OwnPostgres } from './helpers/own-postgres.ts';
import '../setup/servers.ts';

const minute = 60_000;
const silent = pino({ level: 'silent' });

const partitionsOf = async (pool: pg.Pool) =>
  (
    await pool.query<{ name: string; bound: string }>(
      `select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound from pg_inherits i join pg_class c on c.oid = i.inhrelid
       where i.inhparent = 'messaging.processed_events'::regclass order by 1`,
    )
  ).rows;

const dedupeRow = (pool: pg.Pool, eventId: string, occurredAt: Date) =>
  pool.query('insert into messaging.processed_events (consumer_group, event_id, occurred_at) values ($1, $2, $3)', ['retention-test', eventId, occurredAt]);

// Partitions are created and dropped on a database of the test's own: dropping them "in the
// future" on the suite's shared one would take the other tests' dedupe rows with them.
describe('retention of the stores, on a database of its own', () => {
  let db: OwnPostgres;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await startOwnPostgres('order_saga_retention');
    await migrateAll(db.url);
    pool = createPool(db.url, 4);
  }, 120_000);

  afterAll(async () => {
    await pool?.end();
    await db?.close();
  });

  it('keeps the dedupe rows in partitions by their event’s time, made ahead, and drops whole partitions past the window', async () => {
    const window: DedupeWindow = { retentionMs: 10 * minute, partitionMs: minute };
    // The migration's partition holds everything before it (the rows of the unpartitioned table).
    expect((await partitionsOf(pool)).map((p) => p.name)).toEqual(['processed_events_before_partitioning']);

    const now = new Date();
    const created = await ensureDedupePartitions(pool, window, now);
    // From the end of the migration's partition to 4 widths ahead, each ending on a minute.
    expect(created.length).toBeGreaterThanOrEqual(4);
    const bounds = (await partitionsOf(pool)).filter((p) => p.name !== 'processed_events_before_partitioning').map((p) => p.bound);
    expect(bounds.slice(1).every((b) => /:00\+00'\) TO \('[^']+:00\+00'\)$/.test(b))).toBe(true);
    // Nothing to do the second time.
    expect(await ensureDedupePartitions(pool, window, now)).toEqual([]);

    // Two events in partitions made ahead: a minute and three minutes from now.
    const [old, fresh] = [new Date(now.getTime() + minute), new Date(now.getTime() + 3 * minute)];
    const [oldId, freshId] = [randomUUID(), randomUUID()];
    await dedupeRow(pool, oldId, old);
    await dedupeRow(pool, freshId, fresh);
    // The same event again (same time, so the same partition): the primary key refuses it.
    await expect(dedupeRow(pool, freshId, fresh)).rejects.toMatchObject({ code: '23505' });

    // Thirteen minutes on, the window (plus one width of slack) reaches two minutes from now: past
    // the old event's partition and the migration's, not the fresh event's.
    const client = await pool.connect();
    try {
      const dropped = await dropExpiredDedupePartitions(client, window, new Date(now.getTime() + 13 * minute));
      expect(dropped).toContain('processed_events_before_partitioning');
      expect(dropped.length).toBeGreaterThanOrEqual(3);
    } finally {
      client.release();
    }
    const left = await pool.query<{ event_id: string }>('select event_id from messaging.processed_events where consumer_group = $1', ['retention-test']);
    expect(left.rows.map((r) => r.event_id)).toEqual([freshId]);

    // An event beyond the partitions made ahead finds none: an error the consumers retry (after making them), not a dead letter.
    const tooFar = await dedupeRow(pool, randomUUID(), new Date(now.getTime() + 60 * minute)).catch((err: unknown) => err);
    expect(isMissingPartitionError(tooFar)).toBe(true);
    expect(classifyFailure(tooFar)).toEqual({ action: 'retry' });
  });

  it('removes ended orders from the read model, sent emails, recipients and payment tokens past their retention, in batches, and keeps the rest', async () => {
    const ids = { oldConfirmed: randomUUID(), oldPending: randomUUID(), freshCancelled: randomUUID() };
    const view = (orderId: string, status: string, age: string) =>
      pool.query(
        `insert into read_model.order_view (order_id, flow, status, event_count, updated_at) values ($1, 'choreographed', $2, 1, now() - $3::interval)`,
        [orderId, status, age],
      );
    await view(ids.oldConfirmed, 'confirmed', '2 hours');
    await view(ids.oldPending, 'pending', '2 hours');
    await view(ids.freshCancelled, 'cancelled', '1 minute');
    for (const orderId of Object.values(ids))
      await pool.query(
        `insert into read_model.order_timeline (event_id, order_id, type, occurred_at, flow, producer, correlation_id, data, schema_version)
         values ($1, $2, 'order.placed', now(), 'choreographed', 'test', $2, '{}', 1)`,
        [randomUUID(), orderId],
      );
    for (const [orderId, age] of [
      [ids.oldConfirmed, '2 hours'],
      [ids.freshCancelled, '1 minute'],
    ] as const) {
      await pool.query(
        `insert into notifications.sent_messages (order_id, template, recipient, message_id, sent_at) values ($1, 'confirmation', 'a@b.c', $1, now() - $2::interval)`,
        [orderId, age],
      );
      await pool.query(`insert into notifications.recipients (order_id, email, learned_at) values ($1, 'a@b.c', now() - $2::interval)`, [orderId, age]);
      await pool.query(
        `insert into payments.vault (reference, order_id, customer_id, key_id, sealed, created_at) values ($1, $1, 'c', 'k', '\\x00', now() - $2::interval)`,
        [orderId, age],
      );
    }

    const window: DedupeWindow = { retentionMs: 10 * minute, partitionMs: minute };
    // One process's sweeps, an hour of retention each, as the choreography and the projector run them.
    const sweeper = startSweeper({
      pool,
      log: silent,
      intervalMs: 3_600_000,
      sweeps: [dedupeSweep(window, silent), readModelSweep(60 * minute, 1), notificationsSweep(60 * minute), paymentVaultSweep(60 * minute)],
    });
    await sweeper.runOnce();
    await sweeper.stop();

    const views = await pool.query<{ order_id: string }>('select order_id from read_model.order_view where order_id = any($1) order by 1', [
      Object.values(ids),
    ]);
    expect(views.rows.map((r) => r.order_id)).toEqual([ids.oldPending, ids.freshCancelled].sort());
    const timeline = await pool.query<{ order_id: string }>('select distinct order_id from read_model.order_timeline where order_id = any($1) order by 1', [
      Object.values(ids),
    ]);
    expect(timeline.rows.map((r) => r.order_id)).toEqual([ids.oldPending, ids.freshCancelled].sort());
    const sent = await pool.query<{ order_id: string }>('select order_id from notifications.sent_messages');
    expect(sent.rows.map((r) => r.order_id)).toEqual([ids.freshCancelled]);
    const recipients = await pool.query<{ order_id: string }>('select order_id from notifications.recipients');
    expect(recipients.rows.map((r) => r.order_id)).toEqual([ids.freshCancelled]);
    const tokens = await pool.query<{ order_id: string }>('select order_id from payments.vault');
    expect(tokens.rows.map((r) => r.order_id)).toEqual([ids.freshCancelled]);
  });

  it('deletes in batches until a batch finds fewer rows', async () => {
    await pool.query('create table if not exists public.batch_test (n int, created_at timestamptz)');
    await pool.query("insert into public.batch_test select n, now() - interval '1 day' from generate_series(1, 7) n");
    await pool.query('insert into public.batch_test values (8, now())');
    const client = await pool.connect();
    try {
      // 7 old rows, 3 a batch: three statements (3, 3, 1).
      expect(await deleteInBatches(client, 'public.batch_test', "created_at < now() - interval '1 hour'", [], 3)).toBe(7);
    } finally {
      client.release();
    }
    expect((await pool.query('select n from public.batch_test')).rows).toEqual([{ n: 8 }]);
  });
});

describe('a consumer group and its dedupe window', () => {
  let harness: ChoreographyHarness;
  let producer: Producer;
  const prefix = `retention-${randomUUID().slice(0, 8)}.`;
  const groupId = `${prefix}g`;
  // An hour: what is older may have lost its dedupe row.
  const window: DedupeWindow = { retentionMs: 60 * minute, partitionMs: 10 * minute };
  const applied: string[] = [];
  let runner: ConsumerRunner | undefined;

  const send = async (orderId: string, at: Date) => {
    const event = createEnvelope({
      eventId: randomUUID(),
      type: 'order.placed',
      orderId,
      correlationId: orderId,
      causationId: null,
      producer: 'test',
      flow: 'choreographed',
      occurredAt: at.toISOString(),
      data: { customerId: 'retention', email: 'a@b.c', items: [{ sku: 'KB-001', quantity: 1 }] },
    });
    await producer.send({
      topic: topicOf('order.placed', prefix),
      acks: -1,
      // The broker keeps the producer's time (CreateTime): what a replay seeks by.
      messages: [
        { key: orderId, value: JSON.stringify(event), timestamp: String(at.getTime()), headers: schemaHeaders(await testContracts(inject('servers')), event) },
      ],
    });
  };
  const startRunner = async () => {
    runner = createConsumerRunner({
      kafka: harness.kafka,
      pool: harness.pool,
      groupId,
      producerName: 'test',
      producer,
      contracts: harness.contracts,
      log: silent,
      topicPrefix: prefix,
      dedupeWindow: window,
      handlers: {
        'order.placed': (event) => {
          applied.push(event.orderId);
          return Promise.resolve();
        },
      },
    });
    await runner.start();
  };
  const committed = async () => {
    const admin = harness.kafka.admin();
    await admin.connect();
    try {
      const [topic] = await admin.fetchOffsets({ groupId, topics: [topicOf('order.placed', prefix)] });
      return topic!.partitions.map((p) => Number(p.offset));
    } finally {
      await admin.disconnect();
    }
  };

  beforeAll(async () => {
    harness = await startChoreographyHarness(inject('servers'));
    const admin = harness.kafka.admin();
    await admin.connect();
    await ensureTopics(admin, { prefix, partitions: 1, extra: [deadLetterTopicOf(groupId)] }, ['order.placed']);
    await admin.disconnect();
    producer = harness.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
  }, 60_000);

  afterAll(async () => {
    await runner?.stop();
    await producer?.disconnect();
    await harness?.close();
  });

  it('refuses an event older than the window (a dead letter, applied never) and applies the next one', async () => {
    const hoursAgo = (h: number) => new Date(Date.now() - h * 60 * minute);
    const old = ['old-1', 'old-2', 'old-3'].map((o) => `${prefix}${o}`);
    for (const orderId of old) await send(orderId, hoursAgo(3));
    const fresh = [`${prefix}fresh-1`, `${prefix}fresh-2`];
    for (const orderId of fresh) await send(orderId, new Date());
    await startRunner();

    await eventually('the fresh events to be applied', () => Promise.resolve(applied.length === 2));
    expect(applied).toEqual(fresh);
    await eventually('the old events to be dead-lettered', async () => (await listDeadLetters(harness.kafka, groupId)).length === 3);
    const letters = await listDeadLetters(harness.kafka, groupId);
    expect(letters.map((l) => l.key).sort()).toEqual(old);
    expect(letters[0]!.error).toMatch(/EventOutsideDedupeWindowError: the event occurred at .* before the dedupe window/);
    await eventually('the offsets to be committed', async () => (await committed())[0] === 5);
  });

  it('replays from the start of the window, never from older messages, and applies nothing twice', async () => {
    await runner!.stop();
    runner = undefined;
    const since = await resetGroupToWindow(harness.kafka, harness.pool, groupId, [topicOf('order.placed', prefix)], window, false);
    // One width inside the window.
    expect(Date.now() - since.getTime()).toBeGreaterThan(window.retentionMs - window.partitionMs - minute);
    expect(Date.now() - since.getTime()).toBeLessThanOrEqual(window.retentionMs - window.partitionMs + minute);
    // The group starts again at the first message inside the window: the fresh ones, not the three old ones.
    expect(await committed()).toEqual([3]);

    await startRunner();
    await eventually('the replay to reach the end', async () => (await committed())[0] === 5);
    await sleep(500);
    // Re-read and skipped as applied (their dedupe rows are there); the old ones were not read again.
    expect(applied).toHaveLength(2);
    expect(await listDeadLetters(harness.kafka, groupId)).toHaveLength(3);
  });
});

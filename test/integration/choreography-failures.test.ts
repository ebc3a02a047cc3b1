import type { Producer } from 'kafkajs';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { placeChoreographedOrder } from '../../src/choreography/order-commands.ts';
import type { ChoreographyRuntime } from '../../src/choreography/runtime.ts';
import { choreographySubscriptions } from '../../src/choreography/services.ts';
import { OrderConflictError } from '../../src/domain/errors.ts';
import type { OrderRequest } from '../../src/domain/order.ts';
import { createConsumerRunner, type ConsumerRunnerOptions } from '../../src/messaging/consumer-runner.ts';
import { listDeadLetters, replayDeadLetters, resetGroupToWindow } from '../../src/messaging/dead-letters.ts';
import { defaultDedupeWindow } from '../../src/messaging/dedupe-window.ts';
import { createEnvelope } from '../../src/messaging/envelope.ts';
import { deadLetterTopicOf, ensureTopics, topicOf } from '../../src/messaging/topics.ts';
import type { FailpointName } from '../../src/platform/failpoints.ts';
import { orderScenarios } from '../scenarios/order-scenarios.ts';
import { schemaHeaders, testContracts } from './helpers/contracts.ts';
import { startChoreographyHarness, type ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { choreographyLag, eventually, orderStatusOf, runScenarios } from './helpers/choreography-scenarios.ts';
import { eventsOfOrder, readAllEvents } from './helpers/event-log.ts';
import { startNodeProcess } from './helpers/node-process.ts';
import { testVaultKeys } from './helpers/vault.ts';
import '../setup/servers.ts';

const groups = Object.keys(choreographySubscriptions) as (keyof typeof choreographySubscriptions)[];

const smallOrder = (orderId = randomUUID()): OrderRequest => ({
  orderId,
  customerId: 'failure-tests',
  email: 'ada@example.com',
  items: [{ sku: 'MN-003', quantity: 1 }],
  paymentRef: 'tok_approve',
});

/** Publishes an `order.placed` event of one KB-001 for `customerId` on the topic of `prefix` (on `partition` when given, else by key). */
async function sendOrderPlaced(producer: Producer, prefix: string, orderId: string, customerId: string, partition?: number): Promise<void> {
  const event = createEnvelope({
    eventId: randomUUID(),
    type: 'order.placed',
    orderId,
    correlationId: 'c',
    causationId: null,
    producer: 'test',
    flow: 'choreographed',
    data: { customerId, email: 'a@b.c', items: [{ sku: 'KB-001', quantity: 1 }] },
  });
  await producer.send({
    topic: topicOf('order.placed', prefix),
    messages: [
      {
        key: orderId,
        value: JSON.stringify(event),
        headers: schemaHeaders(await testContracts(inject('servers')), event),
        ...(partition !== undefined ? { partition } : {}),
      },
    ],
  });
}

/** The topics of `prefix`'s `order.placed` and of its group's dead letters, and a connected producer (the test's sends, the group's dead letters). */
async function orderPlacedTopics(harness: ChoreographyHarness, prefix: string, partitions?: number): Promise<Producer> {
  const admin = harness.kafka.admin();
  await admin.connect();
  await ensureTopics(admin, { prefix, ...(partitions !== undefined ? { partitions } : {}), extra: [deadLetterTopicOf(`${prefix}g`)] }, ['order.placed']);
  await admin.disconnect();
  const producer = harness.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  return producer;
}

/** A consumer group `<prefix>g` of the harness's Kafka and pool over `prefix`'s topics, silent, with `options` (its handlers). */
const orderPlacedRunner = (
  harness: ChoreographyHarness,
  prefix: string,
  producer: Producer,
  options: Omit<ConsumerRunnerOptions, 'kafka' | 'pool' | 'groupId' | 'producerName' | 'producer' | 'contracts' | 'log' | 'topicPrefix'>,
) =>
  createConsumerRunner({
    kafka: harness.kafka,
    pool: harness.pool,
    groupId: `${prefix}g`,
    producerName: 'test',
    producer,
    contracts: harness.contracts,
    log: pino({ level: 'silent' }),
    topicPrefix: prefix,
    ...options,
  });

describe('choreographed flow under failure', () => {
  describe('in one process', () => {
    let harness: ChoreographyHarness;
    let runtime: ChoreographyRuntime;

    beforeAll(async () => {
      harness = await startChoreographyHarness(inject('servers'));
      runtime = await harness.startInstance();
    }, 60_000);

    afterAll(async () => {
      await harness?.close();
    });

    it('applies every effect once when every event is delivered twice, and when the groups replay the topics from the start', async () => {
      const scenarios = orderScenarios.filter((s) =>
        [
          'approved card confirms the order and charges it once',
          'declined card releases the reserved stock, charges nothing and cancels',
          'customer cancelling during review releases the stock',
        ].includes(s.name),
      );
      const { runs, events } = await runScenarios(harness, runtime, scenarios, new Set());
      const ids = runs.map((r) => r.request.orderId);
      const snapshot = async () => ({
        charges: harness.ledger.charges.length,
        refunds: harness.ledger.refunds.length,
        emails: harness.sink.messages.length,
        outbox: (await harness.pool.query("select count(*) from messaging.outbox where payload->>'orderId' = any($1)", [ids])).rows[0] as unknown,
        reservations: (await harness.pool.query('select order_id, status from inventory.reservations where order_id = any($1) order by order_id', [ids])).rows,
        orders: (await harness.pool.query('select order_id, status, reason from orders.orders where order_id = any($1) order by order_id', [ids])).rows,
        stock: (await harness.pool.query("select sku, stock from inventory.catalog where sku in ('KB-001','MS-002','LT-004') order by sku")).rows,
        // Deleted by the replay below and written again only if every handler ran again.
        applied: (
          await harness.pool.query('select count(*) from messaging.processed_events where consumer_group = any($1)', [
            groups.map((g) => `${harness.prefix}${g}`),
          ])
        ).rows[0] as unknown,
      });
      await eventually('consumers to catch up', async () => (await choreographyLag(harness)) === 0);
      const before = await snapshot();

      const producer = harness.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      const mine = events.filter((e) => ids.includes(e.orderId));
      for (const { topic, partition: _p, offset: _o, headers, ...event } of mine) {
        // The copies carry the original's headers, its schema id among them.
        await producer.send({ topic, acks: -1, messages: [{ key: event.orderId, value: JSON.stringify(event), headers }] });
      }
      await producer.disconnect();
      await eventually('consumers to read the copies', async () => (await choreographyLag(harness)) === 0);
      await sleep(500);

      expect(mine.length).toBeGreaterThan(15);
      expect(await snapshot()).toEqual(before);

      // Event replay: every group back to the start of its dedupe window (the whole history here),
      // forgetting what it applied, so every handler runs again. Idempotent handlers change nothing.
      await runtime.stop();
      for (const group of groups) {
        const topics = choreographySubscriptions[group].map((type) => topicOf(type, harness.prefix));
        await resetGroupToWindow(harness.kafka, harness.pool, `${harness.prefix}${group}`, topics, defaultDedupeWindow, true);
      }
      runtime = await harness.startInstance();
      await eventually('the replay to finish', async () => (await choreographyLag(harness)) === 0);
      await sleep(1000);
      expect(await snapshot()).toEqual(before);
    });

    it('dead-letters a poison message on every input topic and goes on with the next message of the partition', async () => {
      const orderId = randomUUID();
      const producer = harness.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      const inputTopics = [...new Set(groups.flatMap((g) => choreographySubscriptions[g]))];
      for (const type of inputTopics) {
        // Same key as the order: same partition, just ahead of the order's own events.
        await producer.send({ topic: topicOf(type, harness.prefix), messages: [{ key: orderId, value: 'not json at all' }] });
      }
      await placeChoreographedOrder(harness.pool, smallOrder(orderId), `corr-${orderId}`);
      await eventually(
        'the order behind the poison to be confirmed and emailed',
        async () => (await orderStatusOf(harness, orderId))?.status === 'confirmed' && harness.sink.messages.some((m) => m.orderId === orderId),
      );

      for (const group of groups) {
        const letters = (await listDeadLetters(harness.kafka, `${harness.prefix}${group}`)).filter((l) => l.key === orderId);
        expect({ group, topics: letters.map((l) => l.originalTopic).sort() }).toEqual({
          group,
          topics: choreographySubscriptions[group].map((t) => topicOf(t, harness.prefix)).sort(),
        });
        for (const letter of letters) {
          expect(letter).toMatchObject({
            attempts: 1,
            value: 'not json at all',
            headers: expect.objectContaining({ 'dlq-consumer-group': `${harness.prefix}${group}` }) as unknown,
          });
          expect(letter.error).toMatch(/^not JSON/);
          expect(letter.originalOffset).toMatch(/^\d+$/);
        }
      }

      // Replaying a dead letter publishes it to its original topic again (where it fails again).
      const [letter] = (await listDeadLetters(harness.kafka, `${harness.prefix}payments`)).filter((l) => l.key === orderId);
      expect(await replayDeadLetters(harness.kafka, producer, `${harness.prefix}payments`, [letter!.id])).toEqual([letter!.id]);
      await eventually(
        'the replayed letter to be dead-lettered again',
        async () =>
          (await listDeadLetters(harness.kafka, `${harness.prefix}payments`)).filter((l) => l.key === orderId).length ===
          choreographySubscriptions.payments.length + 1,
      );
      const again = (await listDeadLetters(harness.kafka, `${harness.prefix}payments`)).filter((l) => l.key === orderId).at(-1)!;
      expect(again.headers['dlq-replayed-from']).toBe(`${deadLetterTopicOf(`${harness.prefix}payments`)}/${letter!.id}`);
      await producer.disconnect();
    });

    it('retries a transient failure with backoff until it heals and applies it once; dead-letters a business failure at once', async () => {
      const prefix = `${harness.prefix}runner.`;
      const producer = await orderPlacedTopics(harness, prefix);
      const attempts = new Map<string, number>();
      const applied: string[] = [];
      const runner = orderPlacedRunner(harness, prefix, producer, {
        baseBackoffMs: 20,
        handlers: {
          'order.placed': (event) => {
            const n = (attempts.get(event.orderId) ?? 0) + 1;
            attempts.set(event.orderId, n);
            const { customerId } = event.data;
            if (customerId === 'flaky' && n < 3) return Promise.reject(new Error('database restarting'));
            if (customerId === 'conflicting') return Promise.reject(new OrderConflictError(event.orderId));
            applied.push(event.orderId);
            return Promise.resolve();
          },
        },
      });
      await runner.start();
      const send = (orderId: string, customerId: string) => sendOrderPlaced(producer, prefix, orderId, customerId);
      await send('flaky-order', 'flaky');
      await send('conflicting-order', 'conflicting');
      await eventually(
        'both messages to be handled',
        async () => attempts.get('flaky-order') === 3 && attempts.has('conflicting-order') && (await listDeadLetters(harness.kafka, `${prefix}g`)).length === 1,
      );
      await runner.stop();
      await producer.disconnect();

      expect(applied).toEqual(['flaky-order']);
      expect(attempts.get('conflicting-order')).toBe(1);
      const [letter] = await listDeadLetters(harness.kafka, `${prefix}g`);
      expect(letter).toMatchObject({ key: 'conflicting-order', attempts: 1, error: expect.stringMatching(/ORDER_CONFLICT|OrderConflictError/) as unknown });
    });

    it('stops at once while an event waits for its next retry, and leaves the event to the next member, which applies it once', async () => {
      const prefix = `${harness.prefix}stop.`;
      const producer = await orderPlacedTopics(harness, prefix);
      let healed = false;
      let attempts = 0;
      const applied: string[] = [];
      const runnerOf = () =>
        orderPlacedRunner(harness, prefix, producer, {
          // Waits of up to a minute between attempts: a stop that waited for one would miss its
          // deadline, which leaves room for kafkajs to end a fetch in flight (a 5 s long poll).
          baseBackoffMs: 60_000,
          maxBackoffMs: 60_000,
          shutdownTimeoutMs: 15_000,
          handlers: {
            'order.placed': (event) => {
              attempts += 1;
              if (!healed) return Promise.reject(new Error('payment gateway restarting'));
              applied.push(event.orderId);
              return Promise.resolve();
            },
          },
        });
      const first = runnerOf();
      await first.start();
      const orderId = randomUUID();
      await sendOrderPlaced(producer, prefix, orderId, 'stop');
      await eventually('the first attempt to fail', () => Promise.resolve(attempts >= 1));
      // Rejects with "did not stop within 15000 ms" if the stop waits for the backoff to end.
      await first.stop();

      healed = true;
      const second = runnerOf();
      await second.start();
      await eventually('the next member to apply the event', () => Promise.resolve(applied.length > 0));
      await second.stop();
      await producer.disconnect();
      expect(applied).toEqual([orderId]);
      expect(await listDeadLetters(harness.kafka, `${prefix}g`)).toEqual([]);
    }, 60_000);

    it("handles the other orders of a partition while one order waits on a slow call, and that order's next event only after it", async () => {
      const prefix = `${harness.prefix}lanes.`;
      const producer = await orderPlacedTopics(harness, prefix, 1);
      // The slow order's first event waits here, as a charge waits for a slow gateway.
      let release!: () => void;
      const gatewayAnswers = new Promise<void>((resolve) => (release = resolve));
      const applied: string[] = [];
      const runner = orderPlacedRunner(harness, prefix, producer, {
        handlers: {
          'order.placed': async (event) => {
            if (event.data.customerId === 'slow-first') await gatewayAnswers;
            applied.push(`${event.orderId}/${event.data.customerId}`);
          },
        },
      });
      // Sent before the group starts, so that one fetch brings them all, in this order, on the one partition.
      await sendOrderPlaced(producer, prefix, 'slow-order', 'slow-first', 0);
      await sendOrderPlaced(producer, prefix, 'slow-order', 'slow-second', 0);
      await sendOrderPlaced(producer, prefix, 'quick-1', 'quick', 0);
      await sendOrderPlaced(producer, prefix, 'quick-2', 'quick', 0);
      await runner.start();
      try {
        await eventually('the other orders of the partition to be applied', () =>
          Promise.resolve(applied.includes('quick-1/quick') && applied.includes('quick-2/quick')),
        );
        expect(applied).not.toContain('slow-order/slow-first');
        expect(applied).not.toContain('slow-order/slow-second');
        release();
        await eventually('the slow order to be applied', () => Promise.resolve(applied.includes('slow-order/slow-second')));
        expect(applied.filter((a) => a.startsWith('slow-order'))).toEqual(['slow-order/slow-first', 'slow-order/slow-second']);
      } finally {
        release();
        await runner.stop();
        await producer.disconnect();
      }
    }, 90_000);

    it('retries a failing event holding up only its own order: the other orders of its partition and the other partitions move on meanwhile, the next event of its order once it is dead-lettered', async () => {
      const prefix = `${harness.prefix}paused.`;
      // Three partitions: the failing event holds one, the others must not wait for it.
      const producer = await orderPlacedTopics(harness, prefix, 3);
      let poisonedAttempts = 0;
      const applied: string[] = [];
      const runner = orderPlacedRunner(harness, prefix, producer, {
        // Long enough that the other partitions' events are applied well inside it.
        retryWindowMs: 20_000,
        baseBackoffMs: 100,
        maxBackoffMs: 1000,
        handlers: {
          'order.placed': (event) => {
            if (event.data.customerId === 'poisoned') {
              poisonedAttempts += 1;
              // What a gateway answering 503 to every charge (tok_unavailable) looks like to the runner.
              return Promise.reject(new Error('payment gateway answered 503'));
            }
            // The failing order's second event, sent behind it: it must wait for it.
            applied.push(event.data.customerId === 'after-poison' ? 'poisoned-order, second event' : event.orderId);
            return Promise.resolve();
          },
        },
      });
      await runner.start();
      try {
        await sendOrderPlaced(producer, prefix, 'poisoned-order', 'poisoned', 0);
        await eventually('the failing event to be retried', () => Promise.resolve(poisonedAttempts >= 2));
        await sendOrderPlaced(producer, prefix, 'poisoned-order', 'after-poison', 0);
        await sendOrderPlaced(producer, prefix, 'behind-poisoned', 'healthy', 0);
        await sendOrderPlaced(producer, prefix, 'healthy-1', 'healthy', 1);
        await sendOrderPlaced(producer, prefix, 'healthy-2', 'healthy', 2);

        await eventually('the other orders, in its partition and in the others, to be applied', () =>
          Promise.resolve(['behind-poisoned', 'healthy-1', 'healthy-2'].every((order) => applied.includes(order))),
        );
        // Still within the failing event's window: it is not dead-lettered yet, and its order's next event waits behind it.
        expect(await listDeadLetters(harness.kafka, `${prefix}g`)).toEqual([]);
        expect(applied).not.toContain('poisoned-order, second event');

        await eventually("the failing order's next event to be applied", () => Promise.resolve(applied.includes('poisoned-order, second event')));
        const letters = await listDeadLetters(harness.kafka, `${prefix}g`);
        expect(letters).toHaveLength(1);
        expect(letters[0]).toMatchObject({ key: 'poisoned-order', originalPartition: 0, error: expect.stringContaining('503') as unknown });
        expect(letters[0]!.attempts).toBe(poisonedAttempts);
        expect(poisonedAttempts).toBeGreaterThan(2);
        // Each applied once, although the partition was fetched again from the failing event after each backoff.
        expect(applied.toSorted()).toEqual(['behind-poisoned', 'healthy-1', 'healthy-2', 'poisoned-order, second event']);
      } finally {
        await runner.stop();
        await producer.disconnect();
      }
    }, 90_000);

    it('rides out a payment gateway that refuses connections for several seconds: the order is confirmed with one capture and nothing is dead-lettered', async () => {
      const order = smallOrder();
      await harness.stopGateway();
      try {
        await placeChoreographedOrder(harness.pool, order, `corr-${order.orderId}`);
        // The charge's intent commits before the call: from here the payments group is retrying.
        await eventually(
          'the payments group to be trying the gateway',
          async () => (await harness.pool.query("select 1 from payments.payments where order_id = $1 and status = 'charging'", [order.orderId])).rowCount === 1,
        );
        // The outage itself: a restart that takes a few seconds, twice what five attempts used to
        // wait in all (at most 3 s of backoff) before they dead-lettered the charge.
        await sleep(6000);
      } finally {
        await harness.startGateway();
      }
      const letters = async () => (await listDeadLetters(harness.kafka, `${harness.prefix}payments`)).filter((l) => l.key === order.orderId);
      await eventually(
        'the order to be confirmed, or its charge dead-lettered',
        async () => (await orderStatusOf(harness, order.orderId))?.status === 'confirmed' || (await letters()).length > 0,
      );

      expect(await letters()).toEqual([]);
      expect(await orderStatusOf(harness, order.orderId)).toEqual({ status: 'confirmed', reason: null });
      expect(harness.ledger.charges.filter((c) => c.reference === order.orderId)).toHaveLength(1);
    }, 90_000);
  });

  describe('with the services in a process that is killed', () => {
    let harness: ChoreographyHarness;
    const children: ChildProcess[] = [];

    beforeAll(async () => {
      harness = await startChoreographyHarness(inject('servers'));
    }, 60_000);

    afterAll(async () => {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await harness?.close();
    });

    const startProcess = (failpoint?: FailpointName) => {
      const servers = inject('servers');
      const started = startNodeProcess(
        'src/workers/choreography.ts',
        {
          KAFKA_BROKERS: servers.kafkaBrokers.join(','),
          SCHEMA_REGISTRY_URL: servers.schemaRegistryUrl,
          DATABASE_URL: servers.databaseUrl,
          PAYMENT_GATEWAY_URL: harness.gatewayUrl,
          PAYMENT_VAULT_KEYS: testVaultKeys,
          SMTP_PORT: String(harness.sink.smtpPort),
          KAFKA_TOPIC_PREFIX: harness.prefix,
          REVIEW_SWEEP_INTERVAL_MS: '0',
          // The restarted member waits for the killed one's session to expire before it gets its partitions.
          CONSUMER_SESSION_TIMEOUT_MS: '8000',
          ...(failpoint ? { ORDER_SAGA_FAILPOINT: failpoint } : {}),
        },
        'choreography started',
      );
      children.push(started.child);
      return started;
    };

    it.each<[string, FailpointName]>([
      ['the relay killed between publish and mark-sent', 'relay-after-publish-before-mark'],
      ['a consumer killed after applying an event and before committing its offset', 'consumer-after-apply'],
    ])(
      'loses and doubles nothing with %s',
      async (_what, failpoint) => {
        await harness.pool.query("update inventory.catalog set stock = 1000 where sku = 'MN-003'");
        const orders = [smallOrder(), smallOrder(), smallOrder()];
        const crashing = startProcess(failpoint);
        await crashing.ready;
        await Promise.all(orders.map((o) => placeChoreographedOrder(harness.pool, o, `corr-${o.orderId}`)));
        expect(await crashing.exited).toBe('SIGKILL');

        const restarted = startProcess();
        await restarted.ready;
        await eventually('all orders confirmed and emailed', async () => {
          const statuses = await Promise.all(orders.map((o) => orderStatusOf(harness, o.orderId)));
          return statuses.every((s) => s?.status === 'confirmed') && orders.every((o) => harness.sink.messages.some((m) => m.orderId === o.orderId));
        });
        await eventually(
          'the outbox to drain',
          async () =>
            (await harness.pool.query("select 1 from messaging.outbox where sent_at is null and payload->>'orderId' = any($1)", [orders.map((o) => o.orderId)]))
              .rowCount === 0,
        );
        await sleep(1000);
        restarted.child.kill('SIGTERM');
        expect(await restarted.exited).toBe(0);

        const events = await readAllEvents(harness.kafka, harness.prefix);
        for (const order of orders) {
          expect(harness.ledger.charges.filter((c) => c.reference === order.orderId)).toHaveLength(1);
          expect(harness.sink.messages.filter((m) => m.orderId === order.orderId)).toHaveLength(1);
          expect(
            eventsOfOrder(events, order.orderId)
              .map((e) => e.type)
              .sort(),
          ).toEqual(['inventory.reserved', 'notification.sent', 'order.confirmed', 'order.placed', 'payment.completed']);
        }
        expect((await harness.pool.query<{ stock: number }>("select stock from inventory.catalog where sku = 'MN-003'")).rows[0]?.stock).toBe(
          1000 - orders.length,
        );
        const outbox = await harness.pool.query<{ n: string }>("select count(*) as n from messaging.outbox where payload->>'orderId' = any($1)", [
          orders.map((o) => o.orderId),
        ]);
        expect(Number(outbox.rows[0]?.n)).toBe(orders.length * 5);
        if (failpoint === 'relay-after-publish-before-mark') {
          // The first batch went out twice: duplicates on the topic, each applied once.
          expect(events.filter((e) => orders.some((o) => o.orderId === e.orderId)).length).toBeGreaterThan(orders.length * 5);
        }
      },
      120_000,
    );
  });
});

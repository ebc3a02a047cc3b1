/**
 * The backlog metrics against a running choreography: consumer lag rises while a group is down
 * and returns to zero when it is back, a poison message raises the DLQ depth by one, and a
 * stopped relay makes the outbox backlog age.
 */
import { randomUUID } from 'node:crypto';
import type { Admin } from 'kafkajs';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { placeChoreographedOrder } from '../../src/choreography/order-commands.ts';
import type { ChoreographyRuntime } from '../../src/choreography/runtime.ts';
import { deadLetterTopicOf } from '../../src/messaging/topics.ts';
import { outboxBacklog } from '../../src/messaging/outbox.ts';
import { registerKafkaBacklogMetrics, registerOutboxMetrics } from '../../src/observability/backlog-metrics.ts';
import { startChoreographyHarness, type ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { eventually, orderStatusOf } from './helpers/choreography-scenarios.ts';
import { metricValue } from './helpers/metrics.ts';
import '../setup/servers.ts';

describe('backlog metrics', () => {
  let harness: ChoreographyHarness;
  let runtime: ChoreographyRuntime;
  let admin: Admin;
  const registry = new Registry();
  const read = async (name: string, labels: Record<string, string> = {}) => metricValue(await registry.metrics(), name, labels);
  const order = () => ({
    orderId: randomUUID(),
    customerId: 'metrics',
    email: 'ada@example.com',
    items: [{ sku: 'KB-001', quantity: 1 }],
    paymentRef: 'tok_approve',
  });
  const group = (name: string) => `${harness.prefix}${name}`;

  beforeAll(async () => {
    harness = await startChoreographyHarness(inject('servers'));
    runtime = await harness.startInstance();
    admin = harness.kafka.admin();
    await admin.connect();
    const log = pino({ level: 'silent' });
    registerKafkaBacklogMetrics(registry, admin, runtime.consumers, log, deadLetterTopicOf);
    registerOutboxMetrics(registry, () => outboxBacklog(harness.pool), log);
  }, 120_000);

  afterAll(async () => {
    await admin?.disconnect();
    await harness?.close();
  });

  it('rises while a consumer group is down and returns to zero once it is back (kafka_consumer_lag)', async () => {
    await runtime.consumers.find((c) => c.groupId === group('payments'))!.stop();
    const orders = [order(), order(), order()];
    for (const o of orders) await placeChoreographedOrder(harness.pool, o, `corr-${o.orderId}`);
    // Each order's inventory.reserved waits for the stopped payments group.
    await eventually(
      'payments lag of 3',
      async () => (await read('kafka_consumer_lag', { group: group('payments'), topic: `${harness.prefix}inventory.reserved` })) === 3,
    );
    expect(await read('kafka_consumer_lag', { group: group('inventory') })).toBe(0);

    await harness.startInstance({ relays: 0 }); // a new member of every group, payments included
    await eventually('payments lag back to 0', async () => (await read('kafka_consumer_lag', { group: group('payments') })) === 0);
    for (const o of orders) await eventually(`order ${o.orderId} confirmed`, async () => (await orderStatusOf(harness, o.orderId))?.status === 'confirmed');
  });

  it('counts a poison message in the dead-letter topic of each group that read it (kafka_dlq_depth)', async () => {
    const before = await read('kafka_dlq_depth', { group: group('payments') });
    expect(before).toBe(0);
    const producer = harness.kafka.producer();
    await producer.connect();
    await producer.send({ topic: `${harness.prefix}inventory.reserved`, messages: [{ key: 'poison', value: 'this is not an event' }] });
    await producer.disconnect();
    await eventually('one dead letter for payments', async () => (await read('kafka_dlq_depth', { group: group('payments') })) === 1);
    expect(await read('kafka_dlq_depth', { group: group('inventory') })).toBe(0); // does not read inventory.reserved
  });

  it('shows a stopped relay as a growing outbox backlog, drained once a relay runs (outbox_oldest_unsent_age_seconds)', async () => {
    expect(await read('outbox_unsent_rows')).toBe(0);
    expect(await read('outbox_oldest_unsent_age_seconds')).toBe(0);
    await runtime.stopRelays();

    const stuck = order();
    await placeChoreographedOrder(harness.pool, stuck, `corr-${stuck.orderId}`);
    expect(await read('outbox_unsent_rows')).toBe(1);
    const firstAge = (await read('outbox_oldest_unsent_age_seconds'))!;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await read('outbox_oldest_unsent_age_seconds')).toBeGreaterThan(firstAge + 1);

    await harness.startInstance({ relays: 1 });
    await eventually('the outbox drained', async () => (await read('outbox_unsent_rows')) === 0);
    expect(await read('outbox_oldest_unsent_age_seconds')).toBe(0);
    await eventually('the stuck order confirmed', async () => (await orderStatusOf(harness, stuck.orderId))?.status === 'confirmed');
  });
});

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { projectRoot } from '../../infra/stack/paths.ts';
import { cancelOrder, placeChoreographedOrder } from '../../src/choreography/order-commands.ts';
import { registerStalledOrderMetrics } from '../../src/choreography/stalled-orders.ts';
import { findStalledOrders } from '../../src/contexts/orders/stalled-orders.ts';
import type { OrderRequest } from '../../src/domain/order.ts';
import { startChoreographyHarness, type ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { eventually, orderStatusOf } from './helpers/choreography-scenarios.ts';
import '../setup/servers.ts';

const run = promisify(execFile);

describe('operating the choreographed flow when a step is dead-lettered', () => {
  let harness: ChoreographyHarness;
  /** Orders the inventory group cannot reserve, as a defect in its handler would (until "fixed"). */
  const defective = new Set<string>();

  /** `npm run messaging -- <args>` against the harness's topics, as an operator runs it. */
  const messagingCli = async (...args: string[]) => {
    const servers = inject('servers');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/choreography-operations/messaging-cli.ts', ...args], {
      cwd: projectRoot,
      env: { ...process.env, KAFKA_BROKERS: servers.kafkaBrokers.join(','), DATABASE_URL: servers.databaseUrl, KAFKA_TOPIC_PREFIX: harness.prefix },
    });
    return stdout.trim().split('\n').filter(Boolean);
  };

  beforeAll(async () => {
    harness = await startChoreographyHarness(inject('servers'), {
      // The defect fails the same way however long it is retried: dead-letter it after a second.
      retryWindowMs: 1000,
      adjustServices: (services) => {
        const reserve = services.inventory.handlers['order.placed']!;
        services.inventory.handlers['order.placed'] = (event, ctx) => {
          if (defective.has(event.orderId)) return Promise.reject(new Error('simulated defect in the inventory handler'));
          return reserve(event, ctx);
        };
        return services;
      },
    });
    await harness.startInstance();
  }, 60_000);

  afterAll(async () => {
    await harness?.close();
  });

  /** Places an order whose reservation is dead-lettered, and waits until the operator can see it. */
  const placeStrandedOrder = async (): Promise<{ order: OrderRequest; letterId: string }> => {
    const order: OrderRequest = {
      orderId: randomUUID(),
      customerId: 'operations',
      email: 'ada@example.com',
      items: [{ sku: 'MS-002', quantity: 1 }],
      paymentRef: 'tok_approve',
    };
    defective.add(order.orderId);
    await placeChoreographedOrder(harness.pool, order, `corr-${order.orderId}`);
    let letterId = '';
    await eventually('the reservation to be dead-lettered', async () => {
      const letters = (await messagingCli('dlq-list', 'inventory')).map((line) => JSON.parse(line) as { id: string; key: string; error: string });
      letterId = letters.find((l) => l.key === order.orderId)?.id ?? '';
      return letterId !== '';
    });
    expect(await orderStatusOf(harness, order.orderId)).toEqual({ status: 'pending', reason: null });
    // What ChoreographedOrderStalled watches (the gauge covers this order: at least its age; the
    // shared database may hold older ones of other tests), and the operator's list of the orders.
    const stalled = (await findStalledOrders(harness.pool, 0)).find((o) => o.orderId === order.orderId);
    expect(stalled).toMatchObject({ status: 'pending', cancelRequested: false });
    const registry = new Registry();
    registerStalledOrderMetrics(registry, harness.pool, pino({ level: 'silent' }));
    const [gauge] = (await registry.getMetricsAsJSON()).filter((m) => m.name === 'choreography_open_order_oldest_change_age_seconds');
    expect(gauge?.values[0]?.value).toBeGreaterThanOrEqual((Date.now() - stalled!.lastChangeAt.getTime()) / 1000 - 1);
    expect((await messagingCli('stalled', '--minutes', '0')).map((line) => (JSON.parse(line) as { orderId: string }).orderId)).toContain(order.orderId);
    return { order, letterId };
  };

  const stockOf = async (sku: string) =>
    (await harness.pool.query<{ stock: number }>('select stock from inventory.catalog where sku = $1', [sku])).rows[0]!.stock;

  it('replaying the dead letter after the fix brings the order to its normal end', async () => {
    const { order, letterId } = await placeStrandedOrder();
    defective.delete(order.orderId); // the fix is deployed
    expect(await messagingCli('dlq-replay', 'inventory', letterId)).toEqual([`replayed 1 of 1: ${letterId}`]);

    await eventually(
      'the order to be confirmed and emailed',
      async () => (await orderStatusOf(harness, order.orderId))?.status === 'confirmed' && harness.sink.messages.some((m) => m.orderId === order.orderId),
    );
    expect(harness.ledger.charges.filter((c) => c.reference === order.orderId)).toHaveLength(1);
    expect(harness.sink.messages.filter((m) => m.orderId === order.orderId).map((m) => m.subject)).toEqual([`Order ${order.orderId} confirmed`]);
    expect((await findStalledOrders(harness.pool, 0)).map((o) => o.orderId)).not.toContain(order.orderId);
  });

  it('cancelling the stranded order puts its stock back and ends it cancelled, with nothing charged', async () => {
    const stockBefore = await stockOf('MS-002');
    const { order } = await placeStrandedOrder();
    await cancelOrder(harness.pool, order.orderId);

    await eventually(
      'the order to be cancelled and emailed',
      async () => (await orderStatusOf(harness, order.orderId))?.status === 'cancelled' && harness.sink.messages.some((m) => m.orderId === order.orderId),
    );
    expect(await orderStatusOf(harness, order.orderId)).toEqual({ status: 'cancelled', reason: 'customer_cancelled' });
    expect(harness.ledger.charges.filter((c) => c.reference === order.orderId)).toHaveLength(0);
    expect(harness.sink.messages.filter((m) => m.orderId === order.orderId).map((m) => m.subject)).toEqual([`Order ${order.orderId} cancelled`]);
    // Released before anything was reserved: a late replay of the dead letter cannot take stock.
    expect((await harness.pool.query('select status from inventory.reservations where order_id = $1', [order.orderId])).rows).toEqual([{ status: 'released' }]);
    expect(await stockOf('MS-002')).toBe(stockBefore);
    expect((await findStalledOrders(harness.pool, 0)).map((o) => o.orderId)).not.toContain(order.orderId);
  });

  it('a dead-letter command naming no consumer group of the flow says which group is unknown and which there are', async () => {
    const servers = inject('servers');
    const failed = await run(process.execPath, ['--import', 'tsx', 'src/cli/choreography-operations/messaging-cli.ts', 'dlq-list', 'shipping'], {
      cwd: projectRoot,
      env: { ...process.env, KAFKA_BROKERS: servers.kafkaBrokers.join(','), DATABASE_URL: servers.databaseUrl },
    }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain('unknown consumer group "shipping": it is one of orders, inventory, payments, notifications');
  });
});

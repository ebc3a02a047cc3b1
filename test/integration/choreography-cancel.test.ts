import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cancelOrder, placeChoreographedOrder } from '../../src/choreography/order-commands.ts';
import { OrderStateConflictError } from '../../src/domain/errors.ts';
import type { OrderRequest } from '../../src/domain/order.ts';
import { listDeadLetters } from '../../src/messaging/dead-letters.ts';
import { startChoreographyHarness, type ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { eventually, orderStatusOf } from './helpers/choreography-scenarios.ts';
import { eventsOfOrder, readAllEvents } from './helpers/event-log.ts';
import '../setup/servers.ts';

describe('choreographed cancel racing a slow charge', () => {
  let harness: ChoreographyHarness;
  /** Orders the gateway captured while the orders context already showed them cancelled. */
  const capturedAfterCancelled: string[] = [];

  beforeAll(async () => {
    harness = await startChoreographyHarness(inject('servers'), {
      gateway: {
        onCapture: async (charge) => {
          if ((await orderStatusOf(harness, charge.reference))?.status === 'cancelled') capturedAfterCancelled.push(charge.reference);
        },
      },
    });
    await harness.startInstance();
  }, 60_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('reports an order cancelled only once its payment is settled, and charges nothing after payments acknowledged the cancel', async () => {
    // The report of issue 12: a card that takes 1.5 s to capture, and a cancel 0-2 s after placing.
    const orders: OrderRequest[] = Array.from({ length: 11 }, () => ({
      orderId: randomUUID(),
      customerId: 'cancel-race',
      email: 'ada@example.com',
      items: [{ sku: 'KB-001', quantity: 1 }],
      paymentRef: 'tok_slow_1500',
    }));
    await Promise.all(
      orders.map(async (order, i) => {
        await placeChoreographedOrder(harness.pool, order, `corr-${order.orderId}`);
        // The delay is the scenario (when the customer clicks cancel), not a wait for a result.
        await sleep(i * 200);
        await cancelOrder(harness.pool, order.orderId).catch((err: unknown) => {
          if (!(err instanceof OrderStateConflictError)) throw err; // confirmed first: too late to cancel
        });
      }),
    );
    const ids = orders.map((o) => o.orderId);
    await eventually(
      'every order to end and its customer to be emailed',
      async () => {
        const statuses = await Promise.all(ids.map((id) => orderStatusOf(harness, id)));
        return (
          statuses.every((s) => s?.status === 'confirmed' || s?.status === 'cancelled') &&
          ids.every((id) => harness.sink.messages.some((m) => m.orderId === id))
        );
      },
      90_000,
    );
    // Let a late capture (the defect: about 5 s after the cancel) show up if there is one.
    await eventually(
      'the gateway to have answered every charge',
      async () => (await harness.pool.query("select 1 from payments.payments where status = 'charging' and order_id = any($1)", [ids])).rowCount === 0,
    );

    const events = await readAllEvents(harness.kafka, harness.prefix);
    const cancelled: string[] = [];
    for (const id of ids) {
      const status = (await orderStatusOf(harness, id))!;
      const charges = harness.ledger.charges.filter((c) => c.reference === id).length;
      const refunds = harness.ledger.refunds.filter((r) => r.reference === id).length;
      const types = eventsOfOrder(events, id).map((e) => e.type);
      if (status.status === 'confirmed') {
        expect({ id, charges, refunds }).toEqual({ id, charges: 1, refunds: 0 });
        continue;
      }
      cancelled.push(id);
      expect({ id, reason: status.reason, refundedEveryCapture: charges === refunds }).toEqual({
        id,
        reason: 'customer_cancelled',
        refundedEveryCapture: true,
      });
      // The cancel was answered before the order ended: refunded, or nothing charged (then never charged).
      const settledAt = types.findIndex((t) => t === 'payment.refunded' || t === 'payment.voided');
      expect({ id, settled: settledAt >= 0, beforeCancelled: settledAt < types.indexOf('order.cancelled') }).toEqual({
        id,
        settled: true,
        beforeCancelled: true,
      });
      if (types.includes('payment.voided')) expect({ id, charges }).toEqual({ id, charges: 0 });
      expect(harness.sink.messages.filter((m) => m.orderId === id).map((m) => m.subject)).toEqual([`Order ${id} cancelled`]);
    }
    expect(cancelled.length).toBeGreaterThan(0);
    expect(capturedAfterCancelled).toEqual([]);
    for (const group of ['orders', 'inventory', 'payments', 'notifications']) {
      expect({ group, letters: (await listDeadLetters(harness.kafka, `${harness.prefix}${group}`)).length }).toEqual({ group, letters: 0 });
    }
  }, 120_000);
});

import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { releaseStock, reserveStock, stockOf } from '../../src/contexts/inventory/inventory-store.ts';
import { sendNotification } from '../../src/contexts/notifications/notifier.ts';
import { createOrder, statusHistory, transitionOrder } from '../../src/contexts/orders/order-store.ts';
import { createHttpPaymentGateway } from '../../src/contexts/payments/gateway-client.ts';
import { chargePayment, refundPayment } from '../../src/contexts/payments/payment-store.ts';
import { OrderConflictError, OutOfStockError, PaymentDeclinedError, PaymentGatewayUnavailableError, UnknownSkuError } from '../../src/domain/errors.ts';
import { buildGatewayApp } from '../../src/gateway/gateway-app.ts';
import type { GatewayLedger } from '../../src/gateway/ledger.ts';
import { createPool } from '../../src/platform/database.ts';
import { migrateAll } from '../../src/platform/migrations.ts';
import '../setup/servers.ts';

// Every context operation is idempotent by a key, enforced by the database: these run each one
// twice (or concurrently) against real PostgreSQL and check that the effect happened once.
describe('context operations', () => {
  let pool: pg.Pool;

  beforeAll(async () => {
    await migrateAll(inject('servers').databaseUrl);
    await migrateAll(inject('servers').databaseUrl); // a second run applies nothing
    pool = createPool(inject('servers').databaseUrl, 8);
  });

  afterAll(async () => {
    await pool?.end();
  });

  const restock = async (sku: string, stock: number) => {
    await pool.query('update inventory.catalog set stock = $2 where sku = $1', [sku, stock]);
  };

  describe('orders', () => {
    const request = () => ({
      orderId: randomUUID(),
      customerId: 'c-1',
      email: 'ada@example.com',
      items: [{ sku: 'KB-001', quantity: 1 }],
      paymentRef: 'tok_approve',
    });

    it('creating the same order twice creates it once; the same id with other contents is a conflict', async () => {
      const order = request();
      expect((await createOrder(pool, order, 'orchestrated')).created).toBe(true);
      expect((await createOrder(pool, order, 'orchestrated')).created).toBe(false);
      await expect(createOrder(pool, { ...order, items: [{ sku: 'KB-001', quantity: 9 }] }, 'orchestrated')).rejects.toBeInstanceOf(OrderConflictError);
    });

    it('applies each transition once, refuses the ones the state machine forbids, and keeps the history', async () => {
      const order = request();
      await createOrder(pool, order, 'choreographed');
      expect((await transitionOrder(pool, order.orderId, 'reserved')).applied).toBe(true);
      expect(await transitionOrder(pool, order.orderId, 'reserved')).toMatchObject({ applied: false, why: 'already' });
      expect(await transitionOrder(pool, order.orderId, 'confirmed')).toMatchObject({ applied: false, why: 'not_allowed', order: { status: 'reserved' } });
      await transitionOrder(pool, order.orderId, 'cancelled', { reason: 'customer_cancelled' });
      expect(await transitionOrder(pool, order.orderId, 'paid')).toMatchObject({
        applied: false,
        why: 'not_allowed',
        order: { status: 'cancelled', reason: 'customer_cancelled' },
      });
      expect(await statusHistory(pool, order.orderId)).toEqual(['pending', 'reserved', 'cancelled']);
    });

    it('applies a transition once when two callers race for it, and only one of two final states', async () => {
      const order = request();
      await createOrder(pool, order, 'choreographed');
      await transitionOrder(pool, order.orderId, 'reserved');
      const same = await Promise.all([transitionOrder(pool, order.orderId, 'paid'), transitionOrder(pool, order.orderId, 'paid')]);
      expect(same.map((o) => o.applied).sort()).toEqual([false, true]);
      // From paid, confirmed and cancelled exclude each other: whichever comes second is refused.
      const final = await Promise.all([
        transitionOrder(pool, order.orderId, 'confirmed'),
        transitionOrder(pool, order.orderId, 'cancelled', { reason: 'customer_cancelled' }),
      ]);
      expect(final.filter((o) => o.applied)).toHaveLength(1);
      expect(await statusHistory(pool, order.orderId)).toHaveLength(4);
    });
  });

  describe('inventory', () => {
    it('reserving twice reserves once, at catalog prices', async () => {
      await restock('MN-003', 10);
      const orderId = randomUUID();
      const first = await reserveStock(pool, orderId, [{ sku: 'MN-003', quantity: 3 }]);
      const second = await reserveStock(pool, orderId, [{ sku: 'MN-003', quantity: 3 }]);
      expect(second).toEqual(first);
      expect(first.total).toEqual({ amountCents: 3 * 32900, currency: 'USD' });
      expect(await stockOf(pool, 'MN-003')).toBe(7);
    });

    it('concurrent reserves of the same order take the stock once', async () => {
      await restock('MN-003', 10);
      const orderId = randomUUID();
      await Promise.all(Array.from({ length: 5 }, () => reserveStock(pool, orderId, [{ sku: 'MN-003', quantity: 2 }])));
      expect(await stockOf(pool, 'MN-003')).toBe(8);
    });

    it('never oversells when orders race for the last units', async () => {
      await restock('CB-005', 3);
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => reserveStock(pool, randomUUID(), [{ sku: 'CB-005', quantity: 1 }])));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
      const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      expect(refused).toHaveLength(3);
      for (const reason of refused) expect(reason).toBeInstanceOf(OutOfStockError);
      expect(await stockOf(pool, 'CB-005')).toBe(0);
    });

    it('refuses unknown SKUs and too large quantities without reserving anything', async () => {
      await restock('MN-003', 10);
      await expect(reserveStock(pool, randomUUID(), [{ sku: 'NOPE-1', quantity: 1 }])).rejects.toBeInstanceOf(UnknownSkuError);
      await expect(
        reserveStock(pool, randomUUID(), [
          { sku: 'MN-003', quantity: 4 },
          { sku: 'MN-003', quantity: 7 },
        ]),
      ).rejects.toMatchObject({ code: 'OUT_OF_STOCK', requested: 11, available: 10 });
      expect(await stockOf(pool, 'MN-003')).toBe(10);
    });

    it('releasing twice puts the stock back once; releasing what was never reserved is a no-op that blocks a late reserve', async () => {
      await restock('MN-003', 10);
      const orderId = randomUUID();
      await reserveStock(pool, orderId, [{ sku: 'MN-003', quantity: 4 }]);
      expect((await releaseStock(pool, orderId)).releasedNow).toBe(true);
      expect((await releaseStock(pool, orderId)).releasedNow).toBe(false);
      expect(await stockOf(pool, 'MN-003')).toBe(10);

      const never = randomUUID();
      expect(await releaseStock(pool, never)).toEqual({ releasedNow: false, tombstonedNow: true, reservation: null });
      expect(await releaseStock(pool, never)).toEqual({ releasedNow: false, tombstonedNow: false, reservation: null });
      expect(await reserveStock(pool, never, [{ sku: 'MN-003', quantity: 1 }])).toMatchObject({ status: 'released' });
      expect(await stockOf(pool, 'MN-003')).toBe(10);
    });
  });

  describe('payments, through the gateway simulator over HTTP', () => {
    let ledger: GatewayLedger;
    let close: () => Promise<void>;
    let gateway: ReturnType<typeof createHttpPaymentGateway>;
    const amount = { amountCents: 12_300, currency: 'USD' };

    beforeAll(async () => {
      const built = buildGatewayApp();
      ledger = built.ledger;
      const url = await built.app.listen({ port: 0, host: '127.0.0.1' });
      close = () => built.app.close();
      gateway = createHttpPaymentGateway({ baseUrl: url, timeoutMs: 2000 });
    });

    afterAll(async () => {
      await close?.();
    });

    it('charging twice charges once', async () => {
      const orderId = randomUUID();
      const first = await chargePayment(pool, gateway, { orderId, amount, token: 'tok_approve' });
      const second = await chargePayment(pool, gateway, { orderId, amount, token: 'tok_approve' });
      expect(second).toEqual(first);
      expect(ledger.charges.filter((c) => c.reference === orderId)).toHaveLength(1);
    });

    it('a decline is final: recorded, and declined again without asking the processor', async () => {
      const orderId = randomUUID();
      await expect(chargePayment(pool, gateway, { orderId, amount, token: 'tok_decline' })).rejects.toBeInstanceOf(PaymentDeclinedError);
      await expect(chargePayment(pool, gateway, { orderId, amount, token: 'tok_approve' })).rejects.toBeInstanceOf(PaymentDeclinedError);
      expect(ledger.charges.filter((c) => c.reference === orderId)).toHaveLength(0);
    });

    it('a processor outage is retryable, and the retry under the same key captures once', async () => {
      const orderId = randomUUID();
      await expect(chargePayment(pool, gateway, { orderId, amount, token: 'tok_fail_2' })).rejects.toBeInstanceOf(PaymentGatewayUnavailableError);
      await expect(chargePayment(pool, gateway, { orderId, amount, token: 'tok_fail_2' })).rejects.toMatchObject({
        code: 'PAYMENT_GATEWAY_UNAVAILABLE',
        retryable: true,
      });
      await chargePayment(pool, gateway, { orderId, amount, token: 'tok_fail_2' });
      expect(ledger.charges.filter((c) => c.reference === orderId)).toHaveLength(1);
    });

    it('an unreachable processor is retryable', async () => {
      const offline = createHttpPaymentGateway({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 500 });
      await expect(chargePayment(pool, offline, { orderId: randomUUID(), amount, token: 'tok_approve' })).rejects.toBeInstanceOf(
        PaymentGatewayUnavailableError,
      );
    });

    it('refunding twice refunds once; refunding an order never charged is a no-op', async () => {
      const orderId = randomUUID();
      await chargePayment(pool, gateway, { orderId, amount, token: 'tok_approve' });
      expect((await refundPayment(pool, gateway, orderId)).refundedNow).toBe(true);
      expect((await refundPayment(pool, gateway, orderId)).refundedNow).toBe(false);
      expect(ledger.refunds.filter((r) => r.reference === orderId)).toHaveLength(1);
      expect(await refundPayment(pool, gateway, randomUUID())).toEqual({ refundedNow: false, refund: null });
    });

    it('refunds a capture our database never recorded (a crash between capture and insert)', async () => {
      const orderId = randomUUID();
      await gateway.charge({ orderId, amount, token: 'tok_approve' }); // captured, but no payments row
      const { refund } = await refundPayment(pool, gateway, orderId);
      expect(refund?.amount).toEqual(amount);
      expect(ledger.charges.find((c) => c.reference === orderId)?.status).toBe('refunded');
    });
  });

  describe('notifications', () => {
    it('sending twice sends one email with a stable Message-ID', async () => {
      const sent: { messageId?: string; to?: unknown }[] = [];
      const mailer = { sendMail: (mail: { messageId?: string; to?: unknown }) => Promise.resolve(sent.push(mail)) };
      const orderId = randomUUID();
      const request = { orderId, template: 'order_confirmed' as const, to: 'ada@example.com', data: { orderId } };
      const first = await sendNotification(pool, mailer as never, request);
      const second = await sendNotification(pool, mailer as never, request);
      expect(first).toEqual({ sentNow: true, messageId: `<order_confirmed.${orderId}@order-saga.local>` });
      expect(second).toEqual({ sentNow: false, messageId: first.messageId });
      expect(sent).toHaveLength(1);
    });
  });
});

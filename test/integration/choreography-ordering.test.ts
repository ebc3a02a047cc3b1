/**
 * Events of different topics carry no order between them: the orders group may see an order's
 * payment.completed before its inventory.reserved (found by the benchmark: the order stayed
 * `reserved` forever). Both arrival orders must confirm the order exactly once.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { placeOrder } from '../../src/choreography/order-commands.ts';
import { createChoreographyServices } from '../../src/choreography/services.ts';
import { createHttpPaymentGateway } from '../../src/contexts/payments/gateway-client.ts';
import type { EventData, EventEnvelope, EventType } from '../../src/domain/events.ts';
import type { HandlerContext } from '../../src/messaging/consumer-runner.ts';
import { createEnvelope } from '../../src/messaging/envelope.ts';
import { createPool, withTransaction } from '../../src/platform/database.ts';
import { migrateAll } from '../../src/platform/migrations.ts';
import '../setup/servers.ts';

describe('orders group, events of two topics in either order', () => {
  const servers = inject('servers');
  let pool: ReturnType<typeof createPool>;
  const orders = createChoreographyServices({ gateway: createHttpPaymentGateway({ baseUrl: 'http://127.0.0.1:9' }), mailer: { sendMail: () => Promise.reject(new Error('unused')) } }).orders;

  beforeAll(async () => {
    await migrateAll(servers.databaseUrl);
    pool = createPool(servers.databaseUrl, 2);
  });
  afterAll(async () => pool?.end());

  const total = { amountCents: 8900, currency: 'USD' };
  const event = <T extends EventType>(orderId: string, type: T, data: EventData<T>): EventEnvelope =>
    createEnvelope({ eventId: randomUUID(), type, orderId, correlationId: 'ordering', causationId: null, producer: 'test', flow: 'choreographed', data });

  /** Applies one event with the orders group's handler in a transaction; returns the types it emitted. */
  async function deliver(envelope: EventEnvelope): Promise<string[]> {
    const emitted: string[] = [];
    await withTransaction(pool, async (tx) => {
      const ctx: HandlerContext = { tx, log: pino({ level: 'silent' }), emit: (type) => void emitted.push(type) };
      await orders.handlers[envelope.type]!(envelope, ctx);
    });
    return emitted;
  }

  const statusOf = async (orderId: string) => (await pool.query<{ status: string }>('select status from orders.orders where order_id = $1', [orderId])).rows[0]!.status;

  it.each([
    ['reservation first', ['inventory.reserved', 'payment.completed']],
    ['payment first', ['payment.completed', 'inventory.reserved']],
  ] as const)('confirms the order once, %s', async (_name, arrival) => {
    const orderId = randomUUID();
    await placeOrder(pool, { orderId, customerId: 'ordering', email: 'ada@example.com', items: [{ sku: 'KB-001', quantity: 1 }], paymentToken: 'tok_approve' }, 'ordering');
    const events = {
      'inventory.reserved': event(orderId, 'inventory.reserved', { lines: [{ sku: 'KB-001', quantity: 1, unitPriceCents: 8900, lineTotalCents: 8900 }], total }),
      'payment.completed': event(orderId, 'payment.completed', { amount: total, chargeId: 'ch_1' }),
    };
    const emitted: string[] = [];
    for (const type of arrival) emitted.push(...(await deliver(events[type])));
    expect(await statusOf(orderId)).toBe('confirmed');
    expect(emitted).toEqual(['order.confirmed']);
  });
});

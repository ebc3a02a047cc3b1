import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { placeChoreographedOrder } from '../../src/choreography/order-commands.ts';
import { choreographySubscriptions } from '../../src/choreography/services.ts';
import { createEnvelope } from '../../src/messaging/envelope.ts';
import { listDeadLetters } from '../../src/messaging/dead-letters.ts';
import { topicOf } from '../../src/messaging/topics.ts';
import type { OrderRequest } from '../../src/domain/order.ts';
import { schemaHeaders } from './helpers/contracts.ts';
import { startChoreographyHarness, type ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { eventually, orderStatusOf } from './helpers/choreography-scenarios.ts';
import { eventsOfOrder, readAllEvents } from './helpers/event-log.ts';
import { startOwnPostgres, type OwnPostgres } from './helpers/own-postgres.ts';
import '../setup/servers.ts';

const groups = Object.keys(choreographySubscriptions);
// KB-001: a SKU no other test restocks (the contexts test empties CB-005 on the shared database).
const smallOrder = (customerId: string): OrderRequest => ({
  orderId: randomUUID(),
  customerId,
  email: 'ada@example.com',
  items: [{ sku: 'KB-001', quantity: 1 }],
  paymentRef: 'tok_approve',
});

/** Dead letters of every group of the harness. */
async function deadLetters(harness: ChoreographyHarness) {
  return (await Promise.all(groups.map((g) => listDeadLetters(harness.kafka, `${harness.prefix}${g}`)))).flat();
}

describe('choreographed flow and database failures', () => {
  describe('on the shared database', () => {
    let harness: ChoreographyHarness;

    beforeAll(async () => {
      harness = await startChoreographyHarness(inject('servers'));
      await harness.startInstance();
    }, 60_000);

    afterAll(async () => {
      await harness?.close();
    });

    it('bounds every connection of the pool: statement and idle-in-transaction timeouts reach the server', async () => {
      const client = await harness.pool.connect();
      try {
        const { rows } = await client.query<{ statement: string; idle: string }>(
          "select current_setting('statement_timeout') as statement, current_setting('idle_in_transaction_session_timeout') as idle",
        );
        expect(rows).toEqual([{ statement: '30s', idle: '15s' }]);
      } finally {
        client.release();
      }
    });

    it('dead-letters at once an event whose data the database refuses, and goes on with the next message of the partition', async () => {
      const order = smallOrder('data-rejected');
      // PostgreSQL refuses a NUL in a text value (SQLSTATE 22021): the notifications group cannot
      // store this recipient, however often it tries. Keyed like the order that follows, so it
      // sits just ahead of it in the same partition.
      const poison = createEnvelope({
        eventId: randomUUID(),
        type: 'order.placed',
        orderId: randomUUID(),
        correlationId: 'poison',
        causationId: null,
        producer: 'test',
        flow: 'choreographed',
        data: { customerId: 'data-rejected', email: 'ada\u0000@example.com', items: [{ sku: 'KB-001', quantity: 1 }] },
      });
      const producer = harness.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      await producer.send({
        topic: topicOf('order.placed', harness.prefix),
        acks: -1,
        messages: [{ key: order.orderId, value: JSON.stringify(poison), headers: schemaHeaders(harness.contracts, poison) }],
      });
      await producer.disconnect();
      await placeChoreographedOrder(harness.pool, order, `corr-${order.orderId}`);

      await eventually(
        'the order behind the refused event to be confirmed and emailed',
        async () => (await orderStatusOf(harness, order.orderId))?.status === 'confirmed' && harness.sink.messages.some((m) => m.orderId === order.orderId),
      );
      const letters = (await listDeadLetters(harness.kafka, `${harness.prefix}notifications`)).filter((l) => l.key === order.orderId);
      expect(letters).toHaveLength(1);
      expect(letters[0]).toMatchObject({ attempts: 1, originalTopic: topicOf('order.placed', harness.prefix) });
      expect(letters[0]!.error).toMatch(/^DataRejectedError: the database rejected the data: .*0x00/);
    });
  });

  describe('on a PostgreSQL of its own that is stopped and started again', () => {
    let database: OwnPostgres;
    let harness: ChoreographyHarness;

    beforeAll(async () => {
      database = await startOwnPostgres('order_saga_restart');
      harness = await startChoreographyHarness({ ...inject('servers'), databaseUrl: database.url });
      await harness.startInstance();
    }, 180_000);

    afterAll(async () => {
      await harness?.close();
      await database?.close();
    });

    it('waits through the outage without dead-lettering, then ends every order with each effect applied once', async () => {
      const orders = Array.from({ length: 12 }, () => smallOrder('database-restart'));
      await Promise.all(orders.map((o) => placeChoreographedOrder(harness.pool, o, `corr-${o.orderId}`)));
      // Fast shutdown while the burst is in flight; 8 s away, as in the report of issue 12.
      await database.stop();
      await sleep(8000);
      await database.start();

      const ids = orders.map((o) => o.orderId);
      await eventually(
        'every order to be confirmed and emailed',
        async () => {
          const statuses = await Promise.all(ids.map((id) => orderStatusOf(harness, id)));
          return statuses.every((s) => s?.status === 'confirmed') && ids.every((id) => harness.sink.messages.some((m) => m.orderId === id));
        },
        120_000,
      );
      await eventually(
        'the outbox to drain',
        async () => (await harness.pool.query("select 1 from messaging.outbox where sent_at is null and payload->>'orderId' = any($1)", [ids])).rowCount === 0,
      );

      expect(await deadLetters(harness)).toEqual([]);
      const events = await readAllEvents(harness.kafka, harness.prefix);
      for (const id of ids) {
        expect({
          id,
          charges: harness.ledger.charges.filter((c) => c.reference === id).length,
          emails: harness.sink.messages.filter((m) => m.orderId === id).length,
          types: eventsOfOrder(events, id)
            .map((e) => e.type)
            .sort(),
        }).toEqual({ id, charges: 1, emails: 1, types: ['inventory.reserved', 'notification.sent', 'order.confirmed', 'order.placed', 'payment.completed'] });
      }
      const stock = await harness.pool.query<{ n: string }>(
        "select count(*) as n from inventory.reservations where status = 'reserved' and order_id = any($1)",
        [ids],
      );
      expect(stock.rows[0]?.n).toBe(String(ids.length));
    }, 240_000);
  });
});

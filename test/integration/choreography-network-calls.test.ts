import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { placeChoreographedOrder } from '../../src/choreography/order-commands.ts';
import type { OrderRequest } from '../../src/domain/order.ts';
import type { NetworkStep } from '../../src/messaging/consumer-runner.ts';
import { startChoreographyHarness, type ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { eventually, orderStatusOf } from './helpers/choreography-scenarios.ts';
import { eventsOfOrder, readAllEvents } from './helpers/event-log.ts';
import '../setup/servers.ts';

const order = (paymentRef: string): OrderRequest => ({
  orderId: randomUUID(),
  customerId: 'network-calls',
  email: 'ada@example.com',
  items: [{ sku: 'KB-001', quantity: 1 }],
  paymentRef,
});

describe('choreography handlers calling the gateway', () => {
  let harness: ChoreographyHarness;
  /** Per order: whether the payments group's transaction lock was held while the gateway captured. */
  const lockHeldDuringCapture = new Map<string, boolean>();
  /** Orders whose first gateway answer is lost, as if the process died before recording it. */
  const loseFirstAnswer = new Set<string>();
  const gatewayCalls = new Map<string, number>();
  /** Per order: whether the notifications group's lock was held when its email went to SMTP. */
  const lockHeldDuringEmail = new Map<string, boolean>();
  const groupLockHeld = async (group: string, orderId: string) => {
    const { rowCount } = await harness.pool.query(
      "select 1 from pg_locks where locktype = 'advisory' and objsubid = 2 and classid::int8 = (hashtext($1)::int8 & 4294967295) and objid::int8 = (hashtext($2)::int8 & 4294967295)",
      [`${harness.prefix}${group}`, orderId],
    );
    return (rowCount ?? 0) > 0;
  };

  beforeAll(async () => {
    harness = await startChoreographyHarness(inject('servers'), {
      gateway: {
        onCapture: async (charge) => {
          lockHeldDuringCapture.set(charge.reference, await groupLockHeld('payments', charge.reference));
        },
      },
      adjustServices: (services) => {
        const charge = services.payments.handlers['inventory.reserved']!;
        services.payments.handlers['inventory.reserved'] = async (event, ctx) => {
          const step = await charge(event, ctx);
          if (!step) return step;
          return {
            call: async () => {
              gatewayCalls.set(event.orderId, (gatewayCalls.get(event.orderId) ?? 0) + 1);
              const answer = await step.call();
              if (loseFirstAnswer.delete(event.orderId)) throw new Error('process died after the gateway answered');
              return answer;
            },
            record: (answer, ctx2) => step.record(answer, ctx2),
          };
        };
        // Either event may be the one that sends (whichever of the two the group sees last).
        const watchEmail = (orderId: string, step: NetworkStep | void): NetworkStep | void =>
          step && {
            call: async () => {
              lockHeldDuringEmail.set(orderId, await groupLockHeld('notifications', orderId));
              return step.call();
            },
            record: (sent, ctx2) => step.record(sent, ctx2),
          };
        const { 'order.placed': placed, 'order.confirmed': confirmed } = services.notifications.handlers;
        services.notifications.handlers['order.placed'] = async (event, ctx) => watchEmail(event.orderId, await placed!(event, ctx));
        services.notifications.handlers['order.confirmed'] = async (event, ctx) => watchEmail(event.orderId, await confirmed!(event, ctx));
        return services;
      },
    });
    await harness.startInstance();
  }, 60_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('holds no transaction, nor the per-order lock, while the gateway captures or the email goes to SMTP', async () => {
    const slow = order('tok_slow_500');
    await placeChoreographedOrder(harness.pool, slow, `corr-${slow.orderId}`);
    await eventually(
      'the order to be confirmed and emailed',
      async () => (await orderStatusOf(harness, slow.orderId))?.status === 'confirmed' && harness.sink.messages.some((m) => m.orderId === slow.orderId),
    );
    expect(lockHeldDuringCapture.get(slow.orderId)).toBe(false);
    expect(lockHeldDuringEmail.get(slow.orderId)).toBe(false);
  });

  it('recovers a charge whose answer was lost: the same event calls again with the same key and records the one capture', async () => {
    const lost = order('tok_approve');
    loseFirstAnswer.add(lost.orderId);
    await placeChoreographedOrder(harness.pool, lost, `corr-${lost.orderId}`);
    await eventually('the order to be confirmed', async () => (await orderStatusOf(harness, lost.orderId))?.status === 'confirmed');

    expect(gatewayCalls.get(lost.orderId)).toBe(2);
    const charges = harness.ledger.charges.filter((c) => c.reference === lost.orderId);
    expect(charges).toHaveLength(1);
    const completed = eventsOfOrder(await readAllEvents(harness.kafka, harness.prefix), lost.orderId).filter((e) => e.type === 'payment.completed');
    expect(completed.map((e) => (e.data as { chargeId: string }).chargeId)).toEqual([charges[0]!.id]);
    const { rows } = await harness.pool.query('select status, charge_id from payments.payments where order_id = $1', [lost.orderId]);
    expect(rows).toEqual([{ status: 'captured', charge_id: charges[0]!.id }]);
  });
});
